// Namespace lab for the demo, benchmarks and tests. Every namespace gets a
// per-run prefix; everything made here is recorded and torn down by cleanup(),
// which also runs on process exit and on SIGINT/SIGTERM. Processes are stopped
// only by the PID this harness started, never by name.
//
// This helper may use iproute2: it builds the world around sixtun, and sixtun
// itself never shells out.
import { execFile, execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';

export interface Spawned {
  ns: string;
  pid: number;
  child: ChildProcess;
  /** Everything the process printed so far (stdout and stderr interleaved). */
  output(): string;
  /** Resolves with the exit code (or the signal name). */
  exited: Promise<number | string>;
}

const live = new Set<Lab>();
let hooksInstalled = false;

function installExitHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', () => {
    for (const lab of live) lab.cleanupSync();
  });
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      for (const lab of live) lab.cleanupSync();
      process.kill(process.pid, sig);
    });
  }
}

export function ipCmd(args: string[], input?: string): string {
  return execFileSync('ip', args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });
}

export class Lab {
  readonly prefix: string;
  private readonly namespaces: string[] = [];
  private readonly processes: Spawned[] = [];

  /** tag: a few letters naming the suite, to tell leftovers apart. */
  constructor(tag = 'sx') {
    // Namespace names are global to the host: pid + random keeps parallel runs apart.
    this.prefix = `${tag}${process.pid.toString(36)}${randomBytes(2).toString('hex')}-`;
    installExitHooks();
    live.add(this);
  }

  /** Creates a namespace named prefix+short with loopback up; returns its full name. */
  ns(short: string): string {
    const name = this.prefix + short;
    ipCmd(['netns', 'add', name]);
    this.namespaces.push(name);
    this.ip(name, ['link', 'set', 'lo', 'up']);
    // No duplicate address detection on links made here: addresses are
    // usable at once and snapshots do not race a "tentative" flag.
    for (const scope of ['all', 'default']) this.sysctl(name, `net.ipv6.conf.${scope}.accept_dad`, '0');
    return name;
  }

  /** `ip -n NS args…` */
  ip(ns: string, args: string[]): string {
    return ipCmd(['-n', ns, ...args]);
  }

  /** `ip -j -n NS args…`, parsed. */
  ipJson<T = unknown>(ns: string, args: string[]): T {
    const out = ipCmd(['-j', '-n', ns, ...args]).trim();
    return (out === '' ? [] : JSON.parse(out)) as T;
  }

  /** A veth pair between two namespaces, both ends up. */
  veth(nsA: string, ifA: string, nsB: string, ifB: string, opts: { mtu?: number } = {}): void {
    this.ip(nsA, ['link', 'add', ifA, 'type', 'veth', 'peer', 'name', ifB, 'netns', nsB]);
    for (const [ns, ifname] of [[nsA, ifA], [nsB, ifB]] as const) {
      if (opts.mtu) this.ip(ns, ['link', 'set', ifname, 'mtu', String(opts.mtu)]);
      this.ip(ns, ['link', 'set', ifname, 'up']);
    }
  }

  addr(ns: string, ifname: string, cidr: string, extra: string[] = []): void {
    this.ip(ns, ['addr', 'add', cidr, 'dev', ifname, ...extra]);
  }

  /** Writes /proc/sys in the namespace (tee: coreutils is on every machine, procps's sysctl is not). */
  sysctl(ns: string, key: string, value: string): void {
    this.exec(ns, ['tee', `/proc/sys/${key.replaceAll('.', '/')}`], { input: value });
  }

  /** Runs a command inside the namespace and returns its stdout. */
  exec(ns: string, argv: string[], opts: { input?: string; timeoutMs?: number } = {}): string {
    return execFileSync('ip', ['netns', 'exec', ns, ...argv], {
      encoding: 'utf8',
      input: opts.input,
      timeout: opts.timeoutMs ?? 60_000,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
  }

  /** Like exec, without blocking the event loop (for concurrent load). */
  run(ns: string, argv: string[], opts: { timeoutMs?: number } = {}): Promise<string> {
    return new Promise((resolve, reject) => {
      execFile('ip', ['netns', 'exec', ns, ...argv], { encoding: 'utf8', timeout: opts.timeoutMs ?? 60_000, maxBuffer: 16 << 20 }, (err, stdout) => {
        if (err) reject(Object.assign(err, { stdout }));
        else resolve(stdout);
      });
    });
  }

  /** Starts a long-running process inside the namespace. `ip netns exec`
   * execs the command in place, so the PID is the command's own. */
  spawn(ns: string, argv: string[], opts: SpawnOptions = {}): Spawned {
    const child = spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    if (child.pid === undefined) throw new Error(`could not start ${argv.join(' ')}`);
    let text = '';
    child.stdout?.on('data', (d: Buffer) => { text += d.toString(); });
    child.stderr?.on('data', (d: Buffer) => { text += d.toString(); });
    const exited = new Promise<number | string>((resolve) => {
      child.once('exit', (code, signal) => resolve(code ?? signal ?? -1));
    });
    const spawned: Spawned = { ns, pid: child.pid, child, output: () => text, exited };
    this.processes.push(spawned);
    return spawned;
  }

  /** Stops one process by its PID: SIGTERM, then SIGKILL after graceMs. */
  async stop(p: Spawned, graceMs = 3000): Promise<number | string> {
    if (p.child.exitCode === null && p.child.signalCode === null) {
      try { process.kill(p.pid, 'SIGTERM'); } catch { /* already gone */ }
      const timer = setTimeout(() => {
        try { process.kill(p.pid, 'SIGKILL'); } catch { /* already gone */ }
      }, graceMs);
      const result = await p.exited;
      clearTimeout(timer);
      return result;
    }
    return p.exited;
  }

  /** Hands everything this lab made over to the caller: it will not be torn
   * down on exit any more (`sixtun demo --keep`). Returns what it held. */
  release(): { namespaces: string[]; pids: number[] } {
    live.delete(this);
    const running = this.processes.filter((p) => p.child.exitCode === null && p.child.signalCode === null);
    const held = { namespaces: [...this.namespaces], pids: running.map((p) => p.pid) };
    for (const p of this.processes) p.child.unref();
    this.namespaces.length = 0;
    this.processes.length = 0;
    return held;
  }

  /** Names of this lab's namespaces that still exist on the host. */
  leftovers(): string[] {
    return listNamespaces().filter((n) => n.startsWith(this.prefix));
  }

  async cleanup(): Promise<void> {
    await Promise.all(this.processes.map((p) => this.stop(p)));
    this.cleanupSync();
  }

  /** Synchronous teardown for exit hooks: SIGKILL by PID, then delete namespaces. */
  cleanupSync(): void {
    for (const p of this.processes) {
      if (p.child.exitCode === null && p.child.signalCode === null) {
        try { process.kill(p.pid, 'SIGKILL'); } catch { /* already gone */ }
      }
    }
    this.processes.length = 0;
    for (const name of this.namespaces.splice(0).reverse()) {
      try { ipCmd(['netns', 'del', name]); } catch { /* already gone */ }
    }
    live.delete(this);
  }
}

export function listNamespaces(): string[] {
  const out = ipCmd(['-j', 'netns', 'list']).trim();
  if (out === '') return [];
  return (JSON.parse(out) as { name: string }[]).map((n) => n.name);
}

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** Whether a PID is still alive (signal 0 probes without sending). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Reads until done(reading) holds or timeoutMs passed, and returns the
 * last reading: a count that another thread or process updates in its own
 * time is taken once it got there, never after a fixed pause, and the
 * caller's assertion on it says what differs when it never does. */
export async function readUntil<T>(read: () => T | Promise<T>, done: (reading: T) => boolean, timeoutMs = 5000, intervalMs = 20): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const reading = await read();
    if (done(reading) || Date.now() > deadline) return reading;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Resolves when predicate() is true, polling every intervalMs, or rejects after timeoutMs. */
export async function waitFor(predicate: () => boolean | Promise<boolean>, timeoutMs = 5000, intervalMs = 50, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await predicate()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
