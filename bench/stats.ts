// Shared by the benches: order statistics of repeated runs, a process's CPU
// time, a count read once it settled, a marked section of docs/benchmarks.md,
// and running a bench function from the command line with JSON on stdout.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../src/lab/daemons.js';
import { waitFor } from '../src/lab/netns.js';

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** The count once it has stopped moving (no change over 200 ms): queues drained. */
export async function settled(count: () => number): Promise<number> {
  // The first look only records: "unchanged" needs two looks 200 ms apart.
  let last = -1;
  await waitFor(() => {
    const now = count();
    const still = now === last;
    last = now;
    return still;
  }, 30_000, 200, 'the forwarded count to settle');
  return last;
}

export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

/** User + system CPU time of process pid so far, in µs: /proc/PID/stat fields
 * 14 and 15 (utime, stime: the 12th and 13th after the name), clock ticks of 10 ms. */
export function cpuMicros(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) * 10_000;
}

/** Puts body between the start and end markers of docs/benchmarks.md (appended with them if absent). */
export function writeSection(start: string, end: string, body: string): void {
  const doc = join(PACKAGE_ROOT, 'docs', 'benchmarks.md');
  const text = existsSync(doc) ? readFileSync(doc, 'utf8') : '# Benchmarks\n';
  const section = `${start}\n${body}\n${end}`;
  writeFileSync(doc, text.includes(start) ? text.replace(new RegExp(`${start}[\\s\\S]*${end}`), section) : `${text}\n${section}\n`);
}

/** `NAME [--seconds S] [--rounds R]`: runs bench(seconds, rounds, log) and prints its result as JSON. */
export function runSecondsRounds(name: string, bench: (seconds: number, rounds: number, log: (l: string) => void) => Promise<unknown>): void {
  const arg = (flag: string, def: number): number => {
    const i = process.argv.indexOf(flag);
    return i > 0 ? Number(process.argv[i + 1]) : def;
  };
  bench(arg('--seconds', 5), arg('--rounds', 3), (l) => process.stderr.write(l + '\n')).then(
    (r) => process.stdout.write(JSON.stringify(r, null, 2) + '\n'),
    (e: Error) => {
      process.stderr.write(`${name}: ${e.stack ?? e.message}\n`);
      process.exitCode = 1;
    },
  );
}
