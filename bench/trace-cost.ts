// What tracing costs the datapath: iperf3 TCP host → client through sixtun,
// interleaving runs with no trace attached and runs with a trace whose filter
// matches nothing (every packet still goes through the filter). Same run,
// same machine: only ratios matter.
//   node dist/bench/trace-cost.js [--seconds 5] [--rounds 3]
import { Lab, waitFor } from '../src/lab/netns.js';
import { buildTopology } from '../src/lab/topology.js';
import { SIXTUN_BIN, runDir, startClient, startServer, status } from '../src/lab/daemons.js';
import { rmSync } from 'node:fs';
import { median, runSecondsRounds } from './stats.js';

interface IperfResult { end: { sum_received: { bits_per_second: number } } }

export async function traceCost(seconds: number, rounds: number, log: (l: string) => void): Promise<Record<string, unknown>> {
  const lab = new Lab('tcost');
  const dir = runDir('tcost');
  try {
    const t = buildTopology(lab, { clients: 1 });
    const c = t.clients[0];
    const server = await startServer(t, dir);
    await startClient(t, c, dir);
    const runs: Record<'off' | 'nomatch', number[]> = { off: [], nomatch: [] };
    for (let r = 0; r < rounds; r++) {
      for (const mode of ['off', 'nomatch'] as const) {
        const trace = mode === 'nomatch'
          ? lab.spawn(t.server, [process.execPath, SIXTUN_BIN, 'trace', '--socket', server.socket, '--host', '2001:db8:dead::/48'])
          : null;
        if (trace) await waitFor(async () => ((await status(server)) as unknown as { traces: unknown[] }).traces.length > 0, 5000, 20, 'trace attached');
        const srv = lab.spawn(c.ns, ['iperf3', '-s', '-1', '-p', '5301', '--forceflush']);
        await waitFor(() => srv.output().includes('listening'), 10_000, 20, 'iperf3 server');
        const out = await lab.run(t.host, ['iperf3', '-c', c.clientV6, '-p', '5301', '-t', String(seconds), '-J'], { timeoutMs: (seconds + 20) * 1000 });
        await srv.exited;
        if (trace) await lab.stop(trace);
        const bps = (JSON.parse(out) as IperfResult).end.sum_received.bits_per_second;
        runs[mode].push(bps);
        log(`round ${r + 1} ${mode}: ${(bps / 1e6).toFixed(0)} Mbit/s`);
      }
    }
    const off = median(runs.off);
    const nomatch = median(runs.nomatch);
    const spread = (Math.max(...runs.off) - Math.min(...runs.off)) / off;
    return {
      seconds, rounds,
      off_mbps: runs.off.map((b) => +(b / 1e6).toFixed(1)),
      nomatch_mbps: runs.nomatch.map((b) => +(b / 1e6).toFixed(1)),
      median_off_mbps: +(off / 1e6).toFixed(1),
      median_nomatch_mbps: +(nomatch / 1e6).toFixed(1),
      nomatch_over_off: +(nomatch / off).toFixed(3),
      off_run_to_run_spread: +spread.toFixed(3),
    };
  } finally {
    await lab.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && /trace-cost\.js$/.test(process.argv[1])) runSecondsRounds('trace-cost', traceCost);
