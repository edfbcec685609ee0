// Longest-prefix match over IPv6 addresses held as four u32 words.
//
// One open-addressing hash table keyed by (masked address, length), in typed
// arrays and nothing else (24 bytes a slot, at most half full: a Map of
// entries beside it cost ~580 bytes a prefix); a lookup probes once per
// distinct prefix length present, longest first. Tunnel servers hold few
// distinct lengths (/128, /64, /56, /48), so a lookup is a handful of probes,
// independent of the number of prefixes, and allocates nothing. A change goes
// into the table in place (a deletion leaves a tombstone that probes pass
// over); the slots are made anew only when the table grows past half full or
// a quarter of it is tombstones.
//
// The probe works on int32 words in typed arrays and its helpers return
// int32: a number outside V8's small-integer range (a u32 above 2^31 always;
// an int32 beyond ±2^30 where V8 uses 31-bit small integers) that crosses a
// call which is not inlined is boxed into a heap number, an allocation per
// packet.

import { readI32, readU32 } from '../wire/ipv4.js';

const EMPTY = -1;
const TOMBSTONE = -2;

export interface PrefixEntry {
  words: Uint32Array;
  length: number;
  value: number;
}

function maskWord(w: number, wordIndex: number, length: number): number {
  const bits = length - wordIndex * 32;
  if (bits >= 32) return w >>> 0;
  if (bits <= 0) return 0;
  return (w & (0xffffffff << (32 - bits))) >>> 0;
}

/** Hash of the four words at w[at] and a length. */
function hash(w: Int32Array, at: number, length: number): number {
  let h = Math.imul(w[at] ^ 0x9e3779b9, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13) ^ w[at + 1], 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 16) ^ w[at + 2], 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13) ^ w[at + 3], 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 16) ^ length, 0x27d4eb2d);
  // int32, not u32: a return value above 2^31 would be a heap number.
  return h ^ (h >>> 15);
}

export function wordsOf(bytes: Uint8Array): Uint32Array {
  const w = new Uint32Array(4);
  for (let i = 0; i < 4; i++) w[i] = readU32(bytes, 4 * i);
  return w;
}

export class PrefixTable {
  /** Entries per prefix length: a length whose count reaches 0 leaves the probe order. */
  private readonly lengthCount = new Map<number, number>();
  private count = 0;
  private tombstones = 0;
  /** Distinct lengths present, longest first, and per length its four word masks. */
  private lengths = new Int32Array(0);
  private lengthMasks = new Int32Array(0);
  private mask = 7;
  /** Per slot: w0..w3 (int32 bits), the prefix length (or EMPTY, TOMBSTONE), the value. */
  private keys = new Int32Array(32);
  private slotLength = new Int32Array(8).fill(EMPTY);
  private values = new Int32Array(8);
  /** The address being looked up, and it masked to the length being probed. */
  private readonly query = new Int32Array(4);
  private readonly masked = new Int32Array(4);

  get size(): number {
    return this.count;
  }

  /** words masked to length, into this.masked (int32 bits). */
  private maskInto(words: ArrayLike<number>, length: number): Int32Array {
    const m = this.masked;
    for (let i = 0; i < 4; i++) m[i] = maskWord(words[i], i, length) | 0;
    return m;
  }

  /** Adds or replaces; host bits beyond length are ignored (masked). */
  set(words: ArrayLike<number>, length: number, value: number): void {
    if (length < 0 || length > 128) throw new RangeError(`prefix length ${length}`);
    const slot = this.slotOf(this.maskInto(words, length), length);
    if (slot >= 0) {
      this.values[slot] = value;
      return;
    }
    if ((this.count + this.tombstones + 1) * 2 > this.mask + 1) this.resize(this.count + 1);
    this.place(this.maskInto(words, length), length, value);
    this.count++;
    const n = this.lengthCount.get(length) ?? 0;
    this.lengthCount.set(length, n + 1);
    if (n === 0) this.orderLengths();
  }

  delete(words: ArrayLike<number>, length: number): boolean {
    const slot = this.slotOf(this.maskInto(words, length), length);
    if (slot < 0) return false;
    this.slotLength[slot] = TOMBSTONE;
    this.count--;
    this.tombstones++;
    const left = (this.lengthCount.get(length) ?? 1) - 1;
    if (left > 0) this.lengthCount.set(length, left);
    else {
      this.lengthCount.delete(length);
      this.orderLengths();
    }
    if (this.tombstones * 4 > this.mask + 1) this.resize(this.count);
    return true;
  }

  /** The slot holding (m, length), or -1. */
  private slotOf(m: Int32Array, length: number): number {
    let s = hash(m, 0, length) & this.mask;
    for (;;) {
      const sl = this.slotLength[s];
      if (sl === EMPTY) return -1;
      const k = s * 4;
      if (sl === length && this.keys[k] === m[0] && this.keys[k + 1] === m[1] && this.keys[k + 2] === m[2] && this.keys[k + 3] === m[3]) return s;
      s = (s + 1) & this.mask;
    }
  }

  /** Puts a new entry into the first free (empty or tombstone) slot of its probe sequence. */
  private place(m: Int32Array, length: number, value: number): void {
    let s = hash(m, 0, length) & this.mask;
    while (this.slotLength[s] >= 0) s = (s + 1) & this.mask;
    if (this.slotLength[s] === TOMBSTONE) this.tombstones--;
    this.keys.set(m, s * 4);
    this.slotLength[s] = length;
    this.values[s] = value;
  }

  /** Exact match of a prefix (control plane: overlap checks). */
  getExact(words: ArrayLike<number>, length: number): number | undefined {
    const slot = this.slotOf(this.maskInto(words, length), length);
    return slot >= 0 ? this.values[slot] : undefined;
  }

  clear(): void {
    this.lengthCount.clear();
    this.count = 0;
    this.tombstones = 0;
    this.mask = 7;
    this.keys = new Int32Array(32);
    this.slotLength = new Int32Array(8).fill(EMPTY);
    this.values = new Int32Array(8);
    this.orderLengths();
  }

  list(): PrefixEntry[] {
    const out: PrefixEntry[] = [];
    for (let s = 0; s <= this.mask; s++) {
      if (this.slotLength[s] < 0) continue;
      out.push({ words: Uint32Array.from(this.keys.subarray(s * 4, s * 4 + 4)), length: this.slotLength[s], value: this.values[s] });
    }
    return out;
  }

  /** Probe order: the lengths present, longest first, with their masks. */
  private orderLengths(): void {
    this.lengths = Int32Array.from([...this.lengthCount.keys()].sort((a, b) => b - a));
    this.lengthMasks = new Int32Array(this.lengths.length * 4);
    this.lengths.forEach((len, li) => { for (let i = 0; i < 4; i++) this.lengthMasks[li * 4 + i] = maskWord(0xffffffff, i, len); });
  }

  /** New slots for at least `entries` entries at most half full, without tombstones. */
  private resize(entries: number): void {
    const { keys, slotLength, values } = this;
    let cap = 8;
    while (cap < entries * 2) cap *= 2;
    this.mask = cap - 1;
    this.keys = new Int32Array(cap * 4);
    this.slotLength = new Int32Array(cap).fill(EMPTY);
    this.values = new Int32Array(cap);
    this.tombstones = 0;
    const m = this.masked;
    for (let s = 0; s < slotLength.length; s++) {
      if (slotLength[s] < 0) continue;
      for (let i = 0; i < 4; i++) m[i] = keys[s * 4 + i];
      this.place(m, slotLength[s], values[s]);
    }
  }

  /** Value of the longest prefix containing the address, or -1. Words may be
   * u32 or int32 (the same bits). */
  lookup(w0: number, w1: number, w2: number, w3: number): number {
    const q = this.query;
    q[0] = w0;
    q[1] = w1;
    q[2] = w2;
    q[3] = w3;
    return this.probe();
  }

  /** lookup() of the address at b[off, off+16): the datapath's form. */
  lookupAt(b: Uint8Array, off: number): number {
    const q = this.query;
    q[0] = readI32(b, off);
    q[1] = readI32(b, off + 4);
    q[2] = readI32(b, off + 8);
    q[3] = readI32(b, off + 12);
    return this.probe();
  }

  private probe(): number {
    const q = this.query;
    const m = this.masked;
    const lengths = this.lengths;
    const lengthMasks = this.lengthMasks;
    const keys = this.keys;
    const slotLength = this.slotLength;
    const mask = this.mask;
    for (let li = 0; li < lengths.length; li++) {
      const len = lengths[li];
      const lm = li * 4;
      m[0] = q[0] & lengthMasks[lm];
      m[1] = q[1] & lengthMasks[lm + 1];
      m[2] = q[2] & lengthMasks[lm + 2];
      m[3] = q[3] & lengthMasks[lm + 3];
      let s = hash(m, 0, len) & mask;
      for (;;) {
        const sl = slotLength[s];
        if (sl === EMPTY) break;
        const k = s * 4;
        if (sl === len && keys[k] === m[0] && keys[k + 1] === m[1] && keys[k + 2] === m[2] && keys[k + 3] === m[3]) {
          return this.values[s];
        }
        s = (s + 1) & mask;
      }
    }
    return -1;
  }
}
