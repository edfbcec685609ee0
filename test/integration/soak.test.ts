// The short version of bench/soak.ts (run `npm run soak` for the 10-minute one).
import { expect, it } from 'vitest';
import { describeRoot } from '../support/root.js';
import { soak } from '../../bench/soak.js';

describeRoot('soak (short)', () => {
  it('mixed traffic with tunnels coming and going: no crash, memory and fds flat, counters consistent', async () => {
    const r = await soak(Number(process.env.SIXTUN_SOAK_SECONDS ?? 25));
    expect(r.serverAlive).toBe(true);
    expect(r.transfers).toBeGreaterThan(2);
    expect(r.transfersByteExact).toBe(true);
    expect(r.reloads).toBeGreaterThanOrEqual(3);
    expect(r.samples.length).toBeGreaterThanOrEqual(3);
    expect(r.fdGrowth).toBeLessThanOrEqual(0);
    expect(r.rssGrowthBytes).toBeLessThan(40 * 1024 * 1024);
    for (const a of r.accounting) {
      // Nothing the server received is unaccounted for: every packet is a forward or a named drop.
      // What the kernel itself dropped before sixtun saw it (a full socket buffer) shows as a small positive rest.
      expect(a.unaccounted, JSON.stringify(a)).toBeGreaterThanOrEqual(0);
      expect(a.unaccounted, JSON.stringify(a)).toBeLessThanOrEqual(a.clientTx * 0.01);
    }
  }, 120_000);
});
