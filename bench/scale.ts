// The control plane at a broker's number of tunnels: for N tunnels (one /127
// and one routed /64 each) in namespaces, how long sixtun takes to start (and
// the same kernel work done by `ip -batch`, the floor), its memory, a tunnel
// add and remove while traffic crosses another tunnel (and how much that
// traffic is delayed), a reload with one change, status, metrics, the NDP
// answer for the last tunnel, and stop. Stores: the tunnels in the YAML file,
// in a tunnel journal, or in a journal with pools (one kernel route per pool
// instead of one per tunnel prefix).
// Client endpoints beyond the first are in 198.18.0.0/15 (RFC 2544, for
// benchmarks); nothing leaves the namespaces made here.
//   node dist/bench/scale.js [--tunnels 1000,10000] [--store file,journal,pools] [--changes 20] [--file-up-to 10000] [--write-docs]
import { execFileSync } from 'node:child_process';
import { appendFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Lab, waitFor, type Spawned } from '../src/lab/netns.js';
import { buildTopology, HOST_V6, SERVER_EXT_V6, SERVER_V4 } from '../src/lab/topology.js';
import { runDir, startDaemon, startClient, labScript } from '../src/lab/daemons.js';
import { SYNTHETIC_POOLS, synthetic, writeRegistry, type Store } from '../src/lab/registry.js';
import { controlRequest } from '../src/control/control-server.js';
import { loadConfig } from '../src/config/config.js';
import { cpuMicros, median, percentile, settled, writeSection } from './stats.js';


export interface ScaleResult {
  tunnels: number;
  store: Store;
  parseMs: number;
  startMs: number;
  floorMs: number;
  rssMb: number;
  settledRssMb: number;
  addMs: { p50: number; p99: number };
  removeMs: { p50: number; p99: number };
  echoBeforeMs: number;
  echoChangesMaxMs: number;
  echoReadsMaxMs: number;
  echoLost: number;
  reloadMs: number;
  kernelRoutes: number;
  ndpAnswerMs: number | null;
  /** Echoes from the Internet (the host) to the last tunnel's server address: answered of sent, median round trip. */
  serverEcho: { sent: number; received: number; p50Ms: number };
  metricsMs: number;
  metricsBytes: number;
  statusAllMs: number;
  statusAllBytes: number;
  statusOneMs: number;
  stopMs: number;
}

const hex = (n: number): string => n.toString(16);

/** The same kernel objects (a route per pair and per routed prefix on a TUN) by `ip -batch`: the floor. */
function kernelFloor(lab: Lab, n: number, dir: string): number {
  const ns = lab.ns(`floor${n}`);
  lab.ip(ns, ['tuntap', 'add', 'dev', 'floor0', 'mode', 'tun']);
  lab.ip(ns, ['link', 'set', 'floor0', 'up']);
  const lines: string[] = [];
  for (let i = 1; i <= n; i++) lines.push(`route add 2001:db8:f${hex(i >> 16)}:${hex(i & 0xffff)}::/127 dev floor0 proto 246`);
  for (let i = 1; i <= n; i++) lines.push(`route add 2001:db8:${hex(0x1000 + (i >> 16))}:${hex(i & 0xffff)}::/64 dev floor0 proto 246`);
  // From a file: `ip -batch -` reading a pipe was 30 times slower here.
  const file = join(dir, `floor${n}.batch`);
  writeFileSync(file, lines.join('\n') + '\n');
  const t0 = performance.now();
  execFileSync('ip', ['-n', ns, '-batch', file]);
  const ms = performance.now() - t0;
  lab.ip(ns, ['link', 'del', 'floor0']);
  return ms;
}

async function timed<T>(f: () => Promise<T>): Promise<[number, T]> {
  const t0 = performance.now();
  const r = await f();
  return [performance.now() - t0, r];
}

export async function scaleOne(n: number, store: Store, changes: number, settle: number, log: (s: string) => void): Promise<ScaleResult> {
  const lab = new Lab('scale');
  const dir = runDir('scale');
  try {
    const t = buildTopology(lab, { clients: 1 });
    const socket = join(dir, 'server.sock');
    const file = join(dir, 'server.yaml');
    writeRegistry(t, n, socket, file, store);
    const [parseMs] = await timed(async () => loadConfig(file));
    log(`${n} tunnels (${store}): parse and validate ${parseMs.toFixed(0)} ms`);
    const floorMs = kernelFloor(lab, n, dir);
    log(`${n} tunnels: ip -batch floor ${floorMs.toFixed(0)} ms`);
    const t0 = performance.now();
    const server = await startDaemon(lab, t.server, 'server', file, socket, {}, [], Math.max(60_000, n * 2));
    const startMs = performance.now() - t0;
    log(`${n} tunnels: started in ${startMs.toFixed(0)} ms`);
    await startClient(t, t.clients[0], dir);
    const status = async (req: Record<string, unknown> = {}): Promise<Record<string, unknown>> => (await controlRequest(socket, { cmd: 'status', ...req }, 120_000)) as Record<string, unknown>;
    const rssMb = ((await status({ limit: 0 })).memory as { rss: number }).rss / 1e6;

    const kernelRoutes = (await lab.run(t.server, ['ip', '-6', 'route', 'show', 'proto', '246'])).split('\n').filter((l) => l !== '').length;
    // The upstream router asks for the last tunnel's client address.
    const last = synthetic(n - 1);
    const ns = JSON.parse(await lab.run(t.router, [process.execPath, labScript('send-ns'), JSON.stringify({ iface: 'to-srv', target: last.client_ipv6, src: 'fe80::99', listenMs: 1000 })])) as { firstReplyMs: number | null };
    // The last tunnel's server address is the server's own: the host's echoes to it are answered (by the kernel's stack).
    lab.ip(t.router, ['-6', 'route', 'add', SYNTHETIC_POOLS.pairs, 'via', SERVER_EXT_V6]);
    const toServer = JSON.parse(await lab.run(t.host, [process.execPath, labScript('echo6'), last.server_ipv6.replace(/\/\d+$/, ''), '5', '20'])) as { sent: number; received: number; rttMs: number[] };
    const serverEcho = { sent: toServer.sent, received: toServer.received, p50Ms: toServer.rttMs.length > 0 ? median(toServer.rttMs) : NaN };
    log(`${n} tunnels: echo to the last tunnel's server address ${serverEcho.received}/${serverEcho.sent}, p50 ${serverEcho.p50Ms.toFixed(1)} ms`);
    // Echoes through tunnel 0 every 20 ms while tunnels are added and removed, the configuration reloaded and the whole status read.
    const c = t.clients[0];
    const before = JSON.parse(await lab.run(c.ns, [process.execPath, labScript('echo6'), HOST_V6, '20', '20'])) as { rttMs: number[] };
    // Until stopped (SIGTERM makes echo6 print what it has): as long as a phase takes.
    // Started before the phase (node starts in ~0.2 s), stopped after the last answers are in.
    const echoStream = async (): Promise<Spawned> => {
      const p = lab.spawn(c.ns, [process.execPath, labScript('echo6'), HOST_V6, '1000000', '20', '5000']);
      await new Promise((r) => setTimeout(r, 600));
      return p;
    };
    const echoResult = async (p: Spawned): Promise<{ sent: number; received: number; rttMs: number[] }> => {
      await new Promise((r) => setTimeout(r, 1000));
      await lab.stop(p);
      return JSON.parse(p.output().trim().split('\n').pop()!) as { sent: number; received: number; rttMs: number[] };
    };
    let echoes = await echoStream();
    const adds: number[] = [];
    const removes: number[] = [];
    for (let k = 0; k < changes; k++) {
      const i = n + 1 + k;
      const fields = {
        client_ipv4: `198.${18 + (i >> 16)}.${(i >> 8) & 0xff}.${i & 0xff}`,
        server_ipv6: `2001:db8:f${hex(i >> 16)}:${hex(i & 0xffff)}::/127`,
        client_ipv6: `2001:db8:f${hex(i >> 16)}:${hex(i & 0xffff)}::1`,
        routed_prefixes: [`2001:db8:${hex(0x1000 + (i >> 16))}:${hex(i & 0xffff)}::/64`],
      };
      adds.push((await timed(() => controlRequest(socket, { cmd: 'tunnel', op: 'add', name: `x${k}`, fields }, 600_000)))[0]);
      removes.push((await timed(() => controlRequest(socket, { cmd: 'tunnel', op: 'remove', name: `x${k}` }, 600_000)))[0]);
    }
    const duringChanges = await echoResult(echoes);
    log(`${n} tunnels: add p50 ${percentile(adds, 50).toFixed(1)} ms, remove p50 ${percentile(removes, 50).toFixed(1)} ms, echo max ${Math.max(...duringChanges.rttMs).toFixed(1)} ms`);
    echoes = await echoStream();

    // Reload with one tunnel more: in the file, or appended to the journal (as another writer would).
    if (store === 'file') writeRegistry(t, n, socket, file, store, 1);
    else appendFileSync(`${file}.jsonl`, JSON.stringify({ op: 'put', tunnel: synthetic(n) }) + '\n');
    const reloadStart = performance.now();
    const seen = server.proc.output().split('msg="reloaded"').length;
    process.kill(server.proc.pid, 'SIGHUP');
    await waitFor(() => server.proc.output().split('msg="reloaded"').length > seen, 600_000, 5, 'reload');
    const reloadMs = performance.now() - reloadStart;

    const [statusAllMs, all] = await timed(() => status());
    const [statusOneMs] = await timed(() => status({ tunnel: `s${n - 1}` }));
    const [metricsMs, metrics] = await timed(async () => lab.exec(t.server, ['curl', '-sf', 'http://[::1]:9641/metrics']));
    const duringReads = await echoResult(echoes);
    log(`${n} tunnels: echo max ${Math.max(...duringReads.rttMs).toFixed(1)} ms during reload, status and metrics; NDP answer ${ns.firstReplyMs?.toFixed(1)} ms`);
    // V8 keeps the heap it grew to during start-up until it has been idle for a while (its memory
    // reducer): RSS after `settle` idle seconds is what the daemon holds for long.
    await new Promise((r) => setTimeout(r, settle * 1000));
    const settledRssMb = ((await status({ limit: 0 })).memory as { rss: number }).rss / 1e6;
    const stopStart = performance.now();
    process.kill(server.proc.pid, 'SIGTERM');
    await server.proc.exited;
    const stopMs = performance.now() - stopStart;
    log(`${n} tunnels: reload ${reloadMs.toFixed(0)} ms, status ${statusAllMs.toFixed(0)} ms, stop ${stopMs.toFixed(0)} ms`);
    return {
      tunnels: n, store, parseMs, startMs, floorMs, rssMb, settledRssMb,
      addMs: { p50: percentile(adds, 50), p99: percentile(adds, 99) },
      removeMs: { p50: percentile(removes, 50), p99: percentile(removes, 99) },
      echoBeforeMs: percentile(before.rttMs, 50), echoChangesMaxMs: Math.max(...duringChanges.rttMs), echoReadsMaxMs: Math.max(...duringReads.rttMs),
      echoLost: duringChanges.sent - duringChanges.received + duringReads.sent - duringReads.received,
      reloadMs, kernelRoutes, ndpAnswerMs: ns.firstReplyMs, serverEcho, metricsMs, metricsBytes: metrics.length, statusAllMs, statusAllBytes: JSON.stringify(all).length, statusOneMs, stopMs,
    };
  } finally {
    await lab.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface SpreadRun {
  tunnels: number;
  sent: number;
  forwarded: number;
  kpps: number;
  cpuUsPerPacket: number;
}

/** Forwarding (decapsulation) from one tunnel and spread over `spread`
 * tunnels in turn, same sender and packets, interleaved `reps` times: the
 * rate the server forwarded and its CPU per packet. The inner packets go to
 * a blackhole route on the server: what is measured is sixtun's receive path. */
export async function spreadForwarding(spread: number, reps: number, seconds: number, log: (s: string) => void): Promise<SpreadRun[]> {
  const lab = new Lab('spread');
  const dir = runDir('spread');
  try {
    const t = buildTopology(lab, { clients: 1 });
    const socket = join(dir, 'server.sock');
    const file = join(dir, 'server.yaml');
    writeRegistry(t, spread + 1, socket, file, 'pools');
    const server = await startDaemon(lab, t.server, 'server', file, socket, {}, [], Math.max(60_000, spread * 2));
    lab.ip(t.server, ['-6', 'route', 'add', 'blackhole', '2001:db8:dead::/64']);
    const rx = (): number => Number(/^sixtun_rx_packets_total (\d+)$/m.exec(lab.exec(t.server, ['curl', '-sf', 'http://[::1]:9641/metrics']))![1]);
    const runs: SpreadRun[] = [];
    for (let r = 0; r < reps; r++) {
      for (const tunnels of [1, spread]) {
        const rx0 = rx();
        const cpu0 = cpuMicros(server.proc.pid);
        const flood = { dst: SERVER_V4, first: 1, tunnels, innerDst: '2001:db8:dead::1', size: 128, count: 50_000_000, seconds };
        const { sent } = JSON.parse(await lab.run(t.clients[0].ns, [process.execPath, labScript('flood41'), JSON.stringify(flood)])) as { sent: number };
        const forwarded = (await settled(rx)) - rx0;
        const run = { tunnels, sent, forwarded, kpps: forwarded / seconds / 1000, cpuUsPerPacket: (cpuMicros(server.proc.pid) - cpu0) / Math.max(1, forwarded) };
        log(`spread: ${tunnels} tunnel(s): sent ${sent}, forwarded ${forwarded} (${run.kpps.toFixed(0)} kpps), ${run.cpuUsPerPacket.toFixed(2)} µs CPU per packet`);
        runs.push(run);
      }
    }
    process.kill(server.proc.pid, 'SIGTERM');
    await server.proc.exited;
    return runs;
  } finally {
    await lab.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
}

export function spreadMarkdown(runs: SpreadRun[], command: string): string {
  const of = (n: number): SpreadRun[] => runs.filter((r) => r.tunnels === n);
  const counts = [...new Set(runs.map((r) => r.tunnels))];
  const rows = counts.map((n) => {
    const rs = of(n);
    return `| ${n} | ${rs.map((r) => r.kpps.toFixed(0)).join(', ')} | ${median(rs.map((r) => r.kpps)).toFixed(0)} | ${median(rs.map((r) => r.cpuUsPerPacket)).toFixed(2)} |`;
  });
  const [one, many] = counts.map((n) => of(n));
  const ratio = median(many.map((r) => r.kpps)) / median(one.map((r) => r.kpps));
  const cpuRatio = median(one.map((r) => r.cpuUsPerPacket)) / median(many.map((r) => r.cpuUsPerPacket));
  return [
    `Command: \`${command}\`. 128-byte protocol-41 packets (UDP inside) from one raw-socket sender in the client namespace, as fast as it can, each from the next tunnel in turn; the server forwards them into a blackhole route. Repetitions interleaved.`,
    '',
    '| tunnels the packets come from | server forwarded, kpps (each run) | median kpps | server CPU µs per packet (median) |',
    '|---|---|---|---|',
    ...rows,
    '',
    `Spread over ${counts[1]} tunnels against one: ${ratio.toFixed(2)}× the rate, ${cpuRatio.toFixed(2)}× the packets per CPU second.`,
  ].join('\n');
}

export function scaleMarkdown(results: ScaleResult[], command: string): string {
  const f = (x: number): string => (x >= 100 ? x.toFixed(0) : x.toFixed(1));
  const store = { file: 'file', journal: 'journal', pools: 'journal + pools' };
  const rows = results.map((r) => `| ${r.tunnels} | ${store[r.store]} | ${f(r.parseMs)} | ${f(r.startMs)} | ${f(r.floorMs)} | ${r.kernelRoutes} | ${f(r.rssMb)} → ${f(r.settledRssMb)} | ${f(r.addMs.p50)} / ${f(r.addMs.p99)} | ${f(r.removeMs.p50)} / ${f(r.removeMs.p99)} | ${f(r.echoBeforeMs)} → ${f(r.echoChangesMaxMs)} / ${f(r.echoReadsMaxMs)} (${r.echoLost} lost) | ${f(r.reloadMs)} | ${f(r.statusAllMs)} (${f(r.statusAllBytes / 1e6)} MB) | ${f(r.statusOneMs)} | ${f(r.metricsMs)} (${f(r.metricsBytes / 1e3)} kB) | ${r.ndpAnswerMs === null ? 'none' : f(r.ndpAnswerMs)} | ${r.serverEcho.received}/${r.serverEcho.sent}, ${f(r.serverEcho.p50Ms)} | ${f(r.stopMs)} |`);
  return [
    `Command: \`${command}\`. One /127 and one routed /64 per tunnel; times in ms. Store: the tunnels in the YAML file, in a tunnel journal, or in a journal with pools around the pairs and the /64s. Echoes cross another tunnel every 20 ms: their p50 before, then their largest round trip during the changes, and during the reload, the whole \`status\` and the metrics scrape.`,
    '',
    '| tunnels | store | parse + validate | start (spawn → answering) | kernel floor (\`ip -batch\`, one route per tunnel prefix) | kernel routes sixtun made | RSS MB after start → after the runs and `--settle` idle seconds | \`tunnel add\` p50 / p99 | \`tunnel remove\` p50 / p99 | echo through another tunnel: p50 before → max during changes / during reload, status, metrics | SIGHUP, one tunnel more | \`status\` all | \`status NAME\` | metrics (\`per_tunnel: false\`) | NDP answer, last tunnel | echo to the last tunnel’s server address from the Internet: answered, p50 | SIGTERM → exit |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows,
  ].join('\n');
}

if (process.argv[1] && /bench\/scale\.js$/.test(process.argv[1])) {
  const arg = (name: string, def: string): string => {
    const i = process.argv.indexOf(name);
    return i > 0 ? process.argv[i + 1] : def;
  };
  const sizes = arg('--tunnels', '1000,10000').split(',').map(Number).filter((n) => n > 0);
  const stores = arg('--store', 'file,journal,pools').split(',') as Store[];
  const changes = Number(arg('--changes', '20'));
  // A YAML file of 10^5 tunnels takes ~20 s to parse, per change: not measured past this.
  const fileUpTo = Number(arg('--file-up-to', '10000'));
  const spread = Number(arg('--spread', '10000'));
  const settle = Number(arg('--settle', '45'));
  const spreadReps = Number(arg('--spread-reps', '3'));
  const command = `npm run bench:scale -- --tunnels ${sizes.join(',')} --store ${stores.join(',')} --changes ${changes} --file-up-to ${fileUpTo} --settle ${settle}`;
  const spreadCommand = `npm run bench:scale -- --spread ${spread} --spread-reps ${spreadReps}`;
  const t0 = Date.now();
  const log = (s: string): void => { process.stderr.write(`[${((Date.now() - t0) / 1000).toFixed(0)}s] ${s}\n`); };
  (async () => {
    const results: ScaleResult[] = [];
    for (const n of sizes) for (const store of stores) if (store !== 'file' || n <= fileUpTo) results.push(await scaleOne(n, store, changes, settle, log));
    if (results.length > 0) {
      process.stdout.write(scaleMarkdown(results, command) + '\n');
      if (process.argv.includes('--write-docs')) writeSection('<!-- bench:scale:start -->', '<!-- bench:scale:end -->', scaleMarkdown(results, command));
    }
    if (spread > 0) {
      const runs = await spreadForwarding(spread, spreadReps, 4, log);
      process.stdout.write(spreadMarkdown(runs, spreadCommand) + '\n');
      if (process.argv.includes('--write-docs')) writeSection('<!-- bench:spread:start -->', '<!-- bench:spread:end -->', spreadMarkdown(runs, spreadCommand));
    }
  })().catch((e: Error) => {
    process.stderr.write(`bench:scale: ${e.stack ?? e.message}\n`);
    process.exitCode = 1;
  });
}
