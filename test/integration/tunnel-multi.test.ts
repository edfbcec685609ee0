// Three clients on one server: demultiplexing by outer source, BCP 38
// between clients, refusal of unknown remotes and martians, isolation.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import { describeRoot, useLab } from '../support/root.js';
import { buildTopology, HOST_V6, ISP_CLIENT_SIDE_V4, SERVER_V4, type Topology } from '../../src/lab/topology.js';
import { runDir, startClient, startServer, status, tunnelOf, type RunningDaemon } from '../../src/lab/daemons.js';
import { helperScript, ping } from '../helpers/programs.js';
import { readUntil, waitFor } from '../../src/lab/netns.js';

describeRoot('one server, three clients', () => {
  const lab = useLab('multi');
  const dir = runDir('multi');
  let t: Topology;
  let server: RunningDaemon;

  beforeAll(async () => {
    t = buildTopology(lab, { clients: 3 });
    server = await startServer(t, dir);
    for (const c of t.clients) await startClient(t, c, dir);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function send41(ns: string, outerSrc: string, innerSrc: string, innerDst: string, count: number, ecn: [number, number] = [0, 0], shape: string[] = []): void {
    const out = lab.exec(ns, [process.execPath, helperScript('send41'), outerSrc, SERVER_V4, innerSrc, innerDst, String(count), String(ecn[0]), String(ecn[1]), ...shape]);
    expect(JSON.parse(out)).toEqual({ sent: count });
  }

  /** Client name's counters once done() holds: the datapath thread counts in its own time. */
  function tunnelUntil(name: string, done: (x: ReturnType<typeof tunnelOf>) => boolean): Promise<ReturnType<typeof tunnelOf>> {
    return readUntil(async () => tunnelOf(await status(server), name), done);
  }

  it('every client reaches the host through its own tunnel', () => {
    for (const c of t.clients) {
      expect(ping(lab, c.ns, HOST_V6).received).toBe(3);
      expect(ping(lab, t.host, c.clientV6).received).toBe(3);
    }
  });

  it('a client’s traffic never leaves through another client’s tunnel', async () => {
    const before = await status(server);
    expect(ping(lab, t.host, t.clients[0].clientV6, { count: 5 }).received).toBe(5);
    const after = await status(server);
    const delta = (name: string): number => tunnelOf(after, name).tx.packets - tunnelOf(before, name).tx.packets;
    expect(delta(t.clients[0].name)).toBeGreaterThanOrEqual(5);
    expect(delta(t.clients[1].name)).toBe(0);
    expect(delta(t.clients[2].name)).toBe(0);
  });

  it('drops and counts packets a client sends with another client’s inner source', async () => {
    const [c1, c2] = t.clients;
    const before = tunnelOf(await status(server), c2.name).drops['spoofed-source'] ?? 0;
    send41(c2.ns, c2.v4, c1.clientV6, HOST_V6, 7);
    // Also the server's own tunnel address is not the client's to use.
    send41(c2.ns, c2.v4, c2.serverV6, HOST_V6, 2);
    const after = await tunnelUntil(c2.name, (x) => (x.drops['spoofed-source'] ?? 0) - before >= 9);
    expect((after.drops['spoofed-source'] ?? 0) - before).toBe(9);
  });

  it('drops and counts protocol 41 from an unknown IPv4 address', async () => {
    const before = (await status(server)).drops_without_tunnel['unknown-remote'] ?? 0;
    send41(t.isp, ISP_CLIENT_SIDE_V4, t.clients[0].clientV6, HOST_V6, 4);
    const unknown = async (): Promise<number> => ((await status(server)).drops_without_tunnel['unknown-remote'] ?? 0) - before;
    expect(await readUntil(unknown, (n) => n >= 4)).toBe(4);
  });

  it('drops martian inner sources and destinations, and CE on a Not-ECT packet', async () => {
    const c = t.clients[2];
    const before = tunnelOf(await status(server), c.name).drops;
    send41(c.ns, c.v4, '::1', HOST_V6, 1);
    send41(c.ns, c.v4, 'ff02::1', HOST_V6, 1);
    send41(c.ns, c.v4, '::ffff:192.0.2.1', HOST_V6, 1);
    send41(c.ns, c.v4, c.clientV6, '::1', 2);
    send41(c.ns, c.v4, c.clientV6, 'ff05::1', 1);
    send41(c.ns, c.v4, c.clientV6, HOST_V6, 3, [3, 0]);
    const grew = (now: Record<string, number>, k: string): number => (now[k] ?? 0) - (before[k] ?? 0);
    const after = (await tunnelUntil(c.name, (x) => ['martian-source', 'martian-destination', 'ecn-ce-not-ect'].every((k) => grew(x.drops, k) >= 3))).drops;
    const d = (k: string): number => grew(after, k);
    expect(d('martian-source')).toBe(3);
    expect(d('martian-destination')).toBe(3);
    expect(d('ecn-ce-not-ect')).toBe(3);
  });

  it('drops tiny and length-lying inner packets, and an IPv4-mapped destination', async () => {
    const c = t.clients[2];
    const before = tunnelOf(await status(server), c.name).drops;
    send41(c.ns, c.v4, c.clientV6, HOST_V6, 2, [0, 0], ['20']);
    send41(c.ns, c.v4, c.clientV6, HOST_V6, 3, [0, 0], ['64', '2000']);
    send41(c.ns, c.v4, c.clientV6, '::ffff:192.0.2.1', 1);
    const grew = (now: Record<string, number>, k: string): number => (now[k] ?? 0) - (before[k] ?? 0);
    const after = (await tunnelUntil(c.name, (x) => grew(x.drops, 'inner-truncated') >= 5 && grew(x.drops, 'martian-destination') >= 1)).drops;
    const d = (k: string): number => grew(after, k);
    expect(d('inner-truncated')).toBe(5);
    expect(d('martian-destination')).toBe(1);
  });

  it('ignores ICMPv4 errors quoting packets it never sent', async () => {
    const before = await status(server);
    const c = t.clients[0];
    // Quoting a datagram to an address that is no tunnel's remote, and one that claims another source.
    const a = JSON.parse(lab.exec(t.isp, [process.execPath, helperScript('send-icmp4'), SERVER_V4, '3', '1', SERVER_V4, '192.0.2.200', '3']));
    const b = JSON.parse(lab.exec(t.isp, [process.execPath, helperScript('send-icmp4'), SERVER_V4, '3', '1', '203.0.113.99', c.v4, '2']));
    expect([a.sent, b.sent]).toEqual([3, 2]);
    const notOurs = (x: typeof before): number => x.drops_without_tunnel['icmp-not-ours'] ?? 0;
    const after = await readUntil(() => status(server), (x) => notOurs(x) - notOurs(before) >= 5);
    expect(notOurs(after) - notOurs(before)).toBe(5);
    expect(tunnelOf(after, c.name).icmp_sent).toBe(tunnelOf(before, c.name).icmp_sent);
    expect(ping(lab, t.host, c.clientV6).received).toBe(3);
  });

  it('an off-path host that knows both endpoints can neither push the path MTU below 552 nor aim ICMPv6 errors at a stranger', async () => {
    const c = t.clients[1];
    const before = tunnelOf(await status(server), c.name);
    const icmp4 = (...args: string[]): { sent: number } => JSON.parse(lab.exec(t.isp, [process.execPath, helperScript('send-icmp4'), SERVER_V4, ...args]));
    // Fragmentation Needed, next-hop MTU 68, quoting a real-looking tunnel datagram.
    expect(icmp4('3', '4', SERVER_V4, c.v4, '1', '68', HOST_V6, c.clientV6).sent).toBe(1);
    // Host unreachable quoting an inner packet between two strangers.
    const forged = icmp4('3', '1', SERVER_V4, c.v4, '3', '0', '2001:db8:bad::1', '2001:db8:bad::2').sent;
    expect(forged).toBeGreaterThan(0);
    const notOurs = (x: typeof before): number => x.drops['icmp-not-ours'] ?? 0;
    await waitFor(async () => {
      const now = tunnelOf(await status(server), c.name);
      return now.path_mtu !== null && notOurs(now) - notOurs(before) >= forged;
    }, 3000, 20, 'the errors read');
    const after = tunnelOf(await status(server), c.name);
    expect(after.path_mtu).toBe(552);
    expect(after.icmp_sent).toBe(before.icmp_sent);
    expect(notOurs(after) - notOurs(before)).toBe(forged);
    // Still forwarding, large packets too: after one Packet Too Big (1280) the host's fragments are fragmented by sixtun.
    ping(lab, t.host, c.clientV6, { size: 1400, count: 1 });
    expect(ping(lab, t.host, c.clientV6, { size: 1400 }).received).toBe(3);
  });

  it('propagates CE from the outer header into an ECT inner packet', async () => {
    const c = t.clients[2];
    const before = tunnelOf(await status(server), c.name);
    // ECT(0) inner, CE outer: forwarded (as CE) rather than dropped.
    send41(c.ns, c.v4, c.clientV6, HOST_V6, 2, [3, 2]);
    const after = await tunnelUntil(c.name, (x) => x.rx.packets - before.rx.packets >= 2);
    expect(after.rx.packets - before.rx.packets).toBe(2);
    expect(after.drops['ecn-ce-not-ect'] ?? 0).toBe(before.drops['ecn-ce-not-ect'] ?? 0);
  });
});
