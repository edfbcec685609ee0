// Faults under a running server, and clean shutdown in every way it can end.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeRoot, useLab } from '../support/root.js';
import { buildTopology, ROUTER_V6, SERVER_EXT_V6, serverConfigYaml, type Topology } from '../../src/lab/topology.js';
import { runDir, startClient, startDaemon, startServer, type RunningDaemon, SIXTUN_BIN } from '../../src/lab/daemons.js';
import { ping } from '../helpers/programs.js';
import { Lab, waitFor } from '../../src/lab/netns.js';

type Json = Record<string, unknown>;

function snapshot(lab: Lab, ns: string): Json {
  const addr = lab.ipJson<Json[]>(ns, ['addr', 'show']).map((l) => {
    const { qdisc, ...rest } = l;
    void qdisc;
    return rest;
  });
  return {
    addr,
    route6: lab.ipJson(ns, ['-6', 'route', 'show', 'table', 'all']),
    route4: lab.ipJson(ns, ['-4', 'route', 'show', 'table', 'all']),
    proxy: lab.ipJson(ns, ['-6', 'neigh', 'show', 'proxy']),
    sysctl: ['net.ipv6.conf.all.forwarding', 'net.ipv6.conf.ext0.proxy_ndp', 'net.ipv6.conf.ext0.forwarding']
      .map((k) => lab.exec(ns, ['sysctl', '-n', k]).trim()),
  };
}

/** Polls until cond holds; returns the milliseconds it took. */
async function timeUntil(cond: () => boolean, what: string, limitMs = 5000): Promise<number> {
  const t0 = Date.now();
  await waitFor(cond, limitMs, 10, what);
  return Date.now() - t0;
}

describeRoot('faults under a running server', () => {
  const lab = useLab('fault');
  const dir = runDir('fault');
  let t: Topology;
  let server: RunningDaemon;

  beforeAll(async () => {
    t = buildTopology(lab, { clients: 1 });
    server = await startServer(t, dir);
    await startClient(t, t.clients[0], dir);
    expect(ping(lab, t.host, t.clients[0].clientV6).received).toBe(3);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const routes = (): string[] => lab.ipJson<Array<{ dst: string }>>(t.server, ['-6', 'route', 'show', 'proto', '246']).map((r) => r.dst);
  const tunAddrs = (): string[] => {
    try {
      const l = lab.ipJson<Array<{ addr_info: Array<{ local: string }> }>>(t.server, ['-6', 'addr', 'show', 'dev', 'sixtun0']);
      return l.length ? l[0].addr_info.map((a) => a.local) : [];
    } catch {
      return []; // the device does not exist (yet)
    }
  };

  it('restores its routes within 1 s after they are flushed by hand', async () => {
    const before = routes();
    expect(before.length).toBeGreaterThan(0);
    lab.ip(t.server, ['-6', 'route', 'flush', 'proto', '246']);
    expect(await timeUntil(() => routes().length === before.length, 'routes restored').catch((e: Error) => { throw new Error(`${e.message}\n${server.proc.output().split('\n').slice(-8).join('\n')}`); })).toBeLessThan(1000);
    // Only what was deleted is put back: no pass over the whole state.
    await waitFor(() => /msg="?repaired"? addresses=0 routes=2 prefix_routes=0 rules=0 proxies=0/.test(server.proc.output()), 2000, 10, 'the repair log line');
    expect(server.proc.output()).not.toMatch(/state re-applied/);
  });

  it('puts every route of its TUN back within 1 s after `ip -6 route flush dev sixtun0`, the kernel\'s prefix routes of its addresses too, and traffic resumes', async () => {
    // The server's fe80::/64; the client's fe80::/64 and the /127 of its tunnel address (without it, return traffic is lost).
    for (const [ns, own] of [[t.server, ['fe80::/64 kernel']], [t.clients[0].ns, ['fe80::/64 kernel', '2001:db8:ff::2/127 kernel']]] as const) {
      const tunRoutes = (): string[] => lab.ipJson<Array<{ dst: string; protocol?: string }>>(ns, ['-6', 'route', 'show', 'dev', 'sixtun0'])
        .map((r) => `${r.dst} ${r.protocol ?? 'boot'}`).sort();
      const before = tunRoutes();
      for (const r of own) expect(before).toContain(r);
      lab.ip(ns, ['-6', 'route', 'flush', 'dev', 'sixtun0']);
      expect(tunRoutes().length).toBeLessThan(before.length);
      expect(await timeUntil(() => JSON.stringify(tunRoutes()) === JSON.stringify(before), `every route back in ${ns}`)
        .catch((e: Error) => { throw new Error(`${e.message}: ${tunRoutes().join(', ')} instead of ${before.join(', ')}`); })).toBeLessThan(1000);
      expect(ping(lab, t.host, t.clients[0].clientV6).received).toBe(3);
    }
  });

  it('restores its address within 1 s after it is removed', async () => {
    // The TUN's only address: its link-local from the local IPv4 (RFC 4213 §3.7).
    lab.ip(t.server, ['addr', 'del', 'fe80::cb00:7101/64', 'dev', 'sixtun0']);
    expect(await timeUntil(() => tunAddrs().includes('fe80::cb00:7101'), 'address restored')).toBeLessThan(1000);
    expect(ping(lab, t.clients[0].ns, t.clients[0].serverV6).received).toBe(3);
  });

  it('brings the TUN back up within 1 s after it is set down', async () => {
    lab.ip(t.server, ['link', 'set', 'sixtun0', 'down']);
    const up = (): boolean => (lab.ipJson<Array<{ flags: string[] }>>(t.server, ['link', 'show', 'sixtun0'])[0]?.flags ?? []).includes('UP');
    expect(await timeUntil(() => up() && tunAddrs().includes('fe80::cb00:7101') && routes().length > 0, 'TUN up again')).toBeLessThan(1000);
    expect(ping(lab, t.host, t.clients[0].clientV6).received).toBe(3);
  });

  it('re-creates the TUN within 1 s after it is deleted, and traffic resumes', async () => {
    lab.ip(t.server, ['link', 'del', 'sixtun0']);
    const took = await timeUntil(() => tunAddrs().includes('fe80::cb00:7101') && routes().length > 0, 'TUN re-created').catch((e: Error) => {
      throw new Error(`${e.message}\n${server.proc.output().split('\n').slice(-15).join('\n')}`);
    });
    expect(took).toBeLessThan(1000);
    await waitFor(() => /TUN device was deleted: created it again/.test(server.proc.output()), 2000, 10, 'the re-create log line');
    expect(ping(lab, t.host, t.clients[0].clientV6).received).toBe(3);
  });

  it('keeps answering NDP after the external interface goes down and up', async () => {
    lab.ip(t.server, ['link', 'set', 'ext0', 'down']);
    lab.ip(t.server, ['link', 'set', 'ext0', 'up']);
    // The operator's own configuration of ext0 (the kernel drops IPv6 addresses on down).
    lab.addr(t.server, 'ext0', `${SERVER_EXT_V6}/64`, ['nodad']);
    lab.ip(t.server, ['-6', 'route', 'replace', 'default', 'via', ROUTER_V6]);
    lab.ip(t.router, ['-6', 'neigh', 'flush', 'dev', 'to-srv']);
    await timeUntil(() => ping(lab, t.host, t.clients[0].clientV6, { count: 1 }).received === 1, 'traffic after ext0 down/up', 10_000);
    expect(ping(lab, t.host, t.clients[0].clientV6).received).toBe(3);
  });
});

describeRoot('clean shutdown', () => {
  const lab = useLab('stop');
  const dir = runDir('stop');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  let t: Topology;

  beforeAll(() => {
    t = buildTopology(lab, { clients: 1 });
  });

  function configWith(name: string, extra: Partial<{ ndp: 'userspace' | 'kernel' | 'off'; socket: string; more: string }>): string {
    const text = serverConfigYaml(t, { ndp: extra.ndp ?? 'kernel', controlSocket: extra.socket ?? join(dir, `${name}.sock`), extra: extra.more });
    const file = join(dir, `${name}.yaml`);
    writeFileSync(file, text);
    return file;
  }

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`after ${signal} the namespace is exactly as before start`, async () => {
      const before = snapshot(lab, t.server);
      const d = await startDaemon(lab, t.server, 'server', configWith(signal, {}), join(dir, `${signal}.sock`));
      expect(snapshot(lab, t.server)).not.toEqual(before);
      process.kill(d.proc.pid, signal);
      expect(await d.proc.exited).toBe(0);
      expect(snapshot(lab, t.server)).toEqual(before);
    });
  }

  // What the start-up checks can see (a missing interface, a foreign address) is refused before
  // anything is set up (preflight.test.ts); these fail after TUN, addresses, sysctls and NDP are up.
  for (const [what, extra, error] of [
    ['the control socket cannot be made (ndp: userspace, its directory is a file)', { ndp: 'userspace', socket: '/proc/version/x.sock' }, /ENOTDIR/],
    ['the metrics listener cannot bind (ndp: kernel, an address not here)', { ndp: 'kernel', more: 'metrics: {listen: "[2001:db8::99]:9641"}\n' }, /EADDRNOTAVAIL/],
  ] as const) {
    it(`a start that fails half way (${what}) leaves the namespace as before`, async () => {
      const before = snapshot(lab, t.server);
      const p = lab.spawn(t.server, [process.execPath, SIXTUN_BIN, 'server', '-c', configWith('half', extra)]);
      expect(await p.exited).toBe(1);
      expect(p.output()).toMatch(/start failed/);
      expect(p.output()).toMatch(error);
      expect(snapshot(lab, t.server)).toEqual(before);
    });
  }

  it('after SIGKILL, the next start undoes what the killed one left, and its stop leaves the namespace as before', async () => {
    const before = snapshot(lab, t.server);
    const cfg = configWith('kill', { ndp: 'kernel' });
    const first = await startDaemon(lab, t.server, 'server', cfg, join(dir, 'kill.sock'));
    process.kill(first.proc.pid, 'SIGKILL');
    await first.proc.exited;
    const left = snapshot(lab, t.server);
    // The TUN went with the process, but sysctls and proxy entries stay behind.
    expect(left.proxy).not.toEqual(before.proxy);
    expect(left.sysctl).not.toEqual(before.sysctl);
    const second = await startDaemon(lab, t.server, 'server', cfg, join(dir, 'kill.sock'));
    await waitFor(() => /undid what a previous run left behind.*pid=\d+/.test(second.proc.output()), 2000, 10, 'the recovery log line');
    process.kill(second.proc.pid, 'SIGTERM');
    expect(await second.proc.exited).toBe(0);
    expect(snapshot(lab, t.server)).toEqual(before);
  });
});
