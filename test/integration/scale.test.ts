// A broker's server at a small scale (2 000 tunnels from a journal, pools
// around their pairs and /64s): what the scale work promises, checked with
// the kernel's own tools. Speeds are the benchmark's business
// (npm run bench:scale); here only behaviour.
import { afterAll, expect, it } from 'vitest';
import { appendFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describeRoot, useLab } from '../support/root.js';
import { buildTopology, HOST_V6, SERVER_EXT_V6 } from '../../src/lab/topology.js';
import { labScript, runDir, startClient, startDaemon } from '../../src/lab/daemons.js';
import { SYNTHETIC_POOLS, synthetic, writeRegistry } from '../../src/lab/registry.js';
import { controlRequest } from '../../src/control/control-server.js';
import { waitFor } from '../../src/lab/netns.js';
import { cli, ping } from '../helpers/programs.js';

const N = 2000;

describeRoot('2 000 tunnels', () => {
  const lab = useLab('scal');
  const dir = runDir('scal');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('start, kernel state, status and metrics, changes under traffic, pool allocation, reload of one line, repair, echo and NDP for the last tunnel, stop', async () => {
    const t = buildTopology(lab, { clients: 1 });
    const c = t.clients[0];
    const socket = join(dir, 'server.sock');
    const file = join(dir, 'server.yaml');
    writeRegistry(t, N, socket, file, 'pools');
    const server = await startDaemon(lab, t.server, 'server', file, socket, {}, [], 60_000);
    await startClient(t, c, dir);
    const sock = ['--socket', socket];

    // The kernel: a route per pool, and tunnel 0's own (outside the pools); no address per tunnel.
    const routes = (): string[] => lab.ipJson<Array<{ dst: string }>>(t.server, ['-6', 'route', 'show', 'proto', '246']).map((r) => r.dst).sort();
    const expected = [SYNTHETIC_POOLS.pairs, SYNTHETIC_POOLS.routed64, c.routed, `${c.serverV6}/127`].sort();
    expect(routes()).toEqual(expected);
    expect(lab.ipJson<Array<{ addr_info: unknown[] }>>(t.server, ['-6', 'addr', 'show', 'dev', 'sixtun0'])[0].addr_info).toHaveLength(1);
    // The server addresses: nothing per tunnel (one rule and one route for all, on the local TUN).
    const localRules = (): number => lab.ipJson<Array<{ iif?: string }>>(t.server, ['-6', 'rule', 'show']).filter((r) => r.iif === 'sixtun0-l').length;
    expect(localRules()).toBe(1);
    expect(lab.ipJson<unknown[]>(t.server, ['-6', 'route', 'show', 'table', 'local', 'proto', '246'])).toHaveLength(0);

    // Status of one tunnel, a filter, a page; aggregate metrics only.
    const last = synthetic(N - 1);
    const one = (await controlRequest(socket, { cmd: 'status', tunnel: last.name })) as { tunnel_count: number; tunnels: Array<{ name: string; remote_ipv4: string; client_ipv6: string }> };
    expect(one.tunnel_count).toBe(N);
    expect(one.tunnels).toEqual([expect.objectContaining({ name: last.name, remote_ipv4: last.client_ipv4, client_ipv6: last.client_ipv6 })]);
    const filtered = (await controlRequest(socket, { cmd: 'status', filter: 's199', limit: 5 })) as { matched: number; tunnels: unknown[] };
    expect([filtered.matched, filtered.tunnels.length]).toEqual([11, 5]);
    const metrics = lab.exec(t.server, ['curl', '-sf', 'http://[::1]:9641/metrics']);
    expect(metrics).toContain(`sixtun_tunnels ${N}\n`);
    expect(metrics).not.toMatch(/^sixtun_tunnel_tx_packets_total\{/m);

    // Changes while pings cross tunnel 0: allocated from the pools, given back, nothing lost.
    const pings = lab.spawn(c.ns, ['ping', '-6', '-n', '-c', '40', '-i', '0.05', HOST_V6]);
    const added = await cli(['tunnel', 'add', 'x', '--client-ipv4', '198.19.255.1', ...sock]);
    expect(added.out).toBe('added tunnel x: 198.19.255.1 → 2001:db8:f0::/127 (client 2001:db8:f0::1), routes 2001:db8:1000::/64\n');
    expect((await cli(['tunnel', 'remove', 'x', ...sock])).code).toBe(0);
    // Given back: free for another tunnel (the next allocation goes on from the last, as documented).
    const again = await cli(['tunnel', 'add', 'y', '--client-ipv4', '198.19.255.2', '--server-ipv6', '2001:db8:f0::/127', '--client-ipv6', '2001:db8:f0::1', '--routed-prefix', '2001:db8:1000::/64', ...sock]);
    expect(again.code, again.err).toBe(0);
    expect(await pings.exited).toBe(0);
    expect(pings.output()).toContain('40 received');
    expect(routes()).toEqual(expected);

    // SIGHUP after one line appended by another writer: that tunnel alone is added.
    const reloads = (): string[] => server.proc.output().split('\n').filter((l) => l.includes('msg="reloaded"'));
    appendFileSync(`${file}.jsonl`, JSON.stringify({ op: 'put', tunnel: synthetic(N) }) + '\n');
    process.kill(server.proc.pid, 'SIGHUP');
    await waitFor(() => reloads().length === 1, 20_000, 10, 'reload');
    expect(reloads()[0]).toContain(`added=["${synthetic(N).name}"] removed=[] changed=[]`);

    // The upstream routes the pools to the server: the last tunnel's server address answers echoes (the kernel's stack, through the local TUN).
    lab.ip(t.router, ['-6', 'route', 'add', SYNTHETIC_POOLS.pairs, 'via', SERVER_EXT_V6]);
    expect(ping(lab, t.host, last.server_ipv6.replace('/127', '')).received).toBe(3);
    // And the router's NS for the last tunnel's client address is answered.
    const ns = JSON.parse(await lab.run(t.router, [process.execPath, labScript('send-ns'), JSON.stringify({ iface: 'to-srv', target: last.client_ipv6, src: 'fe80::99' })])) as { replies: Array<{ target: string }> };
    expect(ns.replies.map((r) => r.target)).toEqual([last.client_ipv6]);

    // Routes flushed by hand are put back, and only those.
    lab.ip(t.server, ['-6', 'route', 'flush', 'proto', '246']);
    await waitFor(() => routes().length === expected.length, 5000, 10, 'routes repaired');
    expect(routes()).toEqual(expected);
    expect(ping(lab, c.ns, HOST_V6).received).toBe(3);

    process.kill(server.proc.pid, 'SIGTERM');
    expect(await server.proc.exited).toBe(0);
    expect(routes()).toEqual([]);
    expect(localRules()).toBe(0);
  });
});
