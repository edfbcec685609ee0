// Shared by the benches: order statistics of repeated runs, and running a
// bench function from the command line with JSON on stdout.

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
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
