// Many tunnels, small flows: where a broker lives and GRO cannot help. One
// raw-socket sender in the client namespace floods 128-byte protocol-41
// packets from `tunnels` synthetic clients (outer sources in 198.18.0.0/15,
// RFC 2544), each with `flows` UDP flows taken in turn, so no two packets in
// a row belong to one flow. The server end decapsulates them and the kernel
// forwards the inner packets to the upstream router, which drops them (a
// blackhole route); the router's receive counter is the independent count of
// what was forwarded. Paths: sixtun server with those tunnels (TUN offloads
// on, the default, and off), and the C
// forwarder (bench/baseline/fwd6in4.c) with the same tunnels in hash tables,
// batched and batched + TSO/GRO; repetitions interleaved.
// --profile: perf record -a during each path's first measured flood (see e2e/profile.ts).
//   node dist/bench/many-tunnels.js [--tunnels 1000] [--flows 4] [--seconds 4] [--reps 3] [--profile] [--write-docs]
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lab, waitFor } from '../src/lab/netns.js';
import { buildTopology, SERVER_V4, type Topology } from '../src/lab/topology.js';
import { PACKAGE_ROOT, labScript, runDir, startDaemon } from '../src/lab/daemons.js';
import { synthetic, writeRegistry } from '../src/lab/registry.js';
import { profileMarkdown, recordProfile, type Profile } from './e2e/profile.js';
import { cpuMicros, median, settled, writeSection } from './stats.js';

export const MANY_SIXTUN = 'sixtun';
export const MANY_SIXTUN_PLAIN = 'sixtun, offloads off';
export const MANY_C_BATCH = 'C forwarder, recvmmsg/sendmmsg';
export const MANY_C_OFFLOAD = 'C forwarder, batched + TSO + GRO';
export const MANY_C_URING = 'C forwarder, batched, TUN writes by io_uring';
/** The C forwarder's mode (fwd6in4.c) for each of its paths. */
const C_MODES = new Map([[MANY_C_BATCH, 'batch'], [MANY_C_OFFLOAD, 'offload'], [MANY_C_URING, 'uring']]);
const PATHS = [MANY_SIXTUN, MANY_SIXTUN_PLAIN, MANY_C_BATCH, MANY_C_OFFLOAD, MANY_C_URING];
const SINK = '2001:db8:dead::/64';
const SINK_ADDRESS = '2001:db8:dead::1';
const WARM_UP_SECONDS = 1;

export interface ManyRun { path: string; sent: number; forwarded: number; kpps: number; cpuUsPerPacket: number; profile?: Profile; why?: string }

export interface ManyOptions { tunnels: number; flows: number; seconds: number; reps: number; paths?: string[]; profile?: boolean }

/** The C forwarder's tunnel table: each client with its pair's /64 and its routed /64. */
function cTable(tunnels: number, file: string): void {
  const lines: string[] = [];
  for (let i = 1; i <= tunnels; i++) {
    const s = synthetic(i);
    lines.push(`${s.client_ipv4} ${s.client_ipv6}`, `${s.client_ipv4} ${s.routed_prefixes[0].replace('/64', '')}`);
  }
  writeFileSync(file, lines.join('\n') + '\n');
}

/** Starts the server end of one path; returns its pid. */
async function startPath(lab: Lab, t: Topology, path: string, dir: string, binary: string, tunnels: number): Promise<number> {
  if (path === MANY_SIXTUN || path === MANY_SIXTUN_PLAIN) {
    const socket = join(dir, 'server.sock');
    const file = join(dir, 'server.yaml');
    writeRegistry(t, tunnels + 1, socket, file, 'pools');
    if (path === MANY_SIXTUN_PLAIN) appendFileSync(file, 'offload: false\n');
    const server = await startDaemon(lab, t.server, 'server', file, socket, {}, [], Math.max(60_000, tunnels * 2));
    return server.proc.pid;
  }
  const table = join(dir, 'tunnels.txt');
  cTable(tunnels, table);
  const p = lab.spawn(t.server, [binary, C_MODES.get(path)!, 'fwd0', SERVER_V4, `@${table}`]);
  let exited = false;
  void p.exited.then(() => { exited = true; });
  await waitFor(() => {
    if (exited) throw new Error(`C forwarder exited: ${p.output().trim()}`);
    return p.output().includes('ready');
  }, 10_000, 20, 'C forwarder');
  lab.ip(t.server, ['link', 'set', 'fwd0', 'mtu', '1480', 'txqueuelen', '5000', 'up']);
  lab.sysctl(t.server, 'net.ipv6.conf.all.forwarding', '1');
  return p.pid;
}

async function flood(lab: Lab, t: Topology, tunnels: number, flows: number, seconds: number): Promise<number> {
  const spec = { dst: SERVER_V4, first: 1, tunnels, flows, innerDst: SINK_ADDRESS, size: 128, count: 50_000_000, seconds };
  const out = await lab.run(t.clients[0].ns, [process.execPath, labScript('flood41'), JSON.stringify(spec)], { timeoutMs: (seconds + 30) * 1000 });
  return (JSON.parse(out) as { sent: number }).sent;
}

export async function manyTunnels(opts: ManyOptions, log: (s: string) => void): Promise<ManyRun[]> {
  const build = mkdtempSync(join(tmpdir(), 'sixtun-many-'));
  const binary = join(build, 'fwd6in4');
  execFileSync('cc', ['-O2', '-o', binary, join(PACKAGE_ROOT, 'bench', 'baseline', 'fwd6in4.c')], { stdio: 'pipe' });
  const runs: ManyRun[] = [];
  try {
    for (let rep = 0; rep < opts.reps; rep++) {
      for (const path of opts.paths ?? PATHS) {
        const lab = new Lab('many');
        const dir = runDir('many');
        try {
          const t = buildTopology(lab, { clients: 1 });
          lab.ip(t.router, ['-6', 'route', 'add', 'blackhole', SINK]);
          let pid: number;
          try {
            pid = await startPath(lab, t, path, dir, binary, opts.tunnels);
          } catch (e) {
            // A path this machine cannot run (io_uring disabled, say) is reported, not fatal.
            const why = (e as Error).message.split('\n').filter((l) => l.trim() !== '').slice(-1)[0] ?? 'failed to start';
            log(`[${rep + 1}/${opts.reps}] ${path}: unavailable (${why})`);
            runs.push({ path, sent: 0, forwarded: 0, kpps: 0, cpuUsPerPacket: 0, why });
            continue;
          }
          const forwardedSoFar = (): number => Number(lab.exec(t.router, ['cat', '/sys/class/net/to-srv/statistics/rx_packets']).trim());
          // A first second not counted: V8 compiles sixtun's hot path, caches warm for both.
          await flood(lab, t, opts.tunnels, opts.flows, WARM_UP_SECONDS);
          // What the warm-up left queued is forwarded before counting starts.
          const before = await settled(forwardedSoFar);
          const cpu0 = cpuMicros(pid);
          const flooding = flood(lab, t, opts.tunnels, opts.flows, opts.seconds);
          let profile: Profile | undefined;
          if (opts.profile === true && rep === 0 && opts.seconds > 1) {
            await new Promise((r) => setTimeout(r, 500));
            profile = recordProfile(opts.seconds - 1, new Map([[pid, 'forwarder, server end']]), join(dir, 'perf.data'));
          }
          const sent = await flooding;
          const forwarded = (await settled(forwardedSoFar)) - before;
          const run = { path, sent, forwarded, kpps: forwarded / opts.seconds / 1000, cpuUsPerPacket: (cpuMicros(pid) - cpu0) / Math.max(1, forwarded), profile };
          log(`[${rep + 1}/${opts.reps}] ${path}: sent ${sent}, forwarded ${forwarded} (${run.kpps.toFixed(0)} kpps), ${run.cpuUsPerPacket.toFixed(2)} µs CPU per packet`);
          runs.push(run);
        } finally {
          await lab.cleanup();
          rmSync(dir, { recursive: true, force: true });
        }
      }
    }
  } finally {
    rmSync(build, { recursive: true, force: true });
  }
  return runs;
}

export function manyMarkdown(runs: ManyRun[], opts: ManyOptions, command: string): string {
  const measured = runs.filter((r) => r.why === undefined);
  const paths = [...new Set(runs.map((r) => r.path))];
  const kpps = (p: string): number => median(measured.filter((r) => r.path === p).map((r) => r.kpps));
  const base = measured.some((r) => r.path === MANY_C_BATCH) ? kpps(MANY_C_BATCH) : NaN;
  const rows = paths.map((p) => {
    const rs = measured.filter((r) => r.path === p);
    if (rs.length === 0) return `| ${p} | unavailable: ${runs.find((r) => r.path === p)!.why} | | | | |`;
    const sent = median(rs.map((r) => r.sent / opts.seconds / 1000));
    return `| ${p} | ${rs.map((r) => r.kpps.toFixed(0)).join(', ')} | ${kpps(p).toFixed(0)} | ${sent.toFixed(0)} | ${median(rs.map((r) => r.cpuUsPerPacket)).toFixed(2)} | ${Number.isNaN(base) ? '–' : (kpps(p) / base).toFixed(2)} |`;
  });
  return [
    `Command: \`${command}\` on ${new Date().toISOString().slice(0, 10)}, Node.js ${process.version}. ${opts.tunnels} tunnels × ${opts.flows} UDP flows, 128-byte protocol-41 packets from one raw-socket sender, each packet from the next tunnel (flows in turn), ${opts.seconds} s per run after a ${WARM_UP_SECONDS} s warm-up; "forwarded" is what reached the upstream router, counted there (from a settled count after the warm-up to a settled count after the flood).`,
    '',
    '| server end | forwarded kpps (each run) | median kpps | offered kpps (median) | CPU µs per packet (median) | vs batched C |',
    '|---|---|---|---|---|---|',
    ...rows,
    ...runs.filter((r) => r.profile).map((r) => `\n${profileMarkdown(r.path, `${r.kpps.toFixed(0)} kpps`, r.profile!)}`),
  ].join('\n') + '\n';
}

const START = '<!-- bench:many:start -->';
const END = '<!-- bench:many:end -->';

if (process.argv[1] && /many-tunnels\.js$/.test(process.argv[1])) {
  const arg = (name: string, def: number): number => {
    const i = process.argv.indexOf(name);
    return i > 0 ? Number(process.argv[i + 1]) : def;
  };
  const opts: ManyOptions = {
    tunnels: arg('--tunnels', 1000), flows: arg('--flows', 4), seconds: arg('--seconds', 4), reps: arg('--reps', 3), profile: process.argv.includes('--profile'),
  };
  const command = `node dist/bench/many-tunnels.js --tunnels ${opts.tunnels} --flows ${opts.flows} --seconds ${opts.seconds} --reps ${opts.reps}${opts.profile ? ' --profile' : ''}`;
  manyTunnels(opts, (s) => process.stderr.write(s + '\n')).then((runs) => {
    const md = manyMarkdown(runs, opts, command);
    process.stdout.write(md);
    if (process.argv.includes('--write-docs')) writeSection(START, END, md.trimEnd());
  }, (e: Error) => {
    process.stderr.write(`${e.stack ?? e.message}\n`);
    process.exitCode = 1;
  });
}
