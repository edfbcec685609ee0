// Token buckets per 16-byte key (an IPv6 address, all 128 bits: no fold
// that two hosts could share), in a fixed open-addressing table: no
// allocation per packet, and bounded memory under a flood of spoofed
// sources (when the table is full it starts over, every key with a full
// bucket again; a global limit next to this one still holds then). And the
// limits on the ICMPv6 errors sixtun generates, built from them.
import { TokenBucket } from './token-bucket.js';
import { readI32 } from '../wire/ipv4.js';

const KEY_WORDS = 4;
/** ICMPv6 errors per second to one destination (burst the same). */
export const ERRORS_PER_DESTINATION = 20;
export const TOO_BIG_PER_DESTINATION = 100;

export class AddressLimiter {
  private readonly keys: Int32Array;
  private readonly used: Uint8Array;
  private readonly tokens: Float64Array;
  private readonly last: Float64Array;
  private readonly mask: number;
  private size = 0;

  /** capacity: keys held before the table starts over (the table is twice as large). */
  constructor(private readonly ratePerSecond: number, private readonly burst: number, private readonly capacity = 4096) {
    let slots = 1;
    while (slots < capacity * 2) slots <<= 1;
    this.mask = slots - 1;
    this.keys = new Int32Array(slots * KEY_WORDS);
    this.used = new Uint8Array(slots);
    this.tokens = new Float64Array(slots);
    this.last = new Float64Array(slots);
  }

  /** Takes a token for the 16-byte key at buf[off] at time now (ms). */
  take(buf: Uint8Array, off: number, now: number): boolean {
    const w0 = readI32(buf, off);
    const w1 = readI32(buf, off + 4);
    const w2 = readI32(buf, off + 8);
    const w3 = readI32(buf, off + 12);
    let h = Math.imul(w0 ^ 0x9e3779b9, 0x85ebca6b);
    h = Math.imul(h ^ w1 ^ (h >>> 13), 0xc2b2ae35);
    h = Math.imul(h ^ w2 ^ (h >>> 16), 0x85ebca6b);
    h = Math.imul(h ^ w3 ^ (h >>> 13), 0xc2b2ae35);
    h ^= h >>> 16;
    let i = h & this.mask;
    for (;;) {
      if (this.used[i] === 0) break;
      const k = i * KEY_WORDS;
      if (this.keys[k] === w0 && this.keys[k + 1] === w1 && this.keys[k + 2] === w2 && this.keys[k + 3] === w3) return this.spend(i, now);
      i = (i + 1) & this.mask;
    }
    if (this.size >= this.capacity) {
      this.used.fill(0);
      this.size = 0;
      i = h & this.mask;
    }
    const k = i * KEY_WORDS;
    this.keys[k] = w0;
    this.keys[k + 1] = w1;
    this.keys[k + 2] = w2;
    this.keys[k + 3] = w3;
    this.used[i] = 1;
    this.size++;
    this.tokens[i] = this.burst;
    this.last[i] = now;
    return this.spend(i, now);
  }

  private spend(i: number, now: number): boolean {
    if (now > this.last[i]) {
      const t = this.tokens[i] + ((now - this.last[i]) * this.ratePerSecond) / 1000;
      this.tokens[i] = t > this.burst ? this.burst : t;
      this.last[i] = now;
    }
    if (this.tokens[i] < 1) return false;
    this.tokens[i] -= 1;
    return true;
  }
}

/** Limits on the ICMPv6 errors sixtun generates (RFC 4443 §2.4 (f)): per
 * destination, and, except Packet Too Big (as the kernel's icmpv6_ratemask
 * exempts it), a budget shared by all: one heavy sender of packets that
 * earn errors cannot starve path MTU discovery for everyone else. */
export class ErrorLimits {
  readonly shared: TokenBucket;
  private readonly perDestination = new AddressLimiter(ERRORS_PER_DESTINATION, ERRORS_PER_DESTINATION);
  private readonly tooBigPerDestination = new AddressLimiter(TOO_BIG_PER_DESTINATION, TOO_BIG_PER_DESTINATION);

  constructor(sharedPerSecond: number) {
    this.shared = new TokenBucket(sharedPerSecond, Math.max(1, sharedPerSecond / 2));
  }

  /** Whether an error may go to the address at buf[dst] now. */
  allow(packetTooBig: boolean, buf: Uint8Array, dst: number, now: number): boolean {
    if (packetTooBig) return this.tooBigPerDestination.take(buf, dst, now);
    return this.perDestination.take(buf, dst, now) && this.shared.take(now);
  }
}
