// End-to-end benchmark: the same namespace topology (client → isp → server →
// router → host), one path per scenario, measured in one run so that only
// ratios matter on a shared machine. Scenarios: kernel IPv6 forwarding with no
// tunnel (upper bound), kernel vxlan, kernel sit (when the kernel has it),
// sixtun at both ends, and a minimal C 6in4 forwarder at both ends (one packet
// per syscall, and batched). Everything stays inside namespaces made here.
//   node dist/bench/e2e/run.js [--seconds 5] [--reps 3] [--write-docs]
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { join } from 'node:path';
import { Lab, waitFor } from '../../test/helpers/netns.js';
import { buildTopology, HOST_V6, SERVER_EXT_V6, SERVER_V4, type Topology } from '../../test/helpers/topology.js';
import { PACKAGE_ROOT, runDir, startClient, startServer } from '../../test/helpers/daemons.js';

export interface Measured { min: number; median: number; max: number; runs: number[] }

export interface ScenarioResult {
  name: string;
  available: boolean;
  why?: string;
  tcpMbps?: Measured;
  udp64Kpps?: Measured;
  pingP50Ms?: number;
  pingP99Ms?: number;
  cpuUsPerPacket?: number | null;
}

interface Path {
  /** Address of the client end that sends towards the host. */
  client: string;
  ns: string;
  /** Forwarder processes whose CPU time counts (none for kernel paths). */
  pids: number[];
}

const stat = (xs: number[]): Measured => {
  const s = [...xs].sort((a, b) => a - b);
  return { min: s[0], median: s[Math.floor(s.length / 2)], max: s[s.length - 1], runs: xs };
};

function cpuTicks(pids: number[]): number {
  let t = 0;
  for (const pid of pids) {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    t += Number(f[11]) + Number(f[12]);
  }
  return t;
}

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
  return { client: '2001:db8:f0::2', ns: c.ns, pids: [] };
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
  return { client: '2001:db8:f2::2', ns: c.ns, pids: [] };
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
  return { client: c.clientV6, ns: c.ns, pids: [] };
}

async function sixtunPath(t: Topology, dir: string): Promise<Path> {
  const s = await startServer(t, dir);
  const c = await startClient(t, t.clients[0], dir);
  return { client: t.clients[0].clientV6, ns: t.clients[0].ns, pids: [s.proc.pid, c.proc.pid] };
}

async function cPath(lab: Lab, t: Topology, binary: string, mode: 'single' | 'batch'): Promise<Path> {
  const c = t.clients[0];
  const ends = [
    { ns: c.ns, local: c.v4, remote: SERVER_V4, addr: `${c.clientV6}/127` },
    { ns: t.server, local: SERVER_V4, remote: c.v4, addr: `${c.serverV6}/127` },
  ];
  const pids: number[] = [];
  for (const e of ends) {
    const p = lab.spawn(e.ns, [binary, mode, 'fwd0', e.local, e.remote]);
    await waitFor(() => p.output().includes('ready'), 5000, 20, 'C forwarder');
    pids.push(p.pid);
    lab.ip(e.ns, ['link', 'set', 'fwd0', 'mtu', '1480', 'txqueuelen', '5000', 'up']);
    lab.addr(e.ns, 'fwd0', e.addr, ['nodad']);
  }
  lab.ip(c.ns, ['-6', 'route', 'add', 'default', 'via', c.serverV6, 'dev', 'fwd0']);
  lab.sysctl(t.server, 'net.ipv6.conf.all.forwarding', '1');
  lab.sysctl(t.server, 'net.ipv6.conf.ext0.proxy_ndp', '1');
  lab.ip(t.server, ['-6', 'neigh', 'add', 'proxy', c.clientV6, 'dev', 'ext0']);
  return { client: c.clientV6, ns: c.ns, pids };
}

interface IperfJson { end: { sum_received?: { bits_per_second: number }; sum?: { packets: number; lost_packets: number; seconds: number } } }

async function iperf(lab: Lab, t: Topology, path: Path, args: string[], seconds: number): Promise<IperfJson> {
  const srv = lab.spawn(t.host, ['iperf3', '-s', '-1', '-p', '5401', '--forceflush']);
  await waitFor(() => srv.output().includes('listening'), 10_000, 20, 'iperf3 server');
  const out = await lab.run(path.ns, ['iperf3', '-c', HOST_V6, '-p', '5401', '-t', String(seconds), '-J', ...args], { timeoutMs: (seconds + 30) * 1000 });
  await lab.stop(srv);
  return JSON.parse(out) as IperfJson;
}

async function measure(lab: Lab, t: Topology, path: Path, seconds: number, reps: number, progress: (s: string) => void): Promise<Omit<ScenarioResult, 'name' | 'available'>> {
  const tcp: number[] = [];
  const udp: number[] = [];
  let cpu = 0;
  let packets = 0;
  for (let r = 0; r < reps; r++) {
    const j = await iperf(lab, t, path, [], seconds);
    tcp.push((j.end.sum_received?.bits_per_second ?? 0) / 1e6);
    progress(`TCP ${tcp[r].toFixed(0)} Mbit/s`);
    const before = path.pids.length ? cpuTicks(path.pids) : 0;
    const u = await iperf(lab, t, path, ['-u', '-l', '64', '-b', '2G'], seconds);
    const got = (u.end.sum?.packets ?? 0) - (u.end.sum?.lost_packets ?? 0);
    if (path.pids.length) {
      cpu += (cpuTicks(path.pids) - before) / 100;
      packets += got;
    }
    udp.push(got / (u.end.sum?.seconds ?? seconds) / 1000);
    progress(`UDP-64 ${udp[r].toFixed(0)} kpps`);
  }
  const ping = await lab.run(path.ns, ['ping', '-6', '-n', '-c', '100', '-i', '0.01', HOST_V6]).catch((e: { stdout?: string }) => e.stdout ?? '');
  const times = [...ping.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1])).sort((a, b) => a - b);
  return {
    tcpMbps: stat(tcp), udp64Kpps: stat(udp),
    pingP50Ms: times[Math.floor(times.length * 0.5)], pingP99Ms: times[Math.min(times.length - 1, Math.floor(times.length * 0.99))],
    // Both ends' CPU, per packet and end.
    cpuUsPerPacket: path.pids.length && packets ? (cpu / packets / 2) * 1e6 : null,
  };
}

export async function runBench(seconds: number, reps: number, progress: (s: string) => void, only?: (name: string) => boolean): Promise<ScenarioResult[]> {
  const build = mkdtempSync(join(tmpdir(), 'sixtun-bench-'));
  const binary = join(build, 'fwd6in4');
  let cWhy: string | undefined;
  try {
    execFileSync('cc', ['-O2', '-o', binary, join(PACKAGE_ROOT, 'bench', 'baseline', 'fwd6in4.c')], { stdio: 'pipe' });
  } catch (e) {
    cWhy = `cannot compile the C baseline: ${(e as Error).message.split('\n')[0]}`;
  }
  const scenarios: Array<[string, (lab: Lab, t: Topology, dir: string) => Path | Promise<Path>, string | undefined]> = [
    ['kernel IPv6 forwarding, no tunnel', kernelPath, undefined],
    ['kernel vxlan', vxlanPath, undefined],
    ['kernel sit', sitPath, undefined],
    ['sixtun', (_lab, t, dir) => sixtunPath(t, dir), undefined],
    ['C forwarder, one packet per syscall', (lab, t) => cPath(lab, t, binary, 'single'), cWhy],
    ['C forwarder, recvmmsg/sendmmsg', (lab, t) => cPath(lab, t, binary, 'batch'), cWhy],
  ];
  const results: ScenarioResult[] = [];
  try {
    for (const [name, setup, why] of scenarios) {
      if (only && !only(name)) continue;
      if (why) {
        results.push({ name, available: false, why });
        continue;
      }
      const lab = new Lab('bench');
      const dir = runDir('bench');
      try {
        const t = buildTopology(lab, { clients: 1 });
        let path: Path;
        try {
          path = await setup(lab, t, dir);
        } catch (e) {
          const msg = (e as { stderr?: string }).stderr?.trim() || (e as Error).message;
          results.push({ name, available: false, why: msg.split('\n')[0] });
          progress(`${name}: unavailable (${msg.split('\n')[0]})`);
          continue;
        }
        progress(`${name}: measuring`);
        results.push({ name, available: true, ...(await measure(lab, t, path, seconds, reps, (s) => progress(`${name}: ${s}`))) });
      } finally {
        await lab.cleanup();
        rmSync(dir, { recursive: true, force: true });
      }
    }
  } finally {
    rmSync(build, { recursive: true, force: true });
  }
  return results;
}

export function markdown(results: ScenarioResult[], command: string): string {
  const base = results.find((r) => r.name.startsWith('kernel IPv6') && r.available);
  const cb = results.find((r) => r.name.includes('recvmmsg') && r.available);
  const ratio = (a?: Measured, b?: Measured): string => (a && b ? (a.median / b.median).toFixed(2) : '–');
  const lines = [
    `Command: \`${command}\` on ${new Date().toISOString().slice(0, 10)}, ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown CPU'}), Linux ${execFileSync('uname', ['-r'], { encoding: 'utf8' }).trim()}, Node.js ${process.version}.`,
    '',
    '| path | TCP Mbit/s median (min–max) | UDP-64 kpps median (min–max) | ping p50 / p99 ms | CPU µs per packet per end | TCP vs kernel | TCP vs batched C | UDP vs batched C |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const r of results) {
    if (!r.available) {
      lines.push(`| ${r.name} | unavailable: ${r.why} | | | | | | |`);
      continue;
    }
    const m = (x?: Measured): string => (x ? `${x.median.toFixed(0)} (${x.min.toFixed(0)}–${x.max.toFixed(0)})` : '–');
    lines.push(`| ${r.name} | ${m(r.tcpMbps)} | ${m(r.udp64Kpps)} | ${r.pingP50Ms?.toFixed(3)} / ${r.pingP99Ms?.toFixed(3)} | ${r.cpuUsPerPacket ? r.cpuUsPerPacket.toFixed(1) : '–'} | ${ratio(r.tcpMbps, base?.tcpMbps)} | ${ratio(r.tcpMbps, cb?.tcpMbps)} | ${ratio(r.udp64Kpps, cb?.udp64Kpps)} |`);
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
    const fill = r.name === 'sixtun' ? '#2a7' : r.name.startsWith('kernel') ? '#889' : '#c93';
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
  const doc = join(PACKAGE_ROOT, 'docs', 'benchmarks.md');
  const text = existsSync(doc) ? readFileSync(doc, 'utf8') : '# Benchmarks\n';
  const section = `${START}\n${markdown(results, command)}\n![TCP throughput](bench.svg)\n${END}`;
  writeFileSync(doc, text.includes(START) ? text.replace(new RegExp(`${START}[\\s\\S]*${END}`), section) : `${text}\n${section}\n`);
  writeFileSync(join(PACKAGE_ROOT, 'docs', 'bench.svg'), svg(results));
}

if (process.argv[1] && /e2e\/run\.js$/.test(process.argv[1])) {
  const arg = (name: string, def: number): number => {
    const i = process.argv.indexOf(name);
    return i > 0 ? Number(process.argv[i + 1]) : def;
  };
  const seconds = arg('--seconds', 5);
  const reps = arg('--reps', 3);
  const t0 = Date.now();
  runBench(seconds, reps, (s) => process.stderr.write(`[${((Date.now() - t0) / 1000).toFixed(0)}s] ${s}\n`)).then((r) => {
    const command = `npm run bench (node dist/bench/e2e/run.js --seconds ${seconds} --reps ${reps})`;
    process.stdout.write(markdown(r, command));
    if (process.argv.includes('--write-docs')) writeDocs(r, command);
  }, (e: Error) => {
    process.stderr.write(`bench: ${e.stack ?? e.message}\n`);
    process.exitCode = 1;
  });
}
