// Pools on a server: one kernel route per pool instead of one per tunnel
// inside it; sixtun's own table decides per packet, and an address of a pool
// that no tunnel holds is answered with ICMPv6 Destination Unreachable.
import { afterAll, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import { describeRoot, useLab } from '../support/root.js';
import { buildTopology, HOST_V6, SERVER_EXT_V6 } from '../../src/lab/topology.js';
import { runDir, startClient, startServer, status } from '../../src/lab/daemons.js';
import { ping } from '../helpers/programs.js';
import { waitFor } from '../../src/lab/netns.js';

describeRoot('pools', () => {
  const lab = useLab('pool');
  const dir = runDir('pool');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('one route per pool, none for the tunnels inside; routes for prefixes outside; unassigned addresses answered unreachable and counted', async () => {
    const t = buildTopology(lab, { clients: 2 });
    const [a, b] = t.clients;
    // Both pairs are in the pair pool; only a's routed /64 is in the /64 pool, b's is outside.
    const server = await startServer(t, dir, { extra: 'pools: {pairs: 2001:db8:ff::/124, routed64: 2001:db8:100::/48}\n' });
    await startClient(t, a, dir);
    await startClient(t, b, dir);
    const routes = lab.ipJson<Array<{ dst: string; dev: string }>>(t.server, ['-6', 'route', 'show', 'proto', '246']);
    expect(routes.map((r) => `${r.dst} ${r.dev}`).sort()).toEqual(['2001:db8:100::/48 sixtun0', `${b.routed} sixtun0`, '2001:db8:ff::/124 sixtun0'].sort());
    for (const c of [a, b]) {
      expect(ping(lab, t.host, c.clientV6).received).toBe(3);
      expect(ping(lab, c.ns, HOST_V6).received).toBe(3);
    }
    // The upstream routes the whole /64 pool to the server, as a broker's upstream would.
    lab.ip(t.router, ['-6', 'route', 'add', '2001:db8:100::/48', 'via', SERVER_EXT_V6]);
    const unassigned = ping(lab, t.host, '2001:db8:100:5::1', { count: 1 });
    expect(unassigned.received).toBe(0);
    expect(unassigned.output).toContain(`From ${SERVER_EXT_V6} icmp_seq=1 Destination unreachable: No route`);
    const st = (await status(server)) as unknown as { drops_without_tunnel: Record<string, number> };
    expect(st.drops_without_tunnel.unassigned).toBe(1);
    // A flushed pool route is put back, and forwarding resumes through it.
    lab.ip(t.server, ['-6', 'route', 'del', '2001:db8:ff::/124', 'dev', 'sixtun0']);
    await waitFor(() => lab.ipJson<unknown[]>(t.server, ['-6', 'route', 'show', '2001:db8:ff::/124']).length === 1, 2000, 10, 'pool route repaired');
    expect(ping(lab, t.host, a.clientV6).received).toBe(3);
  });
});
