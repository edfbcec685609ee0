// What a flood of /nic/update requests with wrong keys costs forwarding:
// iperf3 TCP host → client through sixtun and ping RTTs alongside, in rounds
// that alternate no flood, a flood of sixtun's update API (64 connections
// from the isp, each request for a tunnel name of its own, so that every one
// costs a key check), and the same flood of a plain HTTP server in the
// server's namespace that answers `badauth` at once: the flooder and the
// kernel share these 2 cores with the datapath too, and that baseline shows
// their part. Same run, same machine: only ratios matter.
//   node dist/bench/api-flood.js [--seconds 5] [--rounds 3]
import { rmSync } from 'node:fs';
import { Lab, waitFor } from '../src/lab/netns.js';
import { buildTopology, SERVER_V4 } from '../src/lab/topology.js';
import { labScript, runDir, startClient, startServer } from '../src/lab/daemons.js';
import { median, runSecondsRounds } from './stats.js';

interface IperfResult { end: { sum_received: { bits_per_second: number } } }
type Mode = 'quiet' | 'plain' | 'flood';
const MODES: Mode[] = ['quiet', 'plain', 'flood'];

export async function apiFlood(seconds: number, rounds: number, log: (l: string) => void): Promise<Record<string, unknown>> {
  const lab = new Lab('aflood');
  const dir = runDir('aflood');
  try {
    const t = buildTopology(lab, { clients: 1 });
    const c = t.clients[0];
    await startServer(t, dir, { extra: `update_api: {listen: "${SERVER_V4}:8080"}\n` });
    await startClient(t, c, dir);
    // The baseline target: answers every request at once, checks nothing.
    const plain = lab.spawn(t.server, [process.execPath, '-e', `require('http').createServer((q, s) => s.end('badauth\\n')).listen(8081, '${SERVER_V4}')`]);
    await waitFor(() => {
      try {
        return lab.exec(t.isp, ['curl', '-s', '-m', '1', `http://${SERVER_V4}:8081/`]).trim() === 'badauth';
      } catch {
        return false;
      }
    }, 5000, 50, 'plain HTTP server');
    const runs: Record<Mode, { mbps: number; rttAvg: number; rttMax: number; requests: number }[]> = { quiet: [], plain: [], flood: [] };
    for (let r = 0; r < rounds; r++) {
      for (const mode of MODES) {
        const flood = mode !== 'quiet'
          ? lab.spawn(t.isp, [process.execPath, labScript('update-flood'), SERVER_V4, mode === 'flood' ? '8080' : '8081', '64', String(seconds + 2), '2000000'])
          : null;
        const srv = lab.spawn(c.ns, ['iperf3', '-s', '-1', '-p', '5301', '--forceflush']);
        await waitFor(() => srv.output().includes('listening'), 10_000, 20, 'iperf3 server');
        const ping = lab.spawn(t.host, ['ping', '-6', '-q', '-i', '0.05', '-w', String(seconds), c.clientV6]);
        const out = await lab.run(t.host, ['iperf3', '-c', c.clientV6, '-p', '5301', '-t', String(seconds), '-J'], { timeoutMs: (seconds + 20) * 1000 });
        await srv.exited;
        await ping.exited;
        const rtt = /= ([\d.]+)\/([\d.]+)\/([\d.]+)/.exec(ping.output());
        let requests = 0;
        if (flood) {
          await flood.exited;
          const f = JSON.parse(flood.output().trim().split('\n').pop()!) as { sent: number; answers: Record<string, number> };
          requests = f.sent;
          log(`  flood: ${JSON.stringify(f.answers)}`);
        }
        const mbps = (JSON.parse(out) as IperfResult).end.sum_received.bits_per_second / 1e6;
        runs[mode].push({ mbps, rttAvg: Number(rtt?.[2] ?? NaN), rttMax: Number(rtt?.[3] ?? NaN), requests });
        log(`round ${r + 1} ${mode}: ${mbps.toFixed(0)} Mbit/s, ping avg ${rtt?.[2]} max ${rtt?.[3]} ms${flood ? `, ${requests} requests` : ''}`);
      }
    }
    await lab.stop(plain);
    const m = (mode: Mode, k: 'mbps' | 'rttAvg' | 'rttMax' | 'requests'): number => median(runs[mode].map((x) => x[k]));
    return {
      seconds, rounds, runs,
      median_mbps: { quiet: +m('quiet', 'mbps').toFixed(1), plain: +m('plain', 'mbps').toFixed(1), flood: +m('flood', 'mbps').toFixed(1) },
      flood_over_plain_throughput: +(m('flood', 'mbps') / m('plain', 'mbps')).toFixed(3),
      plain_over_quiet_throughput: +(m('plain', 'mbps') / m('quiet', 'mbps')).toFixed(3),
      median_rtt_avg_ms: { quiet: m('quiet', 'rttAvg'), plain: m('plain', 'rttAvg'), flood: m('flood', 'rttAvg') },
      median_rtt_max_ms: { quiet: m('quiet', 'rttMax'), plain: m('plain', 'rttMax'), flood: m('flood', 'rttMax') },
      requests_per_s: { plain: Math.round(m('plain', 'requests') / (seconds + 2)), flood: Math.round(m('flood', 'requests') / (seconds + 2)) },
    };
  } finally {
    await lab.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && /api-flood\.js$/.test(process.argv[1])) runSecondsRounds('api-flood', apiFlood);
