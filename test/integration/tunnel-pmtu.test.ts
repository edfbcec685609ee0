// Path MTU between real kernels (RFC 4213 §3.2.2) and ICMPv4 errors relayed
// as ICMPv6 (§3.4).
import { afterAll, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import { describeRoot, useLab } from '../support/root.js';
import { buildTopology, HOST_V6, type Topology } from '../../src/lab/topology.js';
import { runDir, startClient, startServer, status, tcpTransfer, tunnelOf, type RunningDaemon } from '../../src/lab/daemons.js';
import { ping } from '../helpers/programs.js';
import { Lab } from '../../src/lab/netns.js';

const MiB = 1024 * 1024;

async function tunnelPair(lab: Lab, dir: string, ispServerMtu?: number): Promise<Topology & { daemons: RunningDaemon[] }> {
  const t = buildTopology(lab, { clients: 1, ispServerMtu });
  const server = await startServer(t, dir);
  const client = await startClient(t, t.clients[0], dir);
  return { ...t, daemons: [server, client] };
}

/** The path MTU the kernel in ns has cached towards addr (from a PTB), or null. */
function cachedMtu(lab: Lab, ns: string, addr: string): number | null {
  const r = lab.ipJson<Array<{ metrics?: Array<{ mtu?: number }> }>>(ns, ['-6', 'route', 'get', addr]);
  return r[0]?.metrics?.find((m) => m.mtu !== undefined)?.mtu ?? null;
}

describeRoot('path MTU 1400 on the IPv4 path', () => {
  const lab = useLab('pmtu');
  const dir = runDir('pmtu');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('TCP completes both ways and each sender learns MTU 1380 from a Packet Too Big', async () => {
    const t = await tunnelPair(lab, dir, 1400);
    const c = t.clients[0];
    // Host → client first: once one end has learned 1380 its SYN carries a
    // smaller MSS and the other end never needs a Packet Too Big.
    const down = await tcpTransfer(lab, t.host, c.ns, c.clientV6, 4 * MiB, 5012);
    expect(down.received).toBe(down.sent);
    expect(cachedMtu(lab, t.host, c.clientV6)).toBe(1380);
    // Forget it on the host, so its SYN-ACK offers the full MSS again and the
    // client must learn the path itself (from the isp's ICMPv4 and sixtun's PTB).
    lab.ip(t.host, ['-6', 'route', 'flush', 'cache']);
    const up = await tcpTransfer(lab, c.ns, t.host, HOST_V6, 4 * MiB, 5011);
    expect(up.received).toBe(up.sent);
    expect(cachedMtu(lab, c.ns, HOST_V6)).toBe(1380);
  });
});

describeRoot('path MTU below 1280 + 20', () => {
  const dir = runDir('pmtus');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  for (const mtu of [1300, 1290]) {
    it(`large pings pass with an IPv4 path MTU of ${mtu} (IPv6 fragments of 1280, IPv4 fragmented by sixtun below 1300)`, async () => {
      const sub = new Lab(`pm${mtu}`);
      try {
        const t = await tunnelPair(sub, dir, mtu);
        const c = t.clients[0];
        // The first large pings teach both ends the MTU (each loses a few);
        // after that every large ping must pass, both ways.
        ping(sub, c.ns, HOST_V6, { count: 6, size: 1400, interval: 0.2 });
        ping(sub, t.host, c.clientV6, { count: 6, size: 1400, interval: 0.2 });
        expect(cachedMtu(sub, c.ns, HOST_V6)).toBe(1280);
        expect(cachedMtu(sub, t.host, c.clientV6)).toBe(1280);
        const r = ping(sub, c.ns, HOST_V6, { count: 5, size: 1400 });
        expect(r.received, r.output).toBe(5);
        const back = ping(sub, t.host, c.clientV6, { count: 5, size: 1400 });
        expect(back.received, back.output).toBe(5);
      } finally {
        await sub.cleanup();
      }
    });
  }
});

describeRoot('an ISP link of MTU 1200', () => {
  const lab = useLab('p1200');
  const dir = runDir('p1200');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('ping -s 2000 and 16 MiB of TCP cross it both ways, byte-exact, every packet forwarded or a named drop', async () => {
    const t = await tunnelPair(lab, dir, 1200);
    const c = t.clients[0];
    // The first large pings teach both ends the path (a PTB each way); then all must pass.
    ping(lab, c.ns, HOST_V6, { count: 4, size: 2000, interval: 0.2 });
    ping(lab, t.host, c.clientV6, { count: 4, size: 2000, interval: 0.2 });
    const up = ping(lab, c.ns, HOST_V6, { count: 5, size: 2000 });
    expect(up.received, up.output).toBe(5);
    const down = ping(lab, t.host, c.clientV6, { count: 5, size: 2000 });
    expect(down.received, down.output).toBe(5);
    for (const [from, to, addr, port] of [[t.host, c.ns, c.clientV6, 5021], [c.ns, t.host, HOST_V6, 5022]] as const) {
      const r = await tcpTransfer(lab, from, to, addr, 16 * MiB, port);
      expect(r.received).toBe(r.sent);
    }
    // Both ends fragmented (each learned 1200); nothing lost to a full fragment buffer or a failed send.
    for (const d of t.daemons) {
      const s = (await status(d)).tunnels[0];
      expect(s.drops['tx-busy'] ?? 0).toBe(0);
      expect(s.drops['tx-error'] ?? 0).toBe(0);
      expect(s.path_mtu).toBe(1200);
    }
  });
});

describeRoot('ICMPv4 errors on the IPv4 path', () => {
  const lab = useLab('icmp');
  const dir = runDir('icmp');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('an ICMPv4 unreachable about a tunnel packet reaches the inner sender as ICMPv6 address unreachable', async () => {
    const t = await tunnelPair(lab, dir);
    const c = t.clients[0];
    expect(ping(lab, t.host, c.clientV6, { count: 1 }).received).toBe(1);
    // The isp now refuses the client's address: the server's packets draw ICMPv4 host unreachable.
    lab.ip(t.isp, ['route', 'add', 'unreachable', `${c.v4}/32`]);
    const r = ping(lab, t.host, c.clientV6, { count: 2 });
    expect(r.received).toBe(0);
    expect(r.output).toMatch(/From 2001:db8:ff::2 icmp_seq=\d+ Destination unreachable: Address unreachable/);
    const s = (await status({ socket: `${dir}/server.sock` } as never)) as Awaited<ReturnType<typeof status>>;
    expect(tunnelOf(s, c.name).icmp_sent).toBeGreaterThanOrEqual(1);
  });
});
