// Where the machine's time goes while one TCP stream crosses a path: `perf
// record -a` (every CPU, a fixed sampling rate) during the stream, each sample
// attributed to the process it interrupted and split into user and kernel
// time. Softirq work (veth, forwarding, the TUN) runs in whichever process
// was on the CPU, mostly the one whose syscall queued the packet, so
// "kernel" of a forwarder includes what its sends and writes set off.
import { execFileSync } from 'node:child_process';

export interface ProcessShare {
  who: string;
  /** Percent of all samples (of every CPU for the whole recording). */
  user: number;
  kernel: number;
}

export interface Profile {
  samples: number;
  rows: ProcessShare[];
  /** The forwarders' busiest user-space symbols: percent of all samples. */
  topUser: { symbol: string; percent: number }[];
}

/** One line of `perf script -F pid,ip,sym,dso`: "  731 7f9d406ba86c __vdso_gettimeofday ([vdso])". */
const SAMPLE = /^\s*(\d+)\s+([0-9a-f]+)\s+(.*?)\s*\(([^()]*)\)\s*$/;

/** Samples by process (named in `names`; pid 0 is idle; the rest "other"),
 * user or kernel by where the instruction pointer was. */
export function attribute(script: string, names: Map<number, string>, topSymbols = 12): Profile {
  const shares = new Map<string, ProcessShare>();
  const symbols = new Map<string, number>();
  const forwarders = new Set([...names].filter(([, n]) => n.startsWith('forwarder')).map(([pid]) => pid));
  let samples = 0;
  for (const line of script.split('\n')) {
    const m = SAMPLE.exec(line);
    if (!m) continue;
    samples++;
    const pid = Number(m[1]);
    const kernel = m[4].includes('kernel') || m[2].startsWith('ffff');
    const who = pid === 0 ? 'idle' : names.get(pid) ?? 'other';
    let s = shares.get(who);
    if (!s) shares.set(who, (s = { who, user: 0, kernel: 0 }));
    if (kernel) s.kernel++;
    else s.user++;
    if (!kernel && forwarders.has(pid)) {
      const sym = `${m[3] === '' ? '[unknown]' : m[3]} (${m[4].split('/').pop()})`;
      symbols.set(sym, (symbols.get(sym) ?? 0) + 1);
    }
  }
  const pct = (n: number): number => (samples === 0 ? 0 : (100 * n) / samples);
  const order = [...names.values(), 'other', 'idle'];
  const rows = [...shares.values()]
    .map((s) => ({ who: s.who, user: pct(s.user), kernel: pct(s.kernel) }))
    .sort((a, b) => order.indexOf(a.who) - order.indexOf(b.who));
  const topUser = [...symbols].sort((a, b) => b[1] - a[1]).slice(0, topSymbols).map(([symbol, n]) => ({ symbol, percent: pct(n) }));
  return { samples, rows, topUser };
}

/** Records every CPU for `seconds` and attributes the samples. */
export function recordProfile(seconds: number, names: Map<number, string>, file: string): Profile {
  execFileSync('perf', ['record', '-a', '-F', '499', '-o', file, '--', 'sleep', String(seconds)], { stdio: 'ignore' });
  const script = execFileSync('perf', ['script', '-i', file, '-F', 'pid,ip,sym,dso'], { encoding: 'utf8', maxBuffer: 256 << 20, stdio: ['ignore', 'pipe', 'ignore'] });
  return attribute(script, names);
}

/** rate: what the path moved while recorded, e.g. "2109 Mbit/s". */
export function profileMarkdown(path: string, rate: string, p: Profile): string {
  const f = (x: number): string => x.toFixed(1);
  const lines = [
    `**${path}** (${rate} while recorded, ${p.samples} samples):`,
    '',
    '| process | user % | kernel % | together % |',
    '|---|---|---|---|',
    ...p.rows.map((r) => `| ${r.who} | ${f(r.user)} | ${f(r.kernel)} | ${f(r.user + r.kernel)} |`),
    '',
  ];
  if (p.topUser.length > 0) {
    lines.push(`Forwarders' busiest user-space symbols (% of all samples): ${p.topUser.map((s) => `${s.symbol} ${f(s.percent)}`).join(', ')}.`, '');
  }
  return lines.join('\n');
}
