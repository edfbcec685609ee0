// Starting sixtun daemons inside the topology and reading their status.
import { fileURLToPath } from 'node:url';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { SpawnOptions } from 'node:child_process';
import type { Lab, Spawned } from './netns.js';
import { waitFor } from './netns.js';
import { controlRequest } from '../../src/control/control-server.js';
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
/** Helper programs run inside namespaces, compiled by `npm run build`/`pretest`. */
export const HELPERS_DIR = join(PACKAGE_ROOT, 'dist', 'test', 'helpers');

export function helperScript(name: string): string {
  return join(HELPERS_DIR, `${name}.js`);
}

export interface RunningDaemon {
  proc: Spawned;
  socket: string;
  config: string;
}

export function runDir(tag: string): string {
  return mkdtempSync(join(tmpdir(), `sixtun-${tag}-`));
}

/** Starts `sixtun MODE -c CONFIG` in ns and waits until its control socket answers. */
export async function startDaemon(
  lab: Lab, ns: string, mode: 'server' | 'client', config: string, socket: string, spawnOpts: SpawnOptions = {}, args: string[] = [],
): Promise<RunningDaemon> {
  const proc = lab.spawn(ns, [process.execPath, SIXTUN_BIN, mode, '-c', config, ...args], spawnOpts);
  let exited = false;
  void proc.exited.then(() => { exited = true; });
  await waitFor(async () => {
    if (exited) throw new Error(`sixtun ${mode} exited during start:\n${proc.output()}`);
    try {
      await controlRequest(socket, { cmd: 'status' }, 1000);
      return true;
    } catch {
      return false;
    }
  }, 15_000, 50, `sixtun ${mode} in ${ns} to answer on ${socket}`);
  return { proc, socket, config };
}

export async function startServer(t: Topology, dir: string, opts: Partial<ServerConfigOptions> = {}, clients = t.clients): Promise<RunningDaemon> {
  const socket = join(dir, 'server.sock');
  const config = writeConfig(dir, 'server.yaml', serverConfigYaml(t, { controlSocket: socket, ...opts }, clients));
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
  const server = lab.spawn(to, [process.execPath, helperScript('tcp-transfer'), 'serve', String(port), String(bytes)]);
  await waitFor(() => server.output().includes('listening'), 10_000, 20, 'transfer server');
  const sender = await lab.run(from, [process.execPath, helperScript('tcp-transfer'), 'send', toAddr, String(port), String(bytes), '7'], { timeoutMs: 120_000 });
  await server.exited;
  const received = JSON.parse(server.output().split('\n').find((l) => l.startsWith('{'))!) as { sha256: string };
  return { sent: (JSON.parse(sender.trim()) as { sha256: string }).sha256, received: received.sha256 };
}

/** count datagrams of size bytes from ns `from` to toAddr in `to`, burst at a
 * time; the digests over what was sent and what arrived, in arrival order. */
export async function udpBursts(lab: Lab, from: string, to: string, toAddr: string, count: number, size: number, burst: number, port = 5301): Promise<{ sent: string; received: string }> {
  const server = lab.spawn(to, [process.execPath, helperScript('udp-burst'), 'serve', String(port), String(count)]);
  await waitFor(() => server.output().includes('listening'), 10_000, 20, 'UDP receiver');
  const sender = await lab.run(from, [process.execPath, helperScript('udp-burst'), 'send', toAddr, String(port), String(count), String(size), String(burst)], { timeoutMs: 60_000 });
  // A lost datagram leaves the receiver waiting: stop it and report what it had.
  await Promise.race([server.exited, new Promise((r) => setTimeout(r, 3000))]);
  await lab.stop(server);
  const line = server.output().split('\n').find((l) => l.startsWith('{'));
  return { sent: (JSON.parse(sender.trim()) as { sha256: string }).sha256, received: line ? (JSON.parse(line) as { sha256: string }).sha256 : 'incomplete' };
}

/** `ping -6` inside ns; returns the number of replies. */
export function ping(lab: Lab, ns: string, addr: string, opts: { count?: number; size?: number; interval?: number } = {}): { received: number; output: string } {
  const args = ['ping', '-6', '-n', '-c', String(opts.count ?? 3), '-i', String(opts.interval ?? 0.2), '-W', '2'];
  if (opts.size !== undefined) args.push('-s', String(opts.size));
  let output: string;
  try {
    output = lab.exec(ns, [...args, addr], { timeoutMs: 60_000 });
  } catch (e) {
    output = (e as { stdout?: string }).stdout ?? String(e);
  }
  const m = /(\d+) received/.exec(output);
  return { received: m ? Number(m[1]) : 0, output };
}
