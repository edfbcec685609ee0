// sixtun server and client between real kernels (design §6 topology):
// reachability, byte-exact TCP both ways, a LAN behind the client, clean stop.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { describeRoot, useLab } from '../support/root.js';
import { buildTopology, HOST_V6, type Topology } from '../../src/lab/topology.js';
import { runDir, startClient, startServer, status, tcpTransfer, tunnelOf, type RunningDaemon } from '../../src/lab/daemons.js';
import { ping, startCapture } from '../helpers/programs.js';

type Json = Record<string, unknown>;
const MiB = 1024 * 1024;

describeRoot('6in4 tunnel end to end (one client with a LAN)', () => {
  const lab = useLab('e2e');
  const dir = runDir('e2e');
  let t: Topology;
  let server: RunningDaemon;
  let client: RunningDaemon;
  let serverBefore: Json;

  function serverSnapshot(): Json {
    const ns = t.server;
    return {
      links: lab.ipJson<Json[]>(ns, ['link', 'show']).map((l) => l.ifname),
      addr: lab.ipJson(ns, ['addr', 'show']),
      route6: lab.ipJson(ns, ['-6', 'route', 'show', 'table', 'all']),
      route4: lab.ipJson(ns, ['-4', 'route', 'show', 'table', 'all']),
      proxy: lab.ipJson(ns, ['-6', 'neigh', 'show', 'proxy']),
      sysctl: ['net.ipv6.conf.all.forwarding', 'net.ipv6.conf.ext0.proxy_ndp', 'net.ipv6.conf.ext0.forwarding']
        .map((k) => lab.exec(ns, ['sysctl', '-n', k]).trim()),
    };
  }

  beforeAll(async () => {
    t = buildTopology(lab, { clients: 1, lan: true });
    serverBefore = serverSnapshot();
    server = await startServer(t, dir);
    client = await startClient(t, t.clients[0], dir);
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('pings across the tunnel both ways', () => {
    const c = t.clients[0];
    expect(ping(lab, c.ns, c.serverV6).received).toBe(3);
    expect(ping(lab, c.ns, HOST_V6).received).toBe(3);
    expect(ping(lab, t.host, c.clientV6).received).toBe(3);
  });

  it('carries 16 MiB over TCP byte-exact, client → host and host → client', async () => {
    const c = t.clients[0];
    const up = await tcpTransfer(lab, c.ns, t.host, HOST_V6, 16 * MiB, 5001);
    expect(up.received).toBe(up.sent);
    const down = await tcpTransfer(lab, t.host, c.ns, c.clientV6, 16 * MiB, 5002);
    expect(down.received).toBe(down.sent);
  });

  it('serves a machine in the client’s routed /64', async () => {
    const c = t.clients[0];
    expect(ping(lab, c.lanNs!, HOST_V6).received).toBe(3);
    expect(ping(lab, t.host, c.lanHostV6!).received).toBe(3);
    const up = await tcpTransfer(lab, c.lanNs!, t.host, HOST_V6, 16 * MiB, 5003);
    expect(up.received).toBe(up.sent);
    const down = await tcpTransfer(lab, t.host, c.lanNs!, c.lanHostV6!, 16 * MiB, 5004);
    expect(down.received).toBe(down.sent);
  });

  it('counts what it forwarded and dropped nothing on the way', async () => {
    const s = tunnelOf(await status(server), t.clients[0].name);
    const cl = tunnelOf(await status(client), 'server');
    expect(s.rx.packets).toBeGreaterThan(10_000);
    expect(s.tx.packets).toBeGreaterThan(10_000);
    // Every packet one end sent arrived at the other (no drops on a clean path).
    expect(cl.tx.packets).toBe(s.rx.packets + (s.drops['martian-destination'] ?? 0));
    expect(s.drops['spoofed-source'] ?? 0).toBe(0);
  });

  it('tshark dissects the outer packets as IPv6 in IPv4 without malformed or checksum warnings', async () => {
    const pcap = join(dir, 'outer.pcapng');
    const cap = await startCapture(lab, t.server, 'wan0', pcap, 'ip proto 41', () => ping(lab, t.clients[0].ns, HOST_V6, { count: 1 }));
    expect(ping(lab, t.clients[0].ns, HOST_V6, { count: 5 }).received).toBe(5);
    await cap.wait(cap.live + 10);
    await cap.stop();
    const fields = execFileSync('tshark', ['-r', pcap, '-o', 'ip.check_checksum:TRUE', '-T', 'fields', '-e', 'ip.proto', '-e', 'ipv6.src', '-e', 'ip.checksum.status', '-e', '_ws.malformed', '-e', '_ws.expert.severity'], { encoding: 'utf8' })
      .split('\n').filter((l) => l !== '').map((l) => l.split('\t'));
    expect(fields.length).toBeGreaterThanOrEqual(10);
    for (const [proto, inner6, checksumStatus, malformed] of fields) {
      expect(proto).toBe('41');
      expect(inner6).toMatch(/^2001:db8:/);
      // ip.checksum.status 1 = Good (verified because of ip.check_checksum).
      expect(checksumStatus).toBe('1');
      expect(malformed ?? '').toBe('');
    }
  });

  it('needs no static neighbour entry or kernel proxy: the upstream router learned the client from sixtun’s NA', () => {
    const c = t.clients[0];
    const entries = lab.ipJson<Array<{ dst: string; state: string[] }>>(t.router, ['-6', 'neigh', 'show', c.clientV6]);
    expect(entries).toHaveLength(1);
    expect(entries[0].state).not.toContain('PERMANENT');
    expect(lab.ipJson(t.server, ['-6', 'neigh', 'show', 'proxy'])).toEqual([]);
  });

  it('stops on SIGTERM leaving the server namespace as it was', async () => {
    expect(await lab.stop(client.proc)).toBe(0);
    expect(await lab.stop(server.proc)).toBe(0);
    expect(serverSnapshot()).toEqual(serverBefore);
    expect(ping(lab, t.host, t.clients[0].clientV6, { count: 1 }).received).toBe(0);
  });
});
