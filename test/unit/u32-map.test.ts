// U32Map against a JS Map as the reference, with a seeded RNG.
import { describe, expect, it } from 'vitest';
import { U32Map } from '../../src/route/u32-map.js';
import { Rng } from '../support/rng.js';

describe('U32Map', () => {
  it('agrees with Map under random sets, gets and deletes, including keys above 2^31 (seeded)', () => {
    const rng = new Rng(32);
    const m = new U32Map();
    const ref = new Map<number, number>();
    const keys = Array.from({ length: 300 }, () => rng.u32());
    for (let n = 0; n < 20_000; n++) {
      const k = rng.pick(keys);
      const op = rng.int(3);
      if (op === 0) {
        const v = rng.int(1000);
        m.set(k, v);
        ref.set(k, v);
      } else if (op === 1) {
        expect(m.delete(k)).toBe(ref.delete(k));
      } else {
        expect(m.get(k)).toBe(ref.get(k) ?? -1);
        const bytes = new Uint8Array(8);
        new DataView(bytes.buffer).setUint32(2, k);
        expect(m.getAt(bytes, 2)).toBe(ref.get(k) ?? -1);
      }
      expect(m.size).toBe(ref.size);
    }
    expect(new Map(m.entries())).toEqual(ref);
    expect(() => m.set(1, -1)).toThrow(RangeError);
  });

  it('deletes in place through long probe runs: dense keys, a table kept near half full, wrap-around (seeded)', () => {
    const rng = new Rng(0x0b5);
    const m = new U32Map();
    const ref = new Map<number, number>();
    // Consecutive endpoints (as a broker's 198.18.0.0/15 clients) and keys at
    // both ends of the u32 range, so that runs cross the table's end.
    const keys = [...Array.from({ length: 40 }, (_, i) => (0xc6120000 + i) >>> 0), ...Array.from({ length: 24 }, (_, i) => (0xffffffff - i) >>> 0), ...Array.from({ length: 24 }, (_, i) => i)];
    for (let n = 0; n < 50_000; n++) {
      const k = rng.pick(keys);
      if (rng.int(2) === 0) {
        m.set(k, n & 0xffff);
        ref.set(k, n & 0xffff);
      } else expect(m.delete(k)).toBe(ref.delete(k));
      if (n % 97 === 0) for (const key of keys) expect(m.get(key)).toBe(ref.get(key) ?? -1);
    }
    for (const k of keys) m.delete(k);
    expect(m.size).toBe(0);
    for (const k of keys) expect(m.get(k)).toBe(-1);
  });
});
