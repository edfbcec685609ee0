// `sixtun bench`: the end-to-end benchmark of bench/e2e/run.ts.
import { usageError } from './args.js';
import { parseArgs } from 'node:util';
import { spawnSync } from 'node:child_process';
import { isRoot } from '../lab/netns.js';
import { markdown, runBench, writeDocs } from '../../bench/e2e/run.js';

export const BENCH_HELP = `Usage: sixtun bench [--seconds N] [--reps N] [--write-docs]

Measures, in one run and in network namespaces it builds itself, TCP throughput
and 64-byte UDP packet rate (iperf3), ping latency idle and under TCP load, and
CPU per packet through: kernel IPv6 forwarding without a tunnel, kernel vxlan,
kernel sit (when the kernel has it), sixtun with and without TUN offloads, a
minimal C 6in4 forwarder (one packet per syscall, batched, batched with
TSO+GRO) and the naive Node forwarder (npm raw-socket). Repetitions go round
the paths. Prints a markdown table with ratios. Needs root, iperf3 and cc.

Options:
  --seconds N    length of each iperf3 run (default 5; a TCP run first runs one
                 more second, not counted: slow start, JIT warm-up)
  --reps N       runs per measurement; min, median and max are shown (default 3)
  --write-docs   also write docs/benchmarks.md (the table) and docs/bench.svg
  -h, --help     this text
`;

/** What the bench runs besides node: [command, probe arguments, Debian package]. */
const BENCH_TOOLS: Array<[string, string[], string]> = [
  ['ip', ['-V'], 'iproute2'],
  ['iperf3', ['--version'], 'iperf3'],
  ['ping', ['-V'], 'iputils-ping'],
  ['cc', ['--version'], 'gcc'],
];

export async function bench(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ args: argv, options: { seconds: { type: 'string' }, reps: { type: 'string' }, 'write-docs': { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }, strict: true }));
  } catch (e) {
    process.stderr.write(`sixtun bench: ${usageError(e)}\n\n${BENCH_HELP}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(BENCH_HELP);
    return 0;
  }
  if (!isRoot()) {
    process.stderr.write('sixtun bench needs root (network namespaces, TUN devices, raw sockets)\n');
    return 2;
  }
  const missing = BENCH_TOOLS.filter(([cmd, args]) => spawnSync(cmd, args, { stdio: 'ignore' }).error !== undefined);
  if (missing.length > 0) {
    process.stderr.write(`sixtun bench: needs ${missing.map(([cmd]) => `\`${cmd}\``).join(', ')}, not found on PATH: install ${missing.map(([, , pkg]) => pkg).join(' ')} (Debian/Ubuntu: apt-get install ${missing.map(([, , pkg]) => pkg).join(' ')})\n`);
    return 2;
  }
  const seconds = Number(values.seconds ?? 5);
  const reps = Number(values.reps ?? 3);
  if (!(seconds >= 1 && seconds <= 60) || !(reps >= 1 && reps <= 10)) {
    process.stderr.write('sixtun bench: --seconds 1..60 and --reps 1..10\n');
    return 2;
  }
  const t0 = Date.now();
  const results = await runBench(seconds, reps, (s) => process.stderr.write(`[${((Date.now() - t0) / 1000).toFixed(0)}s] ${s}\n`));
  const command = `sixtun bench --seconds ${seconds} --reps ${reps}`;
  process.stdout.write(markdown(results, command));
  if (values['write-docs']) writeDocs(results, command);
  return 0;
}
