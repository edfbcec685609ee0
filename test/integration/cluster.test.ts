// Several servers sharing one tunnel registry in a real 3-member etcd
// cluster, all in namespaces: a change on one server is live on the one that
// carries the tunnel within a second; /nic/update through a third moves it;
// concurrent allocations on two servers never hand out a prefix twice; etcd
// failures leave forwarding alone, refuse writes, and are caught up after.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeRoot, useLab } from '../support/root.js';
import { buildClusterTopology, clusterClientYaml, clusterServerYaml, ETCD_V4, type ClusterTopology } from '../../src/lab/cluster.js';
import { EtcdCluster } from '../../src/lab/etcd.js';
import { SIXTUN_BIN, runDir, startDaemon, status, type RunningDaemon } from '../../src/lab/daemons.js';
import { controlRequest } from '../../src/control/control-server.js';
import { HOST_V6, ISP_CLIENT_SIDE_V4 } from '../../src/lab/topology.js';
import { cli, ping } from '../helpers/programs.js';
import { waitFor } from '../../src/lab/netns.js';
import { haveEtcd } from '../support/etcd.js';

const POOLS = 'pools: {pairs: "2001:db8:ff:1::/112", routed64: "2001:db8:300::/56"}\nupdate_api: {listen: "0.0.0.0:8080"}\n';

(haveEtcd ? describeRoot : describeRoot.skip)('servers sharing a registry in etcd', () => {
  const lab = useLab('clu');
  const dir = runDir('clu');
  let t: ClusterTopology;
  let etcd: EtcdCluster;
  const servers: RunningDaemon[] = [];
  const socket = (i: number): string => join(dir, `${t.servers[i].name}.sock`);
  /** Client 1's update key, made through server c. */
  let key1 = '';

  async function startServer(i: number): Promise<RunningDaemon> {
    const config = join(dir, `${t.servers[i].name}.yaml`);
    writeFileSync(config, clusterServerYaml(t.servers[i], socket(i), etcd.endpoints, POOLS));
    const d = await startDaemon(lab, t.servers[i].ns, 'server', config, socket(i));
    servers[i] = d;
    return d;
  }

  /** Three echoes from client 1 to the host through its tunnel; on a loss, what
   * the router's kernel and the servers knew then (a loss seen only on a busy
   * machine is to be understood from its report, not guessed at). */
  async function expectThrough(): Promise<void> {
    const c = t.clients[0];
    const r = ping(lab, c.ns, HOST_V6);
    if (r.received === 3) return;
    const carried = await Promise.all(servers.map(async (s) => JSON.stringify((await status(s)).tunnels.find((x) => x.name === c.name) ?? null)));
    const tails = servers.map((s, i) => `--- server ${t.servers[i].name}: ${carried[i]}\n${s.proc.output().split('\n').slice(-8).join('\n')}`).join('\n');
    expect.fail(`${r.received} of 3 echoes answered\n${r.output}\n--- router neighbours:\n${lab.exec(t.router, ['ip', '-6', 'neigh', 'show'])}\n${tails}`);
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
    await expectThrough();
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

  it('/nic/update through server c moves the tunnel\'s endpoint on b, and traffic through b follows', async () => {
    const c = t.clients[0];
    key1 = (await cli(['tunnel', 'key', c.name, '--socket', socket(2)])).out.trim();
    const key = key1;
    // The client moves to a new address; it tells server c.
    lab.ip(c.ns, ['addr', 'del', `${c.v4}/24`, 'dev', 'wan0']);
    lab.ip(c.ns, ['addr', 'add', '198.51.100.77/24', 'dev', 'wan0']);
    lab.ip(c.ns, ['route', 'replace', 'default', 'via', ISP_CLIENT_SIDE_V4]);
    const answer = lab.exec(c.ns, ['curl', '-s', '-m', '10', '-u', `${c.name}:${key}`, `http://${t.servers[2].v4}:8080/nic/update?hostname=${c.name}`]).trim();
    expect(answer).toBe('good 198.51.100.77');
    await waitFor(async () => ((await status(servers[1])).tunnels[0] as unknown as { remote_ipv4: string }).remote_ipv4 === '198.51.100.77', 1000, 10, 'the endpoint moved on b');
    await waitFor(() => ping(lab, c.ns, HOST_V6, { count: 1 }).received === 1, 5000, 100, 'traffic through b from the new address');
  });

  it('200 allocations at once on two servers never give the same prefix twice', async () => {
    // 100 in flight at a time, half on each server (a control socket takes 64 connections at once).
    const add = (i: number): Promise<{ tunnel: { server_ipv6: string; routed_prefixes: string[] } }> => controlRequest(socket(i % 2), {
      cmd: 'tunnel', op: 'add', name: `alloc${i}`, fields: { client_ipv4: `203.0.113.${10 + i}`, server: 'nowhere' }, allocate: true,
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

  it('with one etcd member killed everything works; with all stopped forwarding goes on and writes are refused; restarted, the servers catch up', async () => {
    const c = t.clients[0];
    const [c2] = [t.clients[1]];
    await etcd.killMember(0);
    const one = await cli(['tunnel', 'add', 'spare1', '--client-ipv4', '203.0.113.240', '--server', 'nowhere', '--socket', socket(0)]);
    expect(one.code, one.err).toBe(0);
    for (let i = 1; i < 3; i++) await etcd.killMember(i);
    await expectThrough();
    const refused = await cli(['tunnel', 'add', 'spare2', '--client-ipv4', '203.0.113.241', '--server', 'nowhere', '--socket', socket(0)]);
    expect(refused.code).not.toBe(0);
    expect(refused.err).toMatch(/registry in etcd cannot be changed now, nothing changed: no etcd endpoint answers/);
    // An endpoint change that cannot be stored: 911, and the tunnel stays where it is.
    lab.ip(c.ns, ['addr', 'add', '198.51.100.78/24', 'dev', 'wan0']);
    const update = lab.exec(c.ns, ['curl', '-s', '-m', '20', '-u', `${c.name}:${key1}`, `http://${t.servers[0].v4}:8080/nic/update?hostname=${c.name}&myip=198.51.100.78`]).trim();
    expect(update).toBe('911');
    expect(((await status(servers[1])).tunnels[0] as unknown as { remote_ipv4: string }).remote_ipv4).toBe('198.51.100.77');
    lab.ip(c.ns, ['addr', 'del', '198.51.100.78/24', 'dev', 'wan0']);

    for (let i = 0; i < 3; i++) etcd.startMember(i);
    await etcd.waitHealthy();
    // Cut off from etcd, server c still stops cleanly within a 10 s grace (a stop waits
    // at most 1 s for etcd to drop its liveness lease).
    lab.ip(t.servers[2].ns, ['link', 'set', 'mgmt0', 'down']);
    expect(await lab.stop(servers[2].proc, 10_000)).toBe(0);
    lab.ip(t.servers[2].ns, ['link', 'set', 'mgmt0', 'up']);
    await startServer(2);
    // Server b cut off from etcd (its management link down) while a adds a tunnel b carries.
    lab.ip(t.servers[1].ns, ['link', 'set', 'mgmt0', 'down']);
    const add = await cli(['tunnel', 'add', c2.name, '--client-ipv4', c2.v4, '--server-ipv6', `${c2.serverV6}/127`, '--client-ipv6', c2.clientV6, '--server', 'b', '--socket', socket(0)]);
    expect(add.code, add.err).toBe(0);
    // b is seen dead once its lease runs out.
    await waitFor(async () => {
      const r = (await controlRequest(socket(0), { cmd: 'cluster' })) as { servers: Array<{ name: string; alive: boolean }> };
      return r.servers.find((x) => x.name === 'b')?.alive === false;
    }, 20_000, 200, 'b reported dead');
    expect((await status(servers[1])).tunnels.map((x) => x.name)).toEqual([c.name]);
    lab.ip(t.servers[1].ns, ['link', 'set', 'mgmt0', 'up']);
    await waitFor(async () => (await status(servers[1])).tunnels.some((x) => x.name === c2.name), 30_000, 100, 'b catching up')
      .catch((e: Error) => { throw new Error(`${e.message}\n${servers[1].proc.output().split('\n').slice(-10).join('\n')}`); });
    await expectThrough();
  }, 90_000);

  it('a server killed with SIGKILL and started again carries its tunnels again, from the registry', async () => {
    const was = (await status(servers[1])).tunnels.map((x) => x.name).sort();
    process.kill(servers[1].proc.pid, 'SIGKILL');
    await servers[1].proc.exited;
    const again = await startServer(1);
    expect((await status(again)).tunnels.map((x) => x.name).sort()).toEqual(was);
    expect(again.proc.output()).toMatch(/undid what a previous run left behind/);
    expect(again.proc.output()).toMatch(new RegExp(`registry read from etcd.*here=${was.length}`));
    // One pass: the registry's tunnels applied once at start, no second whole pass.
    expect(again.proc.output()).not.toMatch(/state re-applied/);
    await expectThrough();
  }, 60_000);

  it('a server whose watch fell behind compaction reads the registry again and applies only the difference', async () => {
    const c = t.clients[0];
    const lostBefore = (servers[1].proc.output().match(/etcd unreachable/g) ?? []).length;
    lab.ip(t.servers[1].ns, ['link', 'set', 'mgmt0', 'down']);
    // b's watch notices the silence (12 s) and keeps trying to reconnect meanwhile.
    await waitFor(() => (servers[1].proc.output().match(/etcd unreachable/g) ?? []).length > lostBefore, 30_000, 100, 'b losing its watch');
    const added = await cli(['tunnel', 'add', 'behind', '--client-ipv4', '203.0.113.242', '--server-ipv6', '2001:db8:ff:4::/127', '--client-ipv6', '2001:db8:ff:4::1', '--server', 'b', '--socket', socket(0)]);
    expect(added.code, added.err).toBe(0);
    // Compact the history b would resume from.
    const head = JSON.parse(lab.exec(t.etcd, ['curl', '-s', '-X', 'POST', '-d', '{"key":"AA=="}', `${etcd.endpoints[0]}/v3/kv/range`])) as { header: { revision: string } };
    lab.exec(t.etcd, ['curl', '-s', '-X', 'POST', '-d', JSON.stringify({ revision: head.header.revision, physical: true }), `${etcd.endpoints[0]}/v3/kv/compaction`]);
    const before = (await status(servers[1])).tunnels.find((x) => x.name === c.name)!;
    lab.ip(t.servers[1].ns, ['link', 'set', 'mgmt0', 'up']);
    await waitFor(async () => (await status(servers[1])).tunnels.some((x) => x.name === 'behind'), 30_000, 100, 'b resynced');
    await waitFor(() => /fell behind etcd's compaction[^\n]*\n(.*\n)*.*registry changes applied"? added=1 removed=0 changed=0/.test(servers[1].proc.output()), 5000, 20, 'the resync and its one change')
      .catch((e: Error) => { throw new Error(`${e.message}\n${servers[1].proc.output().split('\n').slice(-8).join('\n')}`); });
    // The tunnel that did not change was not touched: its counters went on.
    const after = (await status(servers[1])).tunnels.find((x) => x.name === c.name)!;
    expect(after.rx.packets).toBeGreaterThanOrEqual(before.rx.packets);
    await expectThrough();
  }, 60_000);

  it('store migrate moves a file\'s tunnels into etcd and back out into a journal, checked, never over a registry with tunnels', async () => {
    const file = join(dir, 'old.yaml');
    const tunnels = [0, 1, 2].map((i) => `  - {name: m${i}, client_ipv4: 203.0.113.${100 + i}, server_ipv6: "2001:db8:ff:2::${(2 * i).toString(16)}/127", client_ipv6: "2001:db8:ff:2::${(2 * i + 1).toString(16)}", routed_prefixes: ["2001:db8:400:${i + 1}::/64"]}`);
    writeFileSync(file, `mode: server\ninterface: sixtun0\nendpoint_ranges: [documentation]\nlocal_ipv4: 203.0.113.1\nndp: off\ncontrol_socket: ${join(dir, 'old.sock')}\ntunnels:\n${tunnels.join('\n')}\n`);
    const url = `etcd://${etcd.endpoints.map((e) => e.replace('http://', '')).join(',')}/moved/`;
    const run = (...args: string[]): string => lab.exec(t.servers[0].ns, [process.execPath, SIXTUN_BIN, 'store', 'migrate', ...args]);
    expect(run('--from', file, '--to', url)).toMatch(/^migrated 3 tunnels/);
    expect(() => run('--from', file, '--to', url)).toThrow(/holds tunnels already/);
    const out = join(dir, 'moved.jsonl');
    expect(run('--from', url, '--to', out)).toMatch(/^migrated 3 tunnels/);
    const lines = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { tunnel: { name: string; routed_prefixes: string[] } });
    expect(lines.map((l) => [l.tunnel.name, l.tunnel.routed_prefixes]).sort()).toEqual([0, 1, 2].map((i) => [`m${i}`, [`2001:db8:400:${i + 1}::/64`]]));
    // A source that is not a registry: two tunnels on one endpoint.
    writeFileSync(join(dir, 'bad.jsonl'), ['a', 'b'].map((n, i) => JSON.stringify({ op: 'put', tunnel: { name: n, client_ipv4: '203.0.113.150', server_ipv6: `2001:db8:ff:3::${2 * i}/127`, client_ipv6: `2001:db8:ff:3::${2 * i + 1}` } })).join('\n') + '\n');
    expect(() => run('--from', join(dir, 'bad.jsonl'), '--to', `${url.slice(0, -'moved/'.length)}other/`)).toThrow(/duplicate remote IPv4 203\.0\.113\.150/);
  });
});
