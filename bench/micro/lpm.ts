// Longest-prefix match with 1, 1 000 and 100 000 prefixes (/48, /56, /64, /128 mixed).
import { PrefixTable } from '../../src/route/prefix-table.js';
import { measure, type MicroResult } from './harness.js';

export async function benchLpm(): Promise<MicroResult[]> {
  const out: MicroResult[] = [];
  for (const n of [1, 1000, 100_000]) {
    const t = new PrefixTable();
    let s = 12345;
    const rnd = (): number => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0);
    const lookups: number[][] = [];
    for (let i = 0; i < n; i++) {
      const w = [0x20010db8, rnd(), rnd(), rnd()];
      const len = [48, 56, 64, 128][i & 3];
      t.set(w, len, i);
      if (lookups.length < 1024) lookups.push(w);
    }
    let k = 0;
    let sink = 0;
    out.push(await measure(`LPM lookup, ${n} prefixes`, 1, 1_000_000, () => {
      const w = lookups[k++ & 1023 % lookups.length] ?? lookups[0];
      sink ^= t.lookup(w[0], w[1], w[2], w[3]);
    }));
    if (sink === -42) process.stdout.write('');
  }
  return out;
}
