// The short version of the end-to-end benchmark: it builds each path and
// measures something. Speeds are reported by `npm run bench`, never asserted.
import { expect, it } from 'vitest';
import { createRequire } from 'node:module';
import { describeRoot } from '../support/root.js';
import { C_BATCH, C_OFFLOAD, C_THREADS, KERNEL, NAIVE, SIXTUN, headline, markdown, runBench, svg } from '../../bench/e2e/run.js';
import { apiFlood } from '../../bench/api-flood.js';
import { clusterBench } from '../../bench/cluster.js';
import { haveEtcd } from '../support/etcd.js';
import { MANY_C_BATCH, MANY_C_OFFLOAD, MANY_C_URING, MANY_SIXTUN, MANY_SIXTUN_PLAIN, manyMarkdown, manyTunnels } from '../../bench/many-tunnels.js';

describeRoot('end-to-end benchmark (short)', () => {
  it('measures every available path in one run, tabulates them and charts them', async () => {
    const wanted = [KERNEL, SIXTUN, 'sixtun, offloads off', C_BATCH, C_OFFLOAD, C_THREADS, NAIVE];
    const r = await runBench(1, 1, () => {}, (n) => wanted.includes(n));
    expect(r.map((x) => x.name)).toEqual(wanted);
    // raw-socket is an optional dependency that does not build on Node.js 24.
    const naiveInstalled = (() => {
      try {
        createRequire(import.meta.url)('raw-socket');
        return true;
      } catch {
        return false;
      }
    })();
    const naive = r.find((x) => x.name === NAIVE)!;
    if (!naiveInstalled) {
      expect(naive.available).toBe(false);
      expect(naive.why).toMatch(/optional dependency raw-socket did not install/);
      expect(markdown(r, 'test')).toMatch(/naive Node forwarder.*unavailable/);
    }
    for (const x of r) {
      if (x === naive && !naiveInstalled) continue;
      expect(x.available, x.why).toBe(true);
      expect(x.tcpMbps!.median).toBeGreaterThan(0);
      // The naive forwarder may collapse under the 64-byte flood (it did in the recorded runs).
      if (x.name === NAIVE) expect(x.udp64Kpps!.median).toBeGreaterThanOrEqual(0);
      else expect(x.udp64Kpps!.median).toBeGreaterThan(0);
      expect(x.pingP99Ms).toBeGreaterThan(0);
      expect(x.loadedP99Ms).toBeGreaterThan(0);
    }
    // Forwarder processes are measured; kernel paths have none.
    expect(r[0].cpuUsPerPacket).toBeNull();
    for (const x of r.slice(1)) if (x.available && x.udp64Kpps!.median > 0) expect(x.cpuUsPerPacket).toBeGreaterThan(0);
    const h = headline(r);
    for (const v of [h.tcpVsCOffload, h.udpVsCBatch]) expect(v).toBeGreaterThan(0);
    if (naiveInstalled) expect(h.tcpVsNaive).toBeGreaterThan(0);
    const table = markdown(r, 'test');
    expect(table.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| path'))).toHaveLength(wanted.length);
    expect(table).toMatch(/sixtun, medians of this run: TCP \d+\.\d\d× the C forwarder with TSO\+GRO/);
    expect(svg(r)).toMatch(/<svg[\s\S]*sixtun[\s\S]*<\/svg>/);
  }, 300_000);
});

describeRoot('the update API flood bench (short)', () => {
  it('floods sixtun and a plain HTTP server in turn, each answered, and reports the ratios', async () => {
    const r = await apiFlood(1, 1, () => undefined) as { median_mbps: Record<string, number>; flood_over_plain_throughput: number; requests_per_s: Record<string, number> };
    for (const mode of ['quiet', 'plain', 'flood']) expect(r.median_mbps[mode]).toBeGreaterThan(0);
    expect(r.requests_per_s.plain).toBeGreaterThan(0);
    expect(r.requests_per_s.flood).toBeGreaterThan(0);
    expect(Number.isFinite(r.flood_over_plain_throughput)).toBe(true);
  }, 120_000);
});

describeRoot('the cluster bench (short)', () => {
  (haveEtcd ? it : it.skip)('measures write-to-forwarding across two servers and a start from etcd', async () => {
    const r = await clusterBench(5, [500], () => undefined) as { writeToForwardMs: { p50: number }; startups: Array<{ tunnels: number; startMs: number; readMs: number }> };
    expect(r.writeToForwardMs.p50).toBeGreaterThan(0);
    expect(r.startups.map((s) => s.tunnels)).toEqual([500]);
    expect(Number.isFinite(r.startups[0].readMs)).toBe(true);
  }, 180_000);
});

describeRoot('the many-tunnel bench (short)', () => {
  it('floods every server end from many tunnels and counts what reached the router, with a profile', async () => {
    const opts = { tunnels: 50, flows: 2, seconds: 2, reps: 1, profile: true };
    const runs = await manyTunnels(opts, () => undefined);
    expect(runs.map((r) => r.path)).toEqual([MANY_SIXTUN, MANY_SIXTUN_PLAIN, MANY_C_BATCH, MANY_C_OFFLOAD, MANY_C_URING]);
    for (const r of runs) {
      // Only io_uring may be missing (disabled by the machine's policy): said, not fatal.
      if (r.path === MANY_C_URING && r.why !== undefined) {
        expect(r.why).toMatch(/io_uring/);
        continue;
      }
      expect(r.why, r.path).toBeUndefined();
      expect(r.forwarded, r.path).toBeGreaterThan(0);
      // The router counts what arrived; nothing arrives that was not sent (NDP and the like aside).
      expect(r.forwarded).toBeLessThanOrEqual(r.sent + 100);
      const server = r.profile!.rows.find((x) => x.who === 'forwarder, server end');
      expect(server!.user + server!.kernel, r.path).toBeGreaterThan(0);
    }
    const table = manyMarkdown(runs, opts, 'test');
    expect(table).toMatch(/\| sixtun \| \d+ \| \d+ \| \d+ \| \d+\.\d\d \| \d+\.\d\d \|/);
    expect(table).toContain('**C forwarder, recvmmsg/sendmmsg**');
  }, 240_000);
});
