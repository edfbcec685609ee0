// The datapath with TUN offloads (TSO segmentation, GRO coalescing) and with
// them forced off, between real kernels: byte-exact TCP both ways in each mode,
// UDP datagrams coalesced and cut back by the kernel unchanged, the offloads
// really used when on, and the segments sixtun cuts carry TCP checksums that
// tshark verifies. Correctness only: speed is bench/'s job.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { describeRoot, useLab } from '../support/root.js';
import { buildTopology, HOST_V6, type Topology } from '../../src/lab/topology.js';
import { runDir, startClient, startServer, status, tcpTransfer, type RunningDaemon } from '../../src/lab/daemons.js';
import { ping, startCapture, udpBursts, udpOrder } from '../helpers/programs.js';

const MiB = 1024 * 1024;

describeRoot('TUN offloads on and forced off', () => {
  const lab = useLab('offl');
  const dir = runDir('offl');
  let t: Topology;

  beforeAll(() => {
    t = buildTopology(lab, { clients: 1 });
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function withDaemons(offload: boolean, body: (server: RunningDaemon, client: RunningDaemon) => Promise<void>): Promise<void> {
    // Off: through the config file on the server, through the flag on the client.
    const server = await startServer(t, dir, { extra: offload ? '' : 'offload: false\n' });
    let client: RunningDaemon | null = null;
    try {
      client = await startClient(t, t.clients[0], dir, '', offload ? [] : ['--no-offload']);
      await body(server, client);
    } finally {
      if (client) expect(await lab.stop(client.proc)).toBe(0);
      expect(await lab.stop(server.proc)).toBe(0);
    }
  }

  async function bothWays(): Promise<void> {
    const c = t.clients[0];
    const up = await tcpTransfer(lab, c.ns, t.host, HOST_V6, 16 * MiB, 5101);
    expect(up.received).toBe(up.sent);
    const down = await tcpTransfer(lab, t.host, c.ns, c.clientV6, 16 * MiB, 5102);
    expect(down.received).toBe(down.sent);
  }

  it('with offloads: 16 MiB byte-exact each way, super-packets segmented and segments coalesced', async () => {
    await withDaemons(true, async (server, client) => {
      await bothWays();
      const s = await status(server);
      const cl = await status(client);
      expect(s.offload.mode).toBe('tso+gro');
      expect(cl.offload.mode).toBe('tso+gro');
      // client → host: the client's kernel hands over super-packets, the server glues segments back.
      expect(cl.offload.super_packets).toBeGreaterThan(0);
      expect(cl.offload.segments).toBeGreaterThan(2 * cl.offload.super_packets);
      expect(s.offload.coalesced_packets).toBeGreaterThan(0);
      expect(s.offload.coalesced_segments).toBeGreaterThan(2 * s.offload.coalesced_packets);
      for (const st of [s, cl]) expect(st.drops_without_tunnel['bad-offload'] ?? 0).toBe(0);
    });
  });

  it('with offloads: UDP bursts each way arrive complete, unchanged and in order, written to the TUN as coalesced packets', async () => {
    await withDaemons(true, async (server, client) => {
      const c = t.clients[0];
      const up = await udpBursts(lab, c.ns, t.host, HOST_V6, 1000, 1000, 40, 5301);
      expect(up.received).toBe(up.sent);
      const down = await udpBursts(lab, t.host, c.ns, c.clientV6, 1000, 1000, 40, 5302);
      expect(down.received).toBe(down.sent);
      for (const st of [await status(server), await status(client)]) {
        expect(st.offload.udp_gro).toBe(true);
        // Bursts of 40 reach the receiving end in batches: most datagrams travel coalesced.
        expect(st.offload.coalesced_segments).toBeGreaterThan(500);
        expect(st.offload.coalesced_segments).toBeGreaterThan(2 * st.offload.coalesced_packets);
      }
    });
  });

  for (const offload of [true, false]) {
    it(`${offload ? 'with offloads' : 'forced off'}: under a TCP load each way, no datagram of 8 UDP flows overtakes an earlier one of its flow`, async () => {
      await withDaemons(offload, async (server) => {
        const c = t.clients[0];
        const ways = [[c.ns, t.host, HOST_V6, 5311], [t.host, c.ns, c.clientV6, 5312]] as const;
        for (const [from, to, addr, port] of ways) {
          const load = tcpTransfer(lab, from, to, addr, 32 * MiB, port + 100);
          const r = await udpOrder(lab, from, to, addr, 8, 20_000, 200, port);
          const l = await load;
          expect(l.received).toBe(l.sent);
          expect(r.flows).toBe(8);
          // Some may be lost under the load (up to 15 % here); none may overtake.
          expect(r.received).toBeGreaterThan(r.sent / 10);
          expect(r.reordered).toBe(0);
        }
        if (offload) expect((await status(server)).offload.coalesced_segments).toBeGreaterThan(0);
      });
    });
  }

  it('with offloads: every segment on the wire is a well-formed TCP packet with a checksum tshark verifies', async () => {
    await withDaemons(true, async () => {
      const pcap = join(dir, 'segments.pcapng');
      const c = t.clients[0];
      const cap = await startCapture(lab, t.server, 'wan0', pcap, 'ip proto 41', () => ping(lab, c.ns, HOST_V6, { count: 1 }));
      const up = await tcpTransfer(lab, c.ns, t.host, HOST_V6, 2 * MiB, 5103);
      expect(up.received).toBe(up.sent);
      // 2 MiB in segments of at most 1420 bytes of payload: at least 1477.
      await cap.wait(1477, 'tcp.len > 0');
      await cap.stop();
      const rows = execFileSync('tshark', ['-r', pcap, '-o', 'tcp.check_checksum:TRUE', '-o', 'ip.check_checksum:TRUE', '-Y', 'tcp.len > 0',
        '-T', 'fields', '-e', 'frame.len', '-e', 'ip.checksum.status', '-e', 'tcp.checksum.status', '-e', '_ws.malformed'], { encoding: 'utf8' })
        .split('\n').filter((l) => l !== '').map((l) => l.split('\t'));
      // 2 MiB in segments of at most MTU size: well over a thousand data segments.
      expect(rows.length).toBeGreaterThan(1400);
      for (const [frameLen, ipStatus, tcpStatus, malformed] of rows) {
        // Ethernet 14 + IPv4 20 + at most the 1480-byte tunnel MTU.
        expect(Number(frameLen)).toBeLessThanOrEqual(1514);
        expect(ipStatus).toBe('1');
        expect(tcpStatus).toBe('1');
        expect(malformed ?? '').toBe('');
      }
    });
  });

  it('forced off (config and --no-offload): 16 MiB byte-exact each way, one packet per read and write', async () => {
    await withDaemons(false, async (server, client) => {
      await bothWays();
      for (const st of [await status(server), await status(client)]) {
        expect(st.offload).toEqual({ mode: 'off', udp_gro: false, super_packets: 0, segments: 0, coalesced_packets: 0, coalesced_segments: 0 });
      }
    });
  });
});
