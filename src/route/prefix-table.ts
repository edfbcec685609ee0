// Longest-prefix match over IPv6 addresses held as four u32 words.
//
// One open-addressing hash table keyed by (masked address, length); a lookup
// probes once per distinct prefix length present, longest first. Tunnel
// servers hold few distinct lengths (/128, /64, /56, /48), so a lookup is a
// handful of probes, independent of the number of prefixes, and allocates
// nothing. Changes mark the table dirty; it is rebuilt on the next lookup
// (the control plane changes it rarely, the datapath reads it per packet).

import { readU32 } from '../wire/ipv4.js';

const EMPTY = -1;

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

function hash(w0: number, w1: number, w2: number, w3: number, length: number): number {
  let h = Math.imul(w0 ^ 0x9e3779b9, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13) ^ w1, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 16) ^ w2, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13) ^ w3, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 16) ^ length, 0x27d4eb2d);
  return (h ^ (h >>> 15)) >>> 0;
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
  private dirty = true;
  /** Distinct lengths present, longest first. */
  private lengths = new Int32Array(0);
  private mask = 0;
  /** Per slot: w0..w3, length. */
  private keys = new Uint32Array(0);
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
    this.entries.set(keyOf(masked, length), { words: masked, length, value });
    this.dirty = true;
  }

  delete(words: ArrayLike<number>, length: number): boolean {
    const masked = new Uint32Array(4);
    for (let i = 0; i < 4; i++) masked[i] = maskWord(words[i], i, length);
    const removed = this.entries.delete(keyOf(masked, length));
    if (removed) this.dirty = true;
    return removed;
  }

  /** Exact match of a prefix (control plane: overlap checks). */
  getExact(words: ArrayLike<number>, length: number): number | undefined {
    const masked = new Uint32Array(4);
    for (let i = 0; i < 4; i++) masked[i] = maskWord(words[i], i, length);
    return this.entries.get(keyOf(masked, length))?.value;
  }

  clear(): void {
    this.entries.clear();
    this.dirty = true;
  }

  list(): PrefixEntry[] {
    return [...this.entries.values()];
  }

  private rebuild(): void {
    const lengths = new Set<number>();
    for (const e of this.entries.values()) lengths.add(e.length);
    this.lengths = Int32Array.from([...lengths].sort((a, b) => b - a));
    let cap = 8;
    while (cap < this.entries.size * 2) cap *= 2;
    this.mask = cap - 1;
    this.keys = new Uint32Array(cap * 4);
    this.slotLength = new Int32Array(cap).fill(EMPTY);
    this.values = new Int32Array(cap);
    for (const e of this.entries.values()) {
      let s = hash(e.words[0], e.words[1], e.words[2], e.words[3], e.length) & this.mask;
      while (this.slotLength[s] !== EMPTY) s = (s + 1) & this.mask;
      this.keys.set(e.words, s * 4);
      this.slotLength[s] = e.length;
      this.values[s] = e.value;
    }
    this.dirty = false;
  }

  /** Value of the longest prefix containing the address, or -1. Words may be
   * u32 or int32 (the same bits). */
  lookup(w0: number, w1: number, w2: number, w3: number): number {
    if (this.dirty) this.rebuild();
    const lengths = this.lengths;
    const keys = this.keys;
    const slotLength = this.slotLength;
    const mask = this.mask;
    for (let li = 0; li < lengths.length; li++) {
      const len = lengths[li];
      const m0 = maskWord(w0, 0, len);
      const m1 = maskWord(w1, 1, len);
      const m2 = maskWord(w2, 2, len);
      const m3 = maskWord(w3, 3, len);
      let s = hash(m0, m1, m2, m3, len) & mask;
      for (;;) {
        const sl = slotLength[s];
        if (sl === EMPTY) break;
        const k = s * 4;
        if (sl === len && keys[k] === m0 && keys[k + 1] === m1 && keys[k + 2] === m2 && keys[k + 3] === m3) {
          return this.values[s];
        }
        s = (s + 1) & mask;
      }
    }
    return -1;
  }
}
