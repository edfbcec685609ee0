// The server's end of each tunnel pair is sixtun's own address, not the
// kernel's: the TUN carries only its link-local address, the kernel one route
// per pair, and sixtun answers echoes to the server address from both sides.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import { describeRoot, useLab } from '../support/root.js';
import { buildTopology, HOST_V6, type Topology } from '../../src/lab/topology.js';
import { runDir, startClient, startServer, status, tunnelOf, type RunningDaemon } from '../../src/lab/daemons.js';
import { ping } from '../helpers/programs.js';
import { waitFor } from '../../src/lab/netns.js';

describeRoot('server addresses answered by sixtun', () => {
  const lab = useLab('saddr');
  const dir = runDir('saddr');
  let t: Topology;
  let server: RunningDaemon;
  beforeAll(async () => {
    t = buildTopology(lab, { clients: 2 });
    // Reachable from upstream too: the proxy answers NDP for the server addresses.
    server = await startServer(t, dir, { extra: 'ndp_server_addresses: true\n' });
    for (const c of t.clients) await startClient(t, c, dir);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('the kernel holds no per-tunnel address: the TUN has its link-local only, and a route per pair and routed prefix', () => {
    const addrs = lab.ipJson<Array<{ addr_info: Array<{ local: string }> }>>(t.server, ['-6', 'addr', 'show', 'dev', 'sixtun0'])[0].addr_info.map((a) => a.local);
    expect(addrs).toEqual(['fe80::cb00:7101']);
    const routes = lab.ipJson<Array<{ dst: string }>>(t.server, ['-6', 'route', 'show', 'proto', '246']).map((r) => r.dst).sort();
    expect(routes).toEqual([...t.clients.map((c) => `${c.serverV6}/127`), ...t.clients.map((c) => c.routed)].sort());
  });

  it('echoes to the server address are answered from the client and from the Internet, any size up to the MTU', async () => {
    const [c1, c2] = t.clients;
    const before = tunnelOf(await status(server), c1.name) as unknown as { echo_answered: number };
    expect(ping(lab, c1.ns, c1.serverV6, { count: 3 }).received).toBe(3);
    expect(ping(lab, c1.ns, c1.serverV6, { count: 2, size: 1400 }).received).toBe(2);
    expect(ping(lab, t.host, c2.serverV6, { count: 3 }).received).toBe(3);
    const after = tunnelOf(await status(server), c1.name) as unknown as { echo_answered: number };
    expect(after.echo_answered - before.echo_answered).toBe(5);
    // Traffic through the tunnels is unchanged.
    expect(ping(lab, c2.ns, HOST_V6, { count: 3 }).received).toBe(3);
  });

  it('anything but an echo to the server address is dropped and counted by name', async () => {
    const c1 = t.clients[0];
    const before = tunnelOf(await status(server), c1.name).drops['to-server-address'] ?? 0;
    lab.exec(c1.ns, [process.execPath, '-e', `const s = require('node:dgram').createSocket('udp6'); let n = 0; const go = () => s.send('x', 9, '${c1.serverV6}', () => (++n < 3 ? go() : s.close())); go();`]);
    const dropped = async (): Promise<number> => (tunnelOf(await status(server), c1.name).drops['to-server-address'] ?? 0) - before;
    await waitFor(async () => (await dropped()) >= 3, 5000, 20, 'three drops counted');
    expect(await dropped()).toBe(3);
  });
});
