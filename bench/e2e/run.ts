// End-to-end benchmark: the same namespace topology (client → isp → server →
// router → host), one path per scenario, measured in one run so that only
// ratios matter on a shared machine. Scenarios: kernel IPv6 forwarding with no
// tunnel (upper bound), kernel vxlan, kernel sit (when the kernel has it),
// sixtun at both ends (with and without TUN offloads), a minimal C 6in4
// forwarder at both ends (one packet per syscall, batched, batched with
// TSO+GRO, the latter with a thread per direction) and the naive Node forwarder (npm raw-socket, fs.read/fs.write).
// Everything stays inside namespaces made here.
//   node dist/bench/e2e/run.js [--seconds 5] [--reps 3] [--only 'name|name'] [--profile] [--write-docs]
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { join } from 'node:path';
import { Lab, waitFor } from '../../src/lab/netns.js';
import { buildTopology, HOST_V6, SERVER_EXT_V6, SERVER_V4, type Topology } from '../../src/lab/topology.js';
import { PACKAGE_ROOT, runDir, startClient, startServer } from '../../src/lab/daemons.js';
import { profileMarkdown, recordProfile, type Profile } from './profile.js';
import { cpuMicros, writeSection } from '../stats.js';

export interface Measured { min: number; median: number; max: number; runs: number[] }

export interface ScenarioResult {
  name: string;
  available: boolean;
  why?: string;
  tcpMbps?: Measured;
  udp64Kpps?: Measured;
  pingP50Ms?: number;
  pingP99Ms?: number;
  /** Ping while a TCP stream fills the path. */
  loadedP50Ms?: number;
  loadedP99Ms?: number;
  cpuUsPerPacket?: number | null;
  /** With --profile: where the machine's time went during one more TCP stream and UDP flood. */
  profiles?: StreamProfile[];
}

interface Path {
  /** Address of the client end that sends towards the host. */
  client: string;
  ns: string;
  /** Forwarder processes whose CPU time counts (none for kernel paths). */
  pids: number[];
  /** Which end each of pids is. */
  ends: string[];
}

const stat = (xs: number[]): Measured => {
  const s = [...xs].sort((a, b) => a - b);
  return { min: s[0], median: s[Math.floor(s.length / 2)], max: s[s.length - 1], runs: xs };
};


/** IPv6 on the IPv4 links too, so the kernel can route client ↔ host with no tunnel. */
function kernelPath(lab: Lab, t: Topology): Path {
  const c = t.clients[0];
  lab.addr(c.ns, 'wan0', '2001:db8:f0::2/64', ['nodad']);
  lab.addr(t.isp, 'br0', '2001:db8:f0::1/64', ['nodad']);
  lab.addr(t.isp, 'to-srv', '2001:db8:f1::1/64', ['nodad']);
  lab.addr(t.server, 'wan0', '2001:db8:f1::2/64', ['nodad']);
  lab.ip(c.ns, ['-6', 'route', 'add', 'default', 'via', '2001:db8:f0::1']);
  lab.ip(t.isp, ['-6', 'route', 'add', 'default', 'via', '2001:db8:f1::2']);
  lab.ip(t.server, ['-6', 'route', 'add', '2001:db8:f0::/64', 'via', '2001:db8:f1::1']);
  lab.ip(t.router, ['-6', 'route', 'add', '2001:db8:f0::/64', 'via', SERVER_EXT_V6]);
  for (const ns of [t.isp, t.server]) lab.sysctl(ns, 'net.ipv6.conf.all.forwarding', '1');
  return { client: '2001:db8:f0::2', ns: c.ns, pids: [], ends: [] };
}

function vxlanPath(lab: Lab, t: Topology): Path {
  const c = t.clients[0];
  lab.ip(c.ns, ['link', 'add', 'vx0', 'type', 'vxlan', 'id', '42', 'remote', SERVER_V4, 'local', c.v4, 'dstport', '4789']);
  lab.ip(t.server, ['link', 'add', 'vx0', 'type', 'vxlan', 'id', '42', 'remote', c.v4, 'local', SERVER_V4, 'dstport', '4789']);
  for (const ns of [c.ns, t.server]) lab.ip(ns, ['link', 'set', 'vx0', 'up']);
  lab.addr(c.ns, 'vx0', '2001:db8:f2::2/64', ['nodad']);
  lab.addr(t.server, 'vx0', '2001:db8:f2::1/64', ['nodad']);
  lab.ip(c.ns, ['-6', 'route', 'add', 'default', 'via', '2001:db8:f2::1']);
  lab.ip(t.router, ['-6', 'route', 'add', '2001:db8:f2::/64', 'via', SERVER_EXT_V6]);
  lab.sysctl(t.server, 'net.ipv6.conf.all.forwarding', '1');
  return { client: '2001:db8:f2::2', ns: c.ns, pids: [], ends: [] };
}

/** Kernel sit, if this kernel has it (the machines here do not: that is the point of sixtun). */
function sitPath(lab: Lab, t: Topology): Path {
  const c = t.clients[0];
  lab.ip(c.ns, ['tunnel', 'add', 'sit1', 'mode', 'sit', 'remote', SERVER_V4, 'local', c.v4, 'ttl', '255']);
  lab.ip(t.server, ['tunnel', 'add', 'sit1', 'mode', 'sit', 'remote', c.v4, 'local', SERVER_V4, 'ttl', '255']);
  for (const ns of [c.ns, t.server]) lab.ip(ns, ['link', 'set', 'sit1', 'up']);
  lab.addr(c.ns, 'sit1', `${c.clientV6}/127`, ['nodad']);
  lab.addr(t.server, 'sit1', `${c.serverV6}/127`, ['nodad']);
  lab.ip(c.ns, ['-6', 'route', 'add', 'default', 'via', c.serverV6]);
  lab.sysctl(t.server, 'net.ipv6.conf.all.forwarding', '1');
  lab.sysctl(t.server, 'net.ipv6.conf.ext0.proxy_ndp', '1');
  lab.ip(t.server, ['-6', 'neigh', 'add', 'proxy', c.clientV6, 'dev', 'ext0']);
  return { client: c.clientV6, ns: c.ns, pids: [], ends: [] };
}

async function sixtunPath(t: Topology, dir: string, offload: boolean): Promise<Path> {
  const s = await startServer(t, dir, { extra: offload ? '' : 'offload: false\n' });
  const c = await startClient(t, t.clients[0], dir, offload ? '' : 'offload: false\n');
  return { client: t.clients[0].clientV6, ns: t.clients[0].ns, pids: [s.proc.pid, c.proc.pid], ends: ['server', 'client'] };
}

/** A userspace forwarder at both ends: command(local, remote) opens TUN fwd0 and prints "ready". */
async function forwarderPath(lab: Lab, t: Topology, command: (local: string, remote: string) => string[]): Promise<Path> {
  const c = t.clients[0];
  const ends = [
    { ns: c.ns, local: c.v4, remote: SERVER_V4, addr: `${c.clientV6}/127` },
    { ns: t.server, local: SERVER_V4, remote: c.v4, addr: `${c.serverV6}/127` },
  ];
  const pids: number[] = [];
  for (const e of ends) {
    const p = lab.spawn(e.ns, command(e.local, e.remote));
    let exited = false;
    void p.exited.then(() => { exited = true; });
    await waitFor(() => {
      if (exited) throw new Error(`forwarder exited: ${p.output().trim().split('\n').pop()}`);
      return p.output().includes('ready');
    }, 10_000, 20, 'forwarder');
    pids.push(p.pid);
    lab.ip(e.ns, ['link', 'set', 'fwd0', 'mtu', '1480', 'txqueuelen', '5000', 'up']);
    lab.addr(e.ns, 'fwd0', e.addr, ['nodad']);
  }
  lab.ip(c.ns, ['-6', 'route', 'add', 'default', 'via', c.serverV6, 'dev', 'fwd0']);
  lab.sysctl(t.server, 'net.ipv6.conf.all.forwarding', '1');
  lab.sysctl(t.server, 'net.ipv6.conf.ext0.proxy_ndp', '1');
  lab.ip(t.server, ['-6', 'neigh', 'add', 'proxy', c.clientV6, 'dev', 'ext0']);
  return { client: c.clientV6, ns: c.ns, pids, ends: ['client', 'server'] };
}

async function pings(lab: Lab, path: Path, count: number): Promise<{ p50?: number; p99?: number }> {
  const out = await lab.run(path.ns, ['ping', '-6', '-n', '-c', String(count), '-i', '0.01', '-W', '1', HOST_V6], { timeoutMs: 30_000 })
    .catch((e: { stdout?: string }) => e.stdout ?? '');
  const times = [...out.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1])).sort((a, b) => a - b);
  if (times.length === 0) return {};
  return { p50: times[Math.floor(times.length * 0.5)], p99: times[Math.min(times.length - 1, Math.floor(times.length * 0.99))] };
}

const OMIT_SECONDS = 1;

interface IperfJson { end: { sum_received?: { bits_per_second: number }; sum?: { packets: number; lost_packets: number; seconds: number } } }

async function iperf(lab: Lab, t: Topology, path: Path, args: string[], seconds: number): Promise<IperfJson> {
  const srv = lab.spawn(t.host, ['iperf3', '-s', '-1', '-p', '5401', '--forceflush']);
  await waitFor(() => srv.output().includes('listening'), 10_000, 20, 'iperf3 server');
  // A path that collapses under the load (the naive forwarder under a 64-byte
  // flood starves iperf3's own control connection) measures 0, not an abort.
  const out = await lab.run(path.ns, ['iperf3', '-c', HOST_V6, '-p', '5401', '-t', String(seconds), '-J', ...args], { timeoutMs: (seconds + OMIT_SECONDS + 30) * 1000 })
    .catch((e: { stdout?: string }) => e.stdout ?? '');
  await lab.stop(srv);
  try {
    return JSON.parse(out) as IperfJson;
  } catch {
    return { end: {} };
  }
}

/** Where the machine's time went during one more stream (TCP, or the 64-byte UDP flood). */
export interface StreamProfile { stream: 'TCP' | 'UDP-64'; rate: string; profile: Profile }

/** One more stream, not counted in the table, recorded with perf from its second second on. */
async function profileStream(lab: Lab, t: Topology, path: Path, seconds: number, dir: string, stream: StreamProfile['stream']): Promise<StreamProfile> {
  const srv = lab.spawn(t.host, ['iperf3', '-s', '-1', '-p', '5402', '--forceflush']);
  await waitFor(() => srv.output().includes('listening'), 10_000, 20, 'iperf3 server');
  const udp = stream === 'UDP-64' ? ['-u', '-l', '64', '-b', '2G'] : [];
  const client = lab.spawn(path.ns, ['iperf3', '-c', HOST_V6, '-p', '5402', '-t', String(seconds + 2), '-J', ...udp]);
  await waitFor(() => srv.output().includes('Accepted connection'), 10_000, 20, 'iperf3 client');
  await new Promise((r) => setTimeout(r, 1000));
  const names = new Map<number, string>(path.pids.map((pid, i) => [pid, `forwarder, ${path.ends[i]} end`]));
  names.set(client.pid, 'iperf3 sender');
  names.set(srv.pid, 'iperf3 receiver');
  const profile = recordProfile(seconds, names, join(dir, 'perf.data'));
  await client.exited;
  await lab.stop(srv);
  let rate = 'a broken stream';
  try {
    const end = (JSON.parse(client.output()) as IperfJson).end;
    rate = stream === 'TCP'
      ? `${((end.sum_received?.bits_per_second ?? 0) / 1e6).toFixed(0)} Mbit/s`
      : `${(((end.sum?.packets ?? 0) - (end.sum?.lost_packets ?? 0)) / (end.sum?.seconds ?? seconds) / 1000).toFixed(0)} kpps`;
  } catch {
    // A stream that broke is reported as such.
  }
  return { stream, rate, profile };
}

/** What one repetition of a scenario measured. */
interface Sample { tcpMbps: number; udp64Kpps: number; cpuSeconds: number; udpPackets: number; idle?: Latency; loaded?: Latency }
interface Latency { p50?: number; p99?: number }

async function measureOnce(lab: Lab, t: Topology, path: Path, seconds: number, latency: boolean, progress: (s: string) => void): Promise<Sample> {
  // TCP: the first second is not counted (--omit): slow start on every path,
  // and on sixtun V8 still compiling the hot path; steady state is measured.
  // Not for UDP: with --omit iperf3 counts the omitted second's datagrams as
  // lost (the naive forwarder came out negative).
  const j = await iperf(lab, t, path, ['--omit', String(OMIT_SECONDS)], seconds);
  const tcpMbps = (j.end.sum_received?.bits_per_second ?? 0) / 1e6;
  progress(`TCP ${tcpMbps.toFixed(0)} Mbit/s`);
  const cpu = (): number => path.pids.reduce((a, pid) => a + cpuMicros(pid), 0);
  const before = cpu();
  const u = await iperf(lab, t, path, ['-u', '-l', '64', '-b', '2G'], seconds);
  const udpPackets = (u.end.sum?.packets ?? 0) - (u.end.sum?.lost_packets ?? 0);
  const cpuSeconds = (cpu() - before) / 1e6;
  const udp64Kpps = udpPackets / (u.end.sum?.seconds ?? seconds) / 1000;
  progress(`UDP-64 ${udp64Kpps.toFixed(0)} kpps`);
  if (!latency) return { tcpMbps, udp64Kpps, cpuSeconds, udpPackets };
  const idle = await pings(lab, path, 100);
  // Under load: 200 pings while one TCP stream runs (queueing in the forwarder shows here).
  const srv = lab.spawn(t.host, ['iperf3', '-s', '-1', '-p', '5401', '--forceflush']);
  await waitFor(() => srv.output().includes('listening'), 10_000, 20, 'iperf3 server');
  const load = lab.spawn(path.ns, ['iperf3', '-c', HOST_V6, '-p', '5401', '-t', '4']);
  await new Promise((r) => setTimeout(r, 500));
  const loaded = await pings(lab, path, 200);
  await load.exited;
  await lab.stop(srv);
  progress(`ping p99 ${idle.p99?.toFixed(3)} ms idle, ${loaded.p99?.toFixed(3)} ms under load`);
  return { tcpMbps, udp64Kpps, cpuSeconds, udpPackets, idle, loaded };
}

export async function runBench(
  seconds: number, reps: number, progress: (s: string) => void, only?: (name: string) => boolean, profile = false,
): Promise<ScenarioResult[]> {
  const build = mkdtempSync(join(tmpdir(), 'sixtun-bench-'));
  const binary = join(build, 'fwd6in4');
  let cWhy: string | undefined;
  try {
    execFileSync('cc', ['-O2', '-o', binary, join(PACKAGE_ROOT, 'bench', 'baseline', 'fwd6in4.c')], { stdio: 'pipe' });
  } catch (e) {
    cWhy = `cannot compile the C baseline: ${(e as Error).message.split('\n')[0]}`;
  }
  const naive = join(PACKAGE_ROOT, 'dist', 'bench', 'baseline', 'naive-forwarder.js');
  let naiveWhy: string | undefined;
  try {
    createRequire(import.meta.url)('raw-socket');
  } catch (e) {
    // An optional dependency: it does not build on every Node.js (not on 24).
    naiveWhy = `the optional dependency raw-socket did not install or build on Node.js ${process.version} (${(e as Error).message.split('\n')[0]})`;
  }
  const c = (mode: string) => (lab: Lab, t: Topology): Promise<Path> => forwarderPath(lab, t, (l, r) => [binary, mode, 'fwd0', l, r]);
  type Scenario = [string, (lab: Lab, t: Topology, dir: string) => Path | Promise<Path>, string | undefined];
  const all: Scenario[] = [
    [KERNEL, kernelPath, undefined],
    ['kernel vxlan', vxlanPath, undefined],
    ['kernel sit', sitPath, undefined],
    [SIXTUN, (_lab, t, dir) => sixtunPath(t, dir, true), undefined],
    ['sixtun, offloads off', (_lab, t, dir) => sixtunPath(t, dir, false), undefined],
    ['C forwarder, one packet per syscall', c('single'), cWhy],
    [C_BATCH, c('batch'), cWhy],
    [C_OFFLOAD, c('offload'), cWhy],
    [C_THREADS, c('threads'), cWhy],
    [NAIVE, (lab, t) => forwarderPath(lab, t, (l, r) => [process.execPath, naive, 'fwd0', l, r]), naiveWhy],
  ];
  const scenarios = all.filter(([name]) => !only || only(name));
  const unavailable = new Map<string, string>();
  for (const [name, , why] of scenarios) if (why) unavailable.set(name, why);
  const samples = new Map<string, Sample[]>();
  const profiles = new Map<string, StreamProfile[]>();
  try {
    // Repetitions go round the scenarios, each on a fresh topology, so that
    // a noisy minute on a shared machine hits every path alike.
    for (let rep = 0; rep < reps; rep++) {
      for (const [name, setup] of scenarios) {
        if (unavailable.has(name)) continue;
        const lab = new Lab('bench');
        const dir = runDir('bench');
        const say = (s: string): void => progress(`[${rep + 1}/${reps}] ${name}: ${s}`);
        try {
          const t = buildTopology(lab, { clients: 1 });
          let path: Path;
          try {
            path = await setup(lab, t, dir);
          } catch (e) {
            const msg = ((e as { stderr?: string }).stderr?.trim() || (e as Error).message).split('\n')[0];
            unavailable.set(name, msg);
            say(`unavailable (${msg})`);
            continue;
          }
          const sample = await measureOnce(lab, t, path, seconds, rep === 0, say);
          samples.set(name, [...(samples.get(name) ?? []), sample]);
          if (profile && rep === 0) {
            profiles.set(name, [await profileStream(lab, t, path, seconds, dir, 'TCP'), await profileStream(lab, t, path, seconds, dir, 'UDP-64')]);
            say('profiled');
          }
        } finally {
          await lab.cleanup();
          rmSync(dir, { recursive: true, force: true });
        }
      }
    }
  } finally {
    rmSync(build, { recursive: true, force: true });
  }
  return scenarios.map(([name]): ScenarioResult => {
    const got = samples.get(name);
    if (unavailable.has(name) || !got) return { name, available: false, why: unavailable.get(name) ?? 'not measured' };
    const cpu = got.reduce((a, x) => a + x.cpuSeconds, 0);
    const packets = got.reduce((a, x) => a + x.udpPackets, 0);
    return {
      name, available: true,
      tcpMbps: stat(got.map((x) => x.tcpMbps)), udp64Kpps: stat(got.map((x) => x.udp64Kpps)),
      pingP50Ms: got[0].idle?.p50, pingP99Ms: got[0].idle?.p99, loadedP50Ms: got[0].loaded?.p50, loadedP99Ms: got[0].loaded?.p99,
      // Both ends' CPU, per packet and end.
      cpuUsPerPacket: cpu > 0 && packets > 0 ? (cpu / packets / 2) * 1e6 : null,
      profiles: profiles.get(name),
    };
  });
}

export const KERNEL = 'kernel IPv6 forwarding, no tunnel';
export const SIXTUN = 'sixtun';
export const C_BATCH = 'C forwarder, recvmmsg/sendmmsg';
export const C_OFFLOAD = 'C forwarder, batched + TSO + GRO';
export const C_THREADS = 'C forwarder, TSO + GRO, a thread per direction';
export const NAIVE = 'naive Node forwarder (raw-socket, fs.read/write)';

/** Median ratios of sixtun to the baselines the issue names, when both ran. */
export function headline(results: ScenarioResult[]): { tcpVsCOffload?: number; udpVsCBatch?: number; tcpVsNaive?: number } {
  const get = (n: string): ScenarioResult | undefined => results.find((r) => r.name === n && r.available);
  const six = get(SIXTUN);
  const r = (a?: Measured, b?: Measured): number | undefined => (a && b && b.median > 0 ? a.median / b.median : undefined);
  return { tcpVsCOffload: r(six?.tcpMbps, get(C_OFFLOAD)?.tcpMbps), udpVsCBatch: r(six?.udp64Kpps, get(C_BATCH)?.udp64Kpps), tcpVsNaive: r(six?.tcpMbps, get(NAIVE)?.tcpMbps) };
}

export function markdown(results: ScenarioResult[], command: string): string {
  const get = (n: string): ScenarioResult | undefined => results.find((r) => r.name === n && r.available);
  const base = get(KERNEL);
  const cb = get(C_BATCH);
  const co = get(C_OFFLOAD);
  const nv = get(NAIVE);
  const ratio = (a?: Measured, b?: Measured): string => (a && b ? (a.median / b.median).toFixed(2) : '–');
  const lines = [
    `Command: \`${command}\` on ${new Date().toISOString().slice(0, 10)}, ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown CPU'}), Linux ${execFileSync('uname', ['-r'], { encoding: 'utf8' }).trim()}, Node.js ${process.version}.`,
    '',
    '| path | TCP Mbit/s median (min–max) | UDP-64 kpps median (min–max) | ping p50 / p99 ms idle | ping p50 / p99 ms under TCP load | CPU µs per UDP packet per end | TCP vs kernel | TCP vs C TSO+GRO | UDP vs batched C | TCP vs naive Node |',
    '|---|---|---|---|---|---|---|---|---|---|',
  ];
  const ms = (a?: number, b?: number): string => (a === undefined || b === undefined ? '–' : `${a.toFixed(3)} / ${b.toFixed(3)}`);
  for (const r of results) {
    if (!r.available) {
      lines.push(`| ${r.name} | unavailable: ${r.why} | | | | | | | | |`);
      continue;
    }
    const m = (x?: Measured): string => (x ? `${x.median.toFixed(0)} (${x.min.toFixed(0)}–${x.max.toFixed(0)})` : '–');
    lines.push(`| ${r.name} | ${m(r.tcpMbps)} | ${m(r.udp64Kpps)} | ${ms(r.pingP50Ms, r.pingP99Ms)} | ${ms(r.loadedP50Ms, r.loadedP99Ms)} | ${r.cpuUsPerPacket ? r.cpuUsPerPacket.toFixed(1) : '–'} | ${ratio(r.tcpMbps, base?.tcpMbps)} | ${ratio(r.tcpMbps, co?.tcpMbps)} | ${ratio(r.udp64Kpps, cb?.udp64Kpps)} | ${ratio(r.tcpMbps, nv?.tcpMbps)} |`);
  }
  const h = headline(results);
  const x = (v?: number): string => (v === undefined ? '–' : `${v.toFixed(2)}×`);
  lines.push('', `sixtun, medians of this run: TCP ${x(h.tcpVsCOffload)} the C forwarder with TSO+GRO, UDP-64 ${x(h.udpVsCBatch)} the batched C forwarder, TCP ${x(h.tcpVsNaive)} the naive Node forwarder.`);
  const profiled = results.filter((r) => r.profiles);
  if (profiled.length > 0) {
    lines.push('', 'Where the time went (`--profile`: one more TCP stream and one more 64-byte UDP flood per path, not in the table, each recorded with `perf record -a -F 499` from its second second on; percent of all samples of both cores):', '');
    for (const r of profiled) for (const p of r.profiles!) lines.push(profileMarkdown(`${r.name}, ${p.stream}`, p.rate, p.profile));
  }
  return lines.join('\n') + '\n';
}

/** A horizontal bar chart of median TCP throughput. */
export function svg(results: ScenarioResult[]): string {
  const ok = results.filter((r) => r.available && r.tcpMbps);
  const max = Math.max(...ok.map((r) => r.tcpMbps!.median), 1);
  const rowH = 34;
  const h = 50 + ok.length * rowH;
  const bars = ok.map((r, i) => {
    const w = Math.max(2, (r.tcpMbps!.median / max) * 520);
    const y = 40 + i * rowH;
    const fill = r.name.startsWith('sixtun') ? '#2a7' : r.name.startsWith('kernel') ? '#889' : '#c93';
    return `<text x="10" y="${y + 17}" font-size="13">${r.name}</text><rect x="300" y="${y}" width="${w.toFixed(1)}" height="24" fill="${fill}"/><text x="${(305 + w).toFixed(1)}" y="${y + 17}" font-size="12">${r.tcpMbps!.median.toFixed(0)} Mbit/s</text>`;
  }).join('\n  ');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="900" height="${h}" font-family="sans-serif">
  <rect width="900" height="${h}" fill="#fff"/>
  <text x="10" y="22" font-size="15" font-weight="bold">TCP throughput, client → server → host, median of the run (same run for every bar)</text>
  ${bars}
</svg>
`;
}

const START = '<!-- bench:e2e:start -->';
const END = '<!-- bench:e2e:end -->';

export function writeDocs(results: ScenarioResult[], command: string): void {
  writeSection(START, END, `${markdown(results, command)}\n![TCP throughput](bench.svg)`);
  writeFileSync(join(PACKAGE_ROOT, 'docs', 'bench.svg'), svg(results));
}

if (process.argv[1] && /e2e\/run\.js$/.test(process.argv[1])) {
  const arg = (name: string, def: number): number => {
    const i = process.argv.indexOf(name);
    return i > 0 ? Number(process.argv[i + 1]) : def;
  };
  const seconds = arg('--seconds', 5);
  const reps = arg('--reps', 3);
  // --only 'sixtun|C forwarder, batched + TSO + GRO': just those paths (an A/B of two trees).
  const i = process.argv.indexOf('--only');
  const only = i > 0 ? new Set(process.argv[i + 1].split('|')) : null;
  const t0 = Date.now();
  const profile = process.argv.includes('--profile');
  runBench(seconds, reps, (s) => process.stderr.write(`[${((Date.now() - t0) / 1000).toFixed(0)}s] ${s}\n`), only ? (name) => only.has(name) : undefined, profile).then((r) => {
    const command = `node dist/bench/e2e/run.js ${process.argv.slice(2).filter((a) => a !== '--write-docs').map((a) => (/[ |]/.test(a) ? `'${a}'` : a)).join(' ')}`;
    process.stdout.write(markdown(r, command));
    if (process.argv.includes('--write-docs')) writeDocs(r, command);
  }, (e: Error) => {
    process.stderr.write(`bench: ${e.stack ?? e.message}\n`);
    process.exitCode = 1;
  });
}
