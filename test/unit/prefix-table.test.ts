// Differential test: the hashed LPM table against a naive sorted list.
import { describe, expect, it } from 'vitest';
import { PrefixTable } from '../../src/route/prefix-table.js';
import { Rng } from '../support/rng.js';

interface Naive { words: number[]; length: number; value: number }

function contains(p: Naive, a: number[]): boolean {
  for (let i = 0; i < 4; i++) {
    const bits = p.length - 32 * i;
    if (bits <= 0) return true;
    const m = bits >= 32 ? 0xffffffff : (0xffffffff << (32 - bits)) >>> 0;
    if (((a[i] & m) >>> 0) !== ((p.words[i] & m) >>> 0)) return false;
  }
  return true;
}

function naiveLookup(sorted: Naive[], a: number[]): number {
  for (const p of sorted) if (contains(p, a)) return p.value;
  return -1;
}

describe('PrefixTable longest-prefix match', () => {
  it('picks the longest of nested prefixes', () => {
    const t = new PrefixTable();
    t.set([0x20010db8, 0, 0, 0], 32, 1);
    t.set([0x20010db8, 0x01000000, 0, 0], 48, 2);
    t.set([0x20010db8, 0x01000000, 0, 0], 64, 3);
    t.set([0x20010db8, 0x00ff0000, 0, 3], 128, 4);
    expect(t.lookup(0x20010db8, 0x01000000, 0, 5)).toBe(3);
    expect(t.lookup(0x20010db8, 0x01000001, 0, 5)).toBe(2);
    expect(t.lookup(0x20010db8, 0x00ff0000, 0, 3)).toBe(4);
    expect(t.lookup(0x20010db8, 0x00ff0000, 0, 2)).toBe(1);
    expect(t.lookup(0x20010db9, 0, 0, 0)).toBe(-1);
    t.set([0, 0, 0, 0], 0, 9);
    expect(t.lookup(0x20010db9, 0, 0, 0)).toBe(9);
    expect(t.delete([0x20010db8, 0x01000000, 0, 0], 64)).toBe(true);
    expect(t.lookup(0x20010db8, 0x01000000, 0, 5)).toBe(2);
  });

  it('clear empties it: nothing found, size 0, and what is set again is found again', () => {
    const t = new PrefixTable();
    for (let i = 0; i < 40; i++) t.set([0x20010db8, i, 0, 0], 64, i);
    t.clear();
    expect(t.size).toBe(0);
    expect(t.lookup(0x20010db8, 5, 0, 1)).toBe(-1);
    expect(t.list()).toEqual([]);
    t.set([0x20010db8, 5, 0, 0], 64, 7);
    expect([t.size, t.lookup(0x20010db8, 5, 0, 1), t.lookup(0x20010db8, 6, 0, 1)]).toEqual([1, 7, -1]);
  });

  it('agrees with a naive sorted list on 100 000 random prefixes (seeded)', () => {
    const rng = new Rng(20231);
    const t = new PrefixTable();
    const byKey = new Map<string, Naive>();
    // Prefixes cluster under a few parents so that lookups hit nested matches.
    const parents = Array.from({ length: 64 }, () => [rng.u32(), rng.u32(), rng.u32(), rng.u32()]);
    for (let n = 0; n < 100_000; n++) {
      const length = rng.pick([0, 8, 16, 32, 40, 44, 48, 52, 56, 60, 64, 72, 96, 112, 126, 127, 128, rng.int(129)]);
      const base = rng.int(4) === 0 ? [rng.u32(), rng.u32(), rng.u32(), rng.u32()] : rng.pick(parents).slice();
      for (let b = Math.max(length - 16, 0); b < length; b++) if (rng.int(2)) base[b >> 5] ^= 1 << (31 - (b & 31));
      const masked = base.map((w, i) => {
        const bits = length - 32 * i;
        return bits >= 32 ? w >>> 0 : bits <= 0 ? 0 : (w & (0xffffffff << (32 - bits))) >>> 0;
      });
      const value = n;
      t.set(masked, length, value);
      byKey.set(`${masked.join(':')}/${length}`, { words: masked, length, value });
    }
    const sorted = [...byKey.values()].sort((a, b) => b.length - a.length);
    expect(t.size).toBe(sorted.length);
    for (let n = 0; n < 400; n++) {
      let a: number[];
      if (n % 2 === 0) a = [rng.u32(), rng.u32(), rng.u32(), rng.u32()];
      else {
        // An address inside a random stored prefix, random below its length.
        const p = sorted[rng.int(sorted.length)];
        a = p.words.map((w, i) => {
          const bits = p.length - 32 * i;
          if (bits >= 32) return w;
          const keep = bits <= 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
          return ((w & keep) | (rng.u32() & ~keep)) >>> 0;
        });
      }
      const want = naiveLookup(sorted, a);
      expect(t.lookup(a[0], a[1], a[2], a[3])).toBe(want);
      // The datapath's form reads the same address from packet bytes.
      const bytes = new Uint8Array(20);
      a.forEach((w, i) => new DataView(bytes.buffer).setUint32(3 + 4 * i, w));
      expect(t.lookupAt(bytes, 3)).toBe(want);
    }
  });
});

describe('PrefixTable changes in place', () => {
  it('agrees with a naive list through interleaved adds, replacements, deletions and lookups (seeded)', () => {
    const rng = new Rng(0x1ace);
    const t = new PrefixTable();
    const live = new Map<string, Naive>();
    const parents = Array.from({ length: 8 }, () => [rng.u32(), rng.u32(), rng.u32(), rng.u32()]);
    const randomPrefix = (): Naive => {
      const length = rng.pick([48, 64, 64, 128, 128, 127, rng.int(129)]);
      const base = rng.pick(parents).slice();
      for (let b = Math.max(length - 12, 0); b < length; b++) if (rng.int(2)) base[b >> 5] ^= 1 << (31 - (b & 31));
      const words = base.map((w, i) => {
        const bits = length - 32 * i;
        return bits >= 32 ? w >>> 0 : bits <= 0 ? 0 : (w & (0xffffffff << (32 - bits))) >>> 0;
      });
      return { words, length, value: rng.int(1000) };
    };
    const check = (): void => {
      const sorted = [...live.values()].sort((a, b) => b.length - a.length);
      for (let q = 0; q < 20; q++) {
        const p = rng.int(3) === 0 || sorted.length === 0 ? randomPrefix() : rng.pick(sorted);
        const a = p.words.map((w, i) => (i === 3 ? (w ^ rng.int(4)) >>> 0 : w));
        expect(t.lookup(a[0], a[1], a[2], a[3]), `${a}`).toBe(naiveLookup(sorted, a));
      }
    };
    for (let step = 0; step < 8000; step++) {
      const r = rng.int(10);
      if (r < 5) {
        const p = randomPrefix();
        t.set(p.words, p.length, p.value);
        live.set(`${p.words.join(':')}/${p.length}`, p);
      } else if (r < 8 && live.size > 0) {
        const p = rng.pick([...live.values()]);
        expect(t.delete(p.words, p.length)).toBe(true);
        live.delete(`${p.words.join(':')}/${p.length}`);
      } else {
        check();
      }
      expect(t.size).toBe(live.size);
    }
    check();
  });
});
