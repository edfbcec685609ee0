// Starting sixtun daemons inside the topology, reading their status, and
// traffic through it made by the lab's own programs (no ping or iperf3 needed).
import { fileURLToPath } from 'node:url';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { SpawnOptions } from 'node:child_process';
import type { Lab, Spawned } from './netns.js';
import { waitFor } from './netns.js';
import { controlRequest } from '../control/control-server.js';
import { clientConfigYaml, serverConfigYaml, writeConfig, type ClientInfo, type ServerConfigOptions, type Topology } from './topology.js';

/** The package root, whether this file runs from test/helpers or dist/test/helpers. */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('package.json not found above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
  return dir;
}

export const PACKAGE_ROOT = packageRoot();
export const SIXTUN_BIN = join(PACKAGE_ROOT, 'bin', 'sixtun.js');
/** A lab program (tcp-transfer, echo6, send41, send-ns) as compiled into dist/ by `npm install`. */
export function labScript(name: string): string {
  return join(PACKAGE_ROOT, 'dist', 'src', 'lab', `${name}.js`);
}

export interface RunningDaemon {
  proc: Spawned;
  socket: string;
  config: string;
}

export function runDir(tag: string): string {
  return mkdtempSync(join(tmpdir(), `sixtun-${tag}-`));
}

/** Starts `sixtun MODE -c CONFIG` in ns (through a wrapper command, if
 * given, that execs its arguments) and waits until its control socket answers. */
export async function startDaemon(
  lab: Lab, ns: string, mode: 'server' | 'client', config: string, socket: string, spawnOpts: SpawnOptions = {}, args: string[] = [], timeoutMs = 15_000,
  wrapper: string[] = [],
): Promise<RunningDaemon> {
  const proc = lab.spawn(ns, [...wrapper, process.execPath, SIXTUN_BIN, mode, '-c', config, ...args], spawnOpts);
  let exited = false;
  void proc.exited.then(() => { exited = true; });
  await waitFor(async () => {
    if (exited) throw new Error(`sixtun ${mode} exited during start:\n${proc.output()}`);
    try {
      // No tunnels in the answer: a server with 10^5 of them answers at once.
      await controlRequest(socket, { cmd: 'status', limit: 0 }, 1000);
      return true;
    } catch {
      return false;
    }
  }, timeoutMs, 50, `sixtun ${mode} in ${ns} to answer on ${socket}`);
  return { proc, socket, config };
}

export async function startServer(t: Topology, dir: string, opts: Partial<ServerConfigOptions> = {}, clients = t.clients): Promise<RunningDaemon> {
  const socket = opts.controlSocket ?? join(dir, 'server.sock');
  const config = writeConfig(dir, 'server.yaml', serverConfigYaml(t, { ...opts, controlSocket: socket }, clients));
  return startDaemon(t.lab, t.server, 'server', config, socket);
}

export async function startClient(t: Topology, c: ClientInfo, dir: string, extra = '', args: string[] = []): Promise<RunningDaemon> {
  const socket = join(dir, `${c.name}.sock`);
  const config = writeConfig(dir, `${c.name}.yaml`, clientConfigYaml(c, socket, extra));
  return startDaemon(t.lab, c.ns, 'client', config, socket, {}, args);
}

export interface TunnelCounters {
  name: string;
  tx: { packets: number; bytes: number };
  rx: { packets: number; bytes: number };
  drops: Record<string, number>;
  icmp_sent: number;
  path_mtu: number | null;
  mtu: number;
}

export interface Status {
  tunnels: TunnelCounters[];
  offload: { mode: string; udp_gro: boolean; super_packets: number; segments: number; coalesced_packets: number; coalesced_segments: number };
  drops_without_tunnel: Record<string, number>;
  kernel_interference: string[];
}

export async function status(d: RunningDaemon): Promise<Status> {
  return (await controlRequest(d.socket, { cmd: 'status' })) as Status;
}

export function tunnelOf(s: Status, name: string): TunnelCounters {
  const t = s.tunnels.find((x) => x.name === name);
  if (!t) throw new Error(`no tunnel ${name} in status`);
  return t;
}

/** Runs a TCP transfer of `bytes` from ns `from` to `toAddr` (served in ns `to`) and returns both digests. */
export async function tcpTransfer(lab: Lab, from: string, to: string, toAddr: string, bytes: number, port = 5001): Promise<{ sent: string; received: string }> {
  const server = lab.spawn(to, [process.execPath, labScript('tcp-transfer'), 'serve', String(port), String(bytes)]);
  await waitFor(() => server.output().includes('listening'), 10_000, 20, 'transfer server');
  const sender = await lab.run(from, [process.execPath, labScript('tcp-transfer'), 'send', toAddr, String(port), String(bytes), '7'], { timeoutMs: 120_000 });
  await server.exited;
  const received = JSON.parse(server.output().split('\n').find((l) => l.startsWith('{'))!) as { sha256: string };
  return { sent: (JSON.parse(sender.trim()) as { sha256: string }).sha256, received: received.sha256 };
}

/** ICMPv6 echoes from ns to addr with the lab's own echo6 program. */
export async function echo(lab: Lab, ns: string, addr: string, opts: { count?: number; intervalMs?: number; size?: number } = {}): Promise<{ sent: number; received: number; rttMs: number[] }> {
  const args = [String(opts.count ?? 3), String(opts.intervalMs ?? 200), '2000', String(opts.size ?? 56)];
  return JSON.parse(await lab.run(ns, [process.execPath, labScript('echo6'), addr, ...args], { timeoutMs: 60_000 })) as { sent: number; received: number; rttMs: number[] };
}
