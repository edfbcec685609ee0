// The short version of the end-to-end benchmark: it builds each path and
// measures something. Speeds are reported by `npm run bench`, never asserted.
import { expect, it } from 'vitest';
import { describeRoot } from '../support/root.js';
import { markdown, runBench, svg } from '../../bench/e2e/run.js';

describeRoot('end-to-end benchmark (short)', () => {
  it('measures sixtun, the batched C forwarder and kernel forwarding in one run and tabulates them', async () => {
    const wanted = ['kernel IPv6 forwarding, no tunnel', 'sixtun', 'C forwarder, recvmmsg/sendmmsg'];
    const r = await runBench(1, 1, () => {}, (n) => wanted.includes(n));
    expect(r.map((x) => x.name)).toEqual(wanted);
    for (const x of r) {
      expect(x.available, x.why).toBe(true);
      expect(x.tcpMbps!.median).toBeGreaterThan(0);
      expect(x.udp64Kpps!.median).toBeGreaterThan(0);
    }
    expect(r[1].cpuUsPerPacket).toBeGreaterThan(0);
    const table = markdown(r, 'test');
    expect(table.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| path'))).toHaveLength(3);
    expect(svg(r)).toMatch(/<svg[\s\S]*sixtun[\s\S]*<\/svg>/);
  }, 120_000);
});
