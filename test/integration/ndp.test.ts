// The userspace NDP proxy against a real kernel as the upstream router.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { rmSync, writeFileSync } from 'node:fs';
import { describeRoot, useLab } from '../support/root.js';
import { buildTopology, ROUTER_V6, SERVER_EXT_V6, serverConfigYaml, type Topology } from '../../src/lab/topology.js';
import { runDir, startClient, startServer, status, type RunningDaemon } from '../../src/lab/daemons.js';
import { helperScript, ping } from '../helpers/programs.js';
import { Lab, waitFor } from '../../src/lab/netns.js';

interface Na {
  ethDst: string; ethSrc: string; ipSrc: string; ipDst: string; hopLimit: number;
  router: boolean; solicited: boolean; override: boolean; target: string; tlla: string | null;
}

interface NdpCounters { seen: number; answered: number; not_ours: number; rate_limited: number; other_host: number; invalid: Record<string, number> }

function sendNs(lab: Lab, ns: string, spec: Record<string, unknown>): { sent: number; replies: Na[] } {
  return JSON.parse(lab.exec(ns, [process.execPath, helperScript('send-ns'), JSON.stringify({ iface: 'to-srv', ...spec })], { timeoutMs: 60_000 }));
}

function macOf(lab: Lab, ns: string, ifname: string): string {
  return lab.ipJson<Array<{ address: string }>>(ns, ['link', 'show', ifname])[0].address;
}

describeRoot('userspace NDP proxy', () => {
  const lab = useLab('ndp');
  const dir = runDir('ndp');
  let t: Topology;
  let server: RunningDaemon;
  let serverMac: string;

  async function counters(): Promise<NdpCounters> {
    return ((await status(server)) as unknown as { ndp: NdpCounters }).ndp;
  }

  beforeAll(async () => {
    t = buildTopology(lab, { clients: 2 });
    server = await startServer(t, dir, { ndp: 'userspace' });
    await startClient(t, t.clients[0], dir);
    serverMac = macOf(lab, t.server, 'ext0');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('the router resolves the client address to the server’s MAC, and the host reaches the client, with no kernel proxy state', async () => {
    const c = t.clients[0];
    expect(ping(lab, t.host, c.clientV6).received).toBe(3);
    const entry = lab.ipJson<Array<{ dst: string; lladdr: string; state: string[] }>>(t.router, ['-6', 'neigh', 'show', c.clientV6, 'dev', 'to-srv'])[0];
    expect(entry.lladdr).toBe(serverMac);
    expect(entry.state).toEqual(expect.arrayContaining([expect.stringMatching(/REACHABLE|STALE|DELAY|PROBE/)]));
    // Nothing of the kernel's proxy machinery is in use.
    expect(lab.ipJson(t.server, ['-6', 'neigh', 'show', 'proxy'])).toEqual([]);
    expect(lab.exec(t.server, ['sysctl', '-n', 'net.ipv6.conf.ext0.proxy_ndp']).trim()).toBe('0');
    expect(lab.exec(t.server, ['sysctl', '-n', 'net.ipv6.conf.all.proxy_ndp']).trim()).toBe('0');
    expect((await counters()).answered).toBeGreaterThanOrEqual(1);
  });

  it('answers a multicast NS as RFC 4861 §7.2.4 says: unicast, S=1, O=0, R, TLLA, hop limit 255, from the link-local address', () => {
    const c = t.clients[0];
    const r = sendNs(lab, t.router, { target: c.clientV6, src: ROUTER_V6 });
    expect(r.replies).toHaveLength(1);
    const na = r.replies[0];
    expect(na).toMatchObject({
      ethDst: macOf(lab, t.router, 'to-srv'), ethSrc: serverMac, ipDst: ROUTER_V6, hopLimit: 255,
      router: true, solicited: true, override: false, target: c.clientV6, tlla: serverMac,
    });
    expect(na.ipSrc).toMatch(/^fe80::/);
  });

  it('answers a DAD NS for a client address to ff02::1 with S=0', () => {
    const r = sendNs(lab, t.router, { target: t.clients[0].clientV6, src: '::' });
    expect(r.replies).toHaveLength(1);
    expect(r.replies[0]).toMatchObject({ ethDst: '33:33:00:00:00:01', ipDst: 'ff02::1', solicited: false, override: false, tlla: serverMac });
  });

  it('ignores, and counts, every NS it must not answer', async () => {
    const c = t.clients[0];
    // A source of its own, so the router kernel's NUD probes (and their answers) do not mix in.
    const SOLICITOR = 'fe80::5';
    const cases: Array<[string, Record<string, unknown>, (before: NdpCounters, after: NdpCounters) => number]> = [
      ['hop limit 64', { target: c.clientV6, src: SOLICITOR, hopLimit: 64 }, (b, a) => (a.invalid['bad-hop-limit'] ?? 0) - (b.invalid['bad-hop-limit'] ?? 0)],
      ['a target of no tunnel', { target: '2001:db8:ff::99', src: SOLICITOR }, (b, a) => a.not_ours - b.not_ours],
      ['a multicast target', { target: 'ff02::1', src: SOLICITOR, dst: 'ff02::1:ff00:1' }, (b, a) => (a.invalid['multicast-target'] ?? 0) - (b.invalid['multicast-target'] ?? 0)],
      ['DAD to a non-solicited-node address', { target: c.clientV6, src: '::', dst: 'ff02::1' }, (b, a) => (a.invalid['dad-not-solicited-node'] ?? 0) - (b.invalid['dad-not-solicited-node'] ?? 0)],
      ['DAD with a source link-layer option', { target: c.clientV6, src: '::', slla: true }, (b, a) => (a.invalid['dad-with-source-link-layer'] ?? 0) - (b.invalid['dad-with-source-link-layer'] ?? 0)],
      ['a truncated packet', { target: c.clientV6, src: SOLICITOR, truncate: 20 }, (b, a) => (a.invalid.truncated ?? 0) - (b.invalid.truncated ?? 0)],
      ['a bad checksum', { target: c.clientV6, src: SOLICITOR, badChecksum: true }, (b, a) => (a.invalid['bad-checksum'] ?? 0) - (b.invalid['bad-checksum'] ?? 0)],
      ['code 1', { target: c.clientV6, src: SOLICITOR, code: 1 }, (b, a) => (a.invalid['bad-code'] ?? 0) - (b.invalid['bad-code'] ?? 0)],
    ];
    for (const [what, spec, delta] of cases) {
      const before = await counters();
      const r = sendNs(lab, t.router, { ...spec, listenMs: 300 });
      const after = await counters();
      expect(r.replies, what).toEqual([]);
      expect(delta(before, after), what).toBe(1);
      expect(after.answered, what).toBe(before.answered);
    }
  });

  it('does not answer a frame for another host\'s MAC that a promiscuous interface shows it (a bridge port, tcpdump)', async () => {
    const c = t.clients[0];
    lab.ip(t.server, ['link', 'set', 'ext0', 'promisc', 'on']);
    try {
      const before = await counters();
      const r = sendNs(lab, t.router, { target: c.clientV6, src: 'fe80::5', dstMac: '02:00:00:00:99:99', listenMs: 300 });
      await waitFor(async () => (await counters()).other_host > before.other_host, 2000, 20, 'the frame counted');
      expect(r.replies).toEqual([]);
      // The same NS to the server's own MAC is answered.
      expect(sendNs(lab, t.router, { target: c.clientV6, src: 'fe80::5', dstMac: serverMac, listenMs: 300 }).replies).toHaveLength(1);
    } finally {
      lab.ip(t.server, ['link', 'set', 'ext0', 'promisc', 'off']);
    }
  });

  it('does not listen on another interface', async () => {
    const before = await counters();
    // The server's IPv4 uplink is another Ethernet link: an NS there is not seen at all.
    const r = JSON.parse(lab.exec(t.isp, [process.execPath, helperScript('send-ns'), JSON.stringify({ iface: 'to-srv', target: t.clients[0].clientV6, src: 'fe80::1', count: 10, listenMs: 300 })]));
    expect(r.replies).toEqual([]);
    const after = await counters();
    // The router's own neighbour probes on ext0 may arrive meanwhile (and are
    // counted); the 10 solicitations on the other link must not be.
    expect(after.seen - before.seen).toBeLessThan(10);
  });

  it('stops answering for a tunnel once it is removed', async () => {
    const c2 = t.clients[1];
    expect(sendNs(lab, t.router, { target: c2.clientV6, src: ROUTER_V6 }).replies).toHaveLength(1);
    writeFileSync(server.config, serverConfigYaml(t, { ndp: 'userspace', controlSocket: server.socket }, [t.clients[0]]));
    process.kill(server.proc.pid, 'SIGHUP');
    await waitFor(() => server.proc.output().includes('msg="reloaded"'), 5000, 20, 'reload');
    const before = await counters();
    expect(sendNs(lab, t.router, { target: c2.clientV6, src: ROUTER_V6 }).replies).toEqual([]);
    // At least ours: the router's kernel may solicit the server's own address meanwhile (not ours either).
    expect((await counters()).not_ours - before.not_ours).toBeGreaterThanOrEqual(1);
  });

  it('holds its rate under 10 000 NS/s from one solicitor for 5 s and stays responsive, memory flat', async () => {
    const before = await counters();
    const rssBefore = ((await status(server)) as unknown as { memory: { rss: number } }).memory.rss;
    const flood = lab.spawn(t.router, [process.execPath, helperScript('send-ns'), JSON.stringify({
      iface: 'to-srv', target: t.clients[0].clientV6, src: ROUTER_V6, perSecond: 10_000, seconds: 5, listenMs: 200,
    })]);
    // The control socket answers during the flood.
    await waitFor(async () => (await counters()).rate_limited - before.rate_limited >= 2000, 10_000, 20, 'the flood under way');
    const t0 = Date.now();
    await status(server);
    expect(Date.now() - t0).toBeLessThan(1000);
    await flood.exited;
    const out = JSON.parse(flood.output().trim().split('\n').pop()!) as { sent: number; replies: number };
    const after = await counters();
    expect(out.sent).toBeGreaterThan(20_000);
    // 20 answers a second per solicitor, burst 20: at most 20 + 20 × ~5.5 s.
    const answered = after.answered - before.answered;
    expect(answered).toBeGreaterThanOrEqual(50);
    expect(answered).toBeLessThanOrEqual(20 + 20 * 6);
    expect(after.rate_limited - before.rate_limited).toBeGreaterThan(out.sent * 0.9);
    const rssAfter = ((await status(server)) as unknown as { memory: { rss: number } }).memory.rss;
    expect(rssAfter - rssBefore).toBeLessThan(32 * 1024 * 1024);
  });

  it('takes the interface out of all-multicast mode when it stops', async () => {
    const flags = (): number => parseInt(lab.exec(t.server, ['cat', '/sys/class/net/ext0/flags']).trim(), 16);
    expect(flags() & 0x200).toBe(0x200);
    expect(await lab.stop(server.proc)).toBe(0);
    expect(flags() & 0x200).toBe(0);
  });
});

describeRoot('kernel proxy_ndp as the oracle', () => {
  const dir = runDir('ndpk');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('ndp: kernel and ndp: userspace answer the same NS with the same flags, target and options', async () => {
    const answers: Record<string, Na[]> = {};
    for (const mode of ['kernel', 'userspace'] as const) {
      const sub = new Lab(`nk${mode[0]}`);
      try {
        const t = buildTopology(sub, { clients: 1 });
        // The kernel delays proxied answers to multicast NS by up to proxy_delay; none here.
        sub.sysctl(t.server, 'net.ipv6.neigh.ext0.proxy_delay', '0');
        await startServer(t, dir, { ndp: mode });
        const c = t.clients[0];
        const multicast = sendNs(sub, t.router, { target: c.clientV6, src: ROUTER_V6, listenMs: 1500 });
        const dad = sendNs(sub, t.router, { target: c.clientV6, src: '::', listenMs: 1500 });
        answers[mode] = [...multicast.replies, ...dad.replies];
        if (mode === 'kernel') expect(sub.ipJson(t.server, ['-6', 'neigh', 'show', 'proxy'])).toHaveLength(1);
      } finally {
        await sub.cleanup();
      }
    }
    const fields = (na: Na): unknown => ({ ipDst: na.ipDst, hopLimit: na.hopLimit, router: na.router, solicited: na.solicited, override: na.override, target: na.target, tlla: na.tlla !== null });
    expect(answers.kernel).toHaveLength(2);
    expect(answers.userspace.map(fields)).toEqual(answers.kernel.map(fields));
    // The one documented difference: the kernel picks a source by address
    // selection (the global address towards a global solicitor); sixtun
    // always answers from the link-local address.
    expect(answers.kernel[0].ipSrc).toBe(SERVER_EXT_V6);
    expect(answers.userspace[0].ipSrc).toMatch(/^fe80::/);
  });
});
