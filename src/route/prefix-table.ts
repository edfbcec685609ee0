// Longest-prefix match over IPv6 addresses held as four u32 words.
//
// One open-addressing hash table keyed by (masked address, length); a lookup
// probes once per distinct prefix length present, longest first. Tunnel
// servers hold few distinct lengths (/128, /64, /56, /48), so a lookup is a
// handful of probes, independent of the number of prefixes, and allocates
// nothing. A change goes into the built table in place (a deletion leaves a
// tombstone that probes pass over): a broker with 10^5 tunnels adds or removes
// one without rebuilding 3·10^5 slots on the thread that moves packets. The
// table is rebuilt, on the next lookup, only when a prefix length appears or
// disappears, or when it grows past half full or a quarter tombstones.
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

export function keyOf(words: ArrayLike<number>, length: number): string {
  return `${words[0]}:${words[1]}:${words[2]}:${words[3]}/${length}`;
}

export function wordsOf(bytes: Uint8Array): Uint32Array {
  const w = new Uint32Array(4);
  for (let i = 0; i < 4; i++) w[i] = readU32(bytes, 4 * i);
  return w;
}

export class PrefixTable {
  private readonly entries = new Map<string, PrefixEntry>();
  /** Entries per prefix length: a length whose count reaches 0 leaves the probe order. */
  private readonly lengthCount = new Map<number, number>();
  private dirty = true;
  private tombstones = 0;
  /** Distinct lengths present, longest first, and per length its four word masks. */
  private lengths = new Int32Array(0);
  private lengthMasks = new Int32Array(0);
  private mask = 0;
  /** Per slot: w0..w3 (int32 bits). */
  private keys = new Int32Array(0);
  /** The address being looked up, and it masked to the length being probed. */
  private readonly query = new Int32Array(4);
  private readonly masked = new Int32Array(4);
  private slotLength = new Int32Array(0);
  private values = new Int32Array(0);

  get size(): number {
    return this.entries.size;
  }

  /** Adds or replaces; host bits beyond length are ignored (masked). */
  set(words: ArrayLike<number>, length: number, value: number): void {
    if (length < 0 || length > 128) throw new RangeError(`prefix length ${length}`);
    const masked = new Uint32Array(4);
    for (let i = 0; i < 4; i++) masked[i] = maskWord(words[i], i, length);
    const key = keyOf(masked, length);
    const existed = this.entries.has(key);
    this.entries.set(key, { words: masked, length, value });
    if (!existed) this.lengthCount.set(length, (this.lengthCount.get(length) ?? 0) + 1);
    if (this.dirty) return;
    const slot = existed ? this.slotOf(masked, length) : -1;
    if (slot >= 0) {
      this.values[slot] = value;
    } else if (!this.lengths.includes(length) || (this.entries.size + this.tombstones) * 2 > this.mask + 1) {
      this.dirty = true;
    } else {
      this.place(masked, length, value);
    }
  }

  delete(words: ArrayLike<number>, length: number): boolean {
    const masked = new Uint32Array(4);
    for (let i = 0; i < 4; i++) masked[i] = maskWord(words[i], i, length);
    if (!this.entries.delete(keyOf(masked, length))) return false;
    const left = (this.lengthCount.get(length) ?? 1) - 1;
    if (left > 0) this.lengthCount.set(length, left);
    else {
      this.lengthCount.delete(length);
      this.dirty = true;
    }
    if (this.dirty) return true;
    const slot = this.slotOf(masked, length);
    if (slot >= 0) {
      this.slotLength[slot] = TOMBSTONE;
      if (++this.tombstones * 4 > this.mask + 1) this.dirty = true;
    }
    return true;
  }

  /** The slot holding (masked, length) in the built table, or -1. */
  private slotOf(masked: Uint32Array, length: number): number {
    const m = this.masked;
    for (let i = 0; i < 4; i++) m[i] = masked[i] | 0;
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
  private place(masked: Uint32Array, length: number, value: number): void {
    const m = this.masked;
    for (let i = 0; i < 4; i++) m[i] = masked[i] | 0;
    let s = hash(m, 0, length) & this.mask;
    while (this.slotLength[s] >= 0) s = (s + 1) & this.mask;
    if (this.slotLength[s] === TOMBSTONE) this.tombstones--;
    this.keys.set(m, s * 4);
    this.slotLength[s] = length;
    this.values[s] = value;
  }

  /** Exact match of a prefix (control plane: overlap checks). */
  getExact(words: ArrayLike<number>, length: number): number | undefined {
    const masked = new Uint32Array(4);
    for (let i = 0; i < 4; i++) masked[i] = maskWord(words[i], i, length);
    return this.entries.get(keyOf(masked, length))?.value;
  }

  clear(): void {
    this.entries.clear();
    this.lengthCount.clear();
    this.dirty = true;
  }

  list(): PrefixEntry[] {
    return [...this.entries.values()];
  }

  private rebuild(): void {
    this.lengths = Int32Array.from([...this.lengthCount.keys()].sort((a, b) => b - a));
    this.lengthMasks = new Int32Array(this.lengths.length * 4);
    this.lengths.forEach((len, li) => { for (let i = 0; i < 4; i++) this.lengthMasks[li * 4 + i] = maskWord(0xffffffff, i, len); });
    let cap = 8;
    while (cap < this.entries.size * 2) cap *= 2;
    this.mask = cap - 1;
    this.keys = new Int32Array(cap * 4);
    this.slotLength = new Int32Array(cap).fill(EMPTY);
    this.values = new Int32Array(cap);
    for (const e of this.entries.values()) {
      this.masked.set(e.words);
      let s = hash(this.masked, 0, e.length) & this.mask;
      while (this.slotLength[s] !== EMPTY) s = (s + 1) & this.mask;
      this.keys.set(e.words, s * 4);
      this.slotLength[s] = e.length;
      this.values[s] = e.value;
    }
    this.tombstones = 0;
    this.dirty = false;
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
    if (this.dirty) this.rebuild();
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
