// Bounded soak: mixed traffic (TCP, UDP, pings of many sizes, Neighbor
// Solicitations, spoofed and unknown-remote protocol 41) through three
// tunnels while one tunnel is removed and added back every few seconds.
// Samples the server's memory and open file descriptors and checks that the
// counters stay consistent. Everything stays inside namespaces made here.
//   node dist/bench/soak.js [--seconds 600]
import { readdirSync, rmSync, writeFileSync } from 'node:fs';
import { Lab, waitFor } from '../src/lab/netns.js';
import { buildTopology, serverConfigYaml, HOST_V6, SERVER_V4, ROUTER_V6, ISP_CLIENT_SIDE_V4 } from '../src/lab/topology.js';
import { runDir, startClient, startServer, status, tcpTransfer, tunnelOf, labScript } from '../src/lab/daemons.js';

export interface SoakSample { t: number; rss: number; heapUsed: number; fds: number }

export interface SoakResult {
  seconds: number;
  samples: SoakSample[];
  rssGrowthBytes: number;
  fdGrowth: number;
  transfers: number;
  transfersByteExact: boolean;
  reloads: number;
  injectedSpoofed: number;
  /** Per permanent tunnel: packets the client sent vs what the server accounted for. */
  accounting: Array<{ tunnel: string; clientTx: number; serverRxPlusDrops: number; injected: number; unaccounted: number }>;
  serverAlive: boolean;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function soak(seconds: number, log: (line: string) => void = () => {}): Promise<SoakResult> {
  const lab = new Lab('soak');
  const dir = runDir('soak');
  try {
    const t = buildTopology(lab, { clients: 3 });
    const [c1, c2, c3] = t.clients;
    const server = await startServer(t, dir);
    const clients = [];
    for (const c of t.clients) clients.push(await startClient(t, c, dir));
    const deadline = Date.now() + seconds * 1000;
    const samples: SoakSample[] = [];
    const sample = async (): Promise<void> => {
      const s = (await status(server)) as unknown as { memory: { rss: number; heap_used: number } };
      samples.push({ t: Date.now(), rss: s.memory.rss, heapUsed: s.memory.heap_used, fds: readdirSync(`/proc/${server.proc.pid}/fd`).length });
    };
    const iperf = lab.spawn(t.host, ['iperf3', '-s', '-p', '5201', '--forceflush']);
    await waitFor(() => iperf.output().includes('listening'), 10_000, 20, 'iperf3 server');
    let transfers = 0;
    let exact = true;
    let reloads = 0;
    let injectedSpoofed = 0;
    let port = 6000;

    const loops = [
      (async () => { // TCP both ways, byte-exact
        while (Date.now() < deadline - 3000) {
          const r = transfers % 2 === 0
            ? await tcpTransfer(lab, t.host, c1.ns, c1.clientV6, 4 << 20, port++)
            : await tcpTransfer(lab, c1.ns, t.host, HOST_V6, 4 << 20, port++);
          exact &&= r.sent === r.received;
          transfers++;
        }
      })(),
      (async () => { // UDP at a bounded rate, in bounded bursts
        while (Date.now() < deadline - 6000) {
          await lab.run(c2.ns, ['iperf3', '-c', HOST_V6, '-p', '5201', '-u', '-b', '20M', '-l', '200', '-t', '3'], { timeoutMs: 20_000 }).catch(() => '');
        }
      })(),
      (async () => { // pings of many sizes, NS, hostile packets
        let size = 16;
        while (Date.now() < deadline - 2000) {
          await lab.run(c2.ns, ['ping', '-6', '-n', '-c', '3', '-i', '0.05', '-W', '1', '-s', String(size), HOST_V6]).catch(() => '');
          size = size > 1400 ? 16 : size * 2;
          await lab.run(t.router, [process.execPath, labScript('send-ns'), JSON.stringify({ iface: 'to-srv', target: c1.clientV6, src: ROUTER_V6, count: 5, listenMs: 50 })]);
          const sent = JSON.parse(await lab.run(c2.ns, [process.execPath, labScript('send41'), c2.v4, SERVER_V4, c1.clientV6, HOST_V6, '5'])) as { sent: number };
          injectedSpoofed += sent.sent;
          await lab.run(t.isp, [process.execPath, labScript('send41'), ISP_CLIENT_SIDE_V4, SERVER_V4, c1.clientV6, HOST_V6, '5']);
          await sleep(200);
        }
      })(),
      (async () => { // remove and add back the third tunnel every few seconds
        let withC3 = true;
        while (Date.now() < deadline - 4000) {
          await sleep(3000);
          withC3 = !withC3;
          writeFileSync(server.config, serverConfigYaml(t, { controlSocket: server.socket }, withC3 ? [c1, c2, c3] : [c1, c2]));
          const before = (server.proc.output().match(/msg="reloaded"/g) ?? []).length;
          process.kill(server.proc.pid, 'SIGHUP');
          await waitFor(() => (server.proc.output().match(/msg="reloaded"/g) ?? []).length > before, 5000, 20, 'reload');
          reloads++;
          if (withC3) await lab.run(c3.ns, ['ping', '-6', '-c', '1', '-W', '1', HOST_V6]).catch(() => '');
        }
      })(),
      (async () => { // samples every 2 s, the first after a warm-up
        await sleep(Math.min(5000, seconds * 250));
        while (Date.now() < deadline - 1000) {
          await sample();
          log(`t+${Math.round((Date.now() - deadline) / 1000 + seconds)}s rss ${(samples[samples.length - 1].rss / 1e6).toFixed(1)} MB heap ${(samples[samples.length - 1].heapUsed / 1e6).toFixed(1)} MB fds ${samples[samples.length - 1].fds}`);
          await sleep(2000);
        }
      })(),
    ];
    await Promise.all(loops);
    await sleep(500);
    await sample();
    const s = await status(server);
    const accounting = [];
    for (const [k, c] of [[0, c1], [1, c2]] as const) {
      const client = tunnelOf(await status(clients[k]), 'server');
      const st = tunnelOf(s, c.name);
      const drops = Object.values(st.drops).reduce((a, b) => a + b, 0) - (st.drops['too-big'] ?? 0) - (st.drops['tx-error'] ?? 0) - (st.drops['tx-busy'] ?? 0);
      const injected = k === 1 ? injectedSpoofed : 0;
      const serverRxPlusDrops = st.rx.packets + drops;
      accounting.push({ tunnel: c.name, clientTx: client.tx.packets, serverRxPlusDrops, injected, unaccounted: client.tx.packets + injected - serverRxPlusDrops });
    }
    const serverAlive = server.proc.child.exitCode === null;
    const first = samples[0];
    const last = samples[samples.length - 1];
    await lab.cleanup();
    return {
      seconds, samples, rssGrowthBytes: last.rss - first.rss, fdGrowth: last.fds - first.fds, transfers, transfersByteExact: exact,
      reloads, injectedSpoofed, accounting, serverAlive,
    };
  } finally {
    await lab.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
}

// Run as a script: node dist/bench/soak.js [--seconds N]
if (process.argv[1] && /soak\.js$/.test(process.argv[1])) {
  const i = process.argv.indexOf('--seconds');
  const seconds = i > 0 ? Number(process.argv[i + 1]) : 600;
  soak(seconds, (l) => process.stderr.write(l + '\n')).then((r) => {
    process.stdout.write(JSON.stringify({ ...r, samples: r.samples.length }, null, 2) + '\n');
    process.exitCode = r.serverAlive && r.transfersByteExact && r.fdGrowth <= 0 ? 0 : 1;
  }, (e: Error) => {
    process.stderr.write(`soak: ${e.stack ?? e.message}\n`);
    process.exitCode = 1;
  });
}
