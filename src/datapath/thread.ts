// The control thread's handle on the datapath thread (worker.ts): it mirrors
// the tunnels (names, specs, ids) for status and metrics, hands out ids and
// counter rows, and posts every change; the datapath thread applies changes
// in the order they were made, between packet batches.
import { Worker } from 'node:worker_threads';
import type { Socket } from 'node:net';
import { Tunnel, type TunnelSpec } from '../route/tunnel.js';
import { Counters, ROW_LENGTH } from './reasons.js';
import { CounterRows } from './counter-rows.js';
import type { OffloadMode } from './offload.js';
import type { TraceFilterSpec } from '../trace/filter.js';
import { PREFIX_STRIDE, NDP_SET_STRIDE, type DatapathInit, type DatapathStats, type FromDatapath, type ToDatapath } from './messages.js';
import type { IpPrefix } from '../wire/address.js';
import { wordsOf } from '../route/prefix-table.js';
import { readI32 } from '../wire/ipv4.js';

/** Changes per message: the datapath thread applies one message between
 * packet batches, so a change of 10^5 tunnels (start, a reload) is taken in
 * steps of a few milliseconds rather than one long stall. */
const CHUNK = 1024;

/** How long a stopping thread may take to finish its batch and exit by itself. */
const STOP_WAIT_MS = 2000;

export interface NdpTarget {
  prefix: IpPrefix;
  tunnelId: number;
}

/** Prefixes as flat words: four address words and the length each. */
function flatPrefixes(list: IpPrefix[]): Uint32Array {
  const out = new Uint32Array(list.length * PREFIX_STRIDE);
  list.forEach((p, i) => {
    out.set(wordsOf(p.bytes), i * PREFIX_STRIDE);
    out[i * PREFIX_STRIDE + 4] = p.length;
  });
  return out;
}

export class DatapathThread {
  readonly byName = new Map<string, Tunnel>();
  readonly global: Counters;
  localV4: number;
  offload: OffloadMode;
  /** Called when a TUN fd failed (the device was deleted): which one, and why. */
  onTunError: ((fd: number, errno: number) => void) | null = null;
  onGroRefused: (() => void) | null = null;
  /** The thread died or failed: nothing is forwarded any more. */
  onFatal: ((error: Error) => void) | null = null;
  private readonly rows = new CounterRows();
  /** Ids the datapath thread has let go of, reusable. */
  private readonly freeIds: number[] = [];
  private nextId = 0;
  private statsRequests = 0;
  private readonly statsWaiting = new Map<number, (s: DatapathStats) => void>();
  private traceIds = 0;
  private readonly traces = new Map<number, { conn: Socket; ended: (captured: number, lost: number) => void }>();
  private readonly tunReplaced: Array<() => void> = [];
  private stopped: (() => void) | null = null;
  private stopping = false;

  private constructor(private readonly worker: Worker, init: DatapathInit) {
    this.global = new Counters(new Float64Array(init.global, 0, ROW_LENGTH));
    this.localV4 = init.localV4;
    this.offload = init.offload;
    worker.on('message', (m: FromDatapath) => this.onMessage(m));
    worker.on('error', (e) => this.fail(e));
    worker.on('exit', (code) => {
      if (!this.stopping) this.fail(new Error(`the datapath thread exited (code ${code})`));
      this.stopped?.();
    });
  }

  /** Starts the thread on fds the caller opened (and keeps, and closes). */
  static start(init: Omit<DatapathInit, 'global'>): Promise<DatapathThread> {
    const full: DatapathInit = { ...init, global: new SharedArrayBuffer(ROW_LENGTH * 8) };
    const worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: full });
    return new Promise((resolve, reject) => {
      const early = (e: Error): void => reject(e);
      worker.once('error', early);
      worker.once('message', (m: FromDatapath) => {
        worker.off('error', early);
        if (m.t === 'ready') resolve(new DatapathThread(worker, full));
        else reject(new Error(`the datapath thread said ${m.t} before ready`));
      });
    });
  }

  private post(m: ToDatapath): void {
    this.worker.postMessage(m);
  }

  private fail(e: Error): void {
    if (this.stopping) return;
    this.stopping = true;
    this.onFatal?.(e);
  }

  private onMessage(m: FromDatapath): void {
    switch (m.t) {
      case 'removed':
        this.freeIds.push(...m.ids);
        break;
      case 'tun-replaced':
        this.tunReplaced.shift()?.();
        break;
      case 'tun-error':
        this.onTunError?.(m.fd, m.errno);
        break;
      case 'gro-refused':
        if (this.offload === 'tso+gro') this.offload = 'tso';
        this.onGroRefused?.();
        break;
      case 'trace-data': {
        const bytes = m.chunk.byteLength;
        const conn = this.traces.get(m.id)?.conn;
        const ack = (): void => this.post({ t: 'trace-ack', id: m.id, bytes });
        if (!conn || conn.destroyed) ack();
        else conn.write(m.chunk, ack);
        break;
      }
      case 'trace-ended':
        this.traces.get(m.id)?.ended(m.captured, m.lost);
        this.traces.delete(m.id);
        break;
      case 'stats':
        this.statsWaiting.get(m.req)?.(m.stats);
        this.statsWaiting.delete(m.req);
        break;
    }
  }

  /** Adds tunnels (ids and zeroed counter rows chosen here); returns their mirrors. */
  add(specs: TunnelSpec[]): Tunnel[] {
    const added = specs.map((spec) => {
      if (this.byName.has(spec.name)) throw new Error(`tunnel ${spec.name} exists`);
      const id = this.freeIds.length > 0 ? this.freeIds.pop()! : this.nextId++;
      const t = new Tunnel(id, spec, this.rows.fresh(id));
      this.byName.set(spec.name, t);
      return t;
    });
    for (let i = 0; i < added.length; i += CHUNK) {
      this.post({ t: 'add', tunnels: added.slice(i, i + CHUNK).map((t) => ({ id: t.id, spec: t.spec })), pages: this.rows.pages });
    }
    return added;
  }

  remove(names: string[]): void {
    const gone = names.filter((n) => this.byName.delete(n));
    for (let i = 0; i < gone.length; i += CHUNK) this.post({ t: 'remove', names: gone.slice(i, i + CHUNK) });
  }

  setRemote(name: string, remoteV4: number): void {
    const t = this.byName.get(name);
    if (!t) throw new Error(`no tunnel ${name}`);
    t.setRemote(remoteV4);
    this.post({ t: 'set-remote', name, remoteV4 });
  }

  setLocal(localV4: number): void {
    this.localV4 = localV4 >>> 0;
    for (const t of this.byName.values()) t.setLocal(this.localV4);
    this.post({ t: 'set-local', localV4: this.localV4 });
  }

  /** Moves the loop to a new TUN fd; resolves once the thread no longer
   * touches the old one (only then may it be closed: its number could be
   * reused by the next open). */
  replaceTun(fd: number, offload: OffloadMode): Promise<void> {
    this.offload = offload;
    this.post({ t: 'replace-tun', fd, offload });
    return new Promise((resolve) => this.tunReplaced.push(resolve));
  }

  /** The local TUN, re-created (answered like replace-tun: then the old fd may be closed). */
  replaceLocalTun(fd: number): Promise<void> {
    this.post({ t: 'replace-local-tun', fd });
    return new Promise((resolve) => this.tunReplaced.push(resolve));
  }

  startNdp(fd: number, ifindex: number, opts: { routerFlag: boolean; ratePerSolicitor: number }): void {
    this.post({ t: 'ndp-start', fd, ifindex, ...opts });
  }

  ndpInterface(mac: Uint8Array, linkLocal: Uint8Array): void {
    this.post({ t: 'ndp-interface', mac, linkLocal });
  }

  /** Targets the NDP proxy answers for: all of them anew (reset), or these
   * set and those deleted. */
  ndpTargets(reset: boolean, set: NdpTarget[], del: IpPrefix[]): void {
    const s = new Uint32Array(set.length * NDP_SET_STRIDE);
    set.forEach((x, i) => {
      s.set(wordsOf(x.prefix.bytes), i * NDP_SET_STRIDE);
      s[i * NDP_SET_STRIDE + 4] = x.prefix.length;
      s[i * NDP_SET_STRIDE + 5] = x.tunnelId;
    });
    const d = flatPrefixes(del);
    const empty = new Uint32Array(0);
    if (reset || d.length > 0) this.post({ t: 'ndp-targets', reset, set: empty, del: d });
    for (let i = 0; i < set.length; i += CHUNK) {
      this.post({ t: 'ndp-targets', reset: false, set: s.slice(i * NDP_SET_STRIDE, (i + CHUNK) * NDP_SET_STRIDE), del: empty });
    }
  }

  /** The host's global IPv6 addresses; the pools whose unassigned addresses
   * are answered with Destination Unreachable, and the source address of
   * those errors (null: none). */
  hostAddresses(own: Uint8Array[], pools: IpPrefix[], unreachableSource: Uint8Array | null): void {
    const words = new Int32Array(own.length * 4);
    own.forEach((a, i) => {
      for (let k = 0; k < 4; k++) words[i * 4 + k] = readI32(a, 4 * k);
    });
    this.post({ t: 'addresses', own: words, pools: flatPrefixes(pools), unreachableSource });
  }

  /** Streams a trace to conn until it closes; `ended` gets the session's totals. */
  trace(filter: TraceFilterSpec, snapLen: number, names: { inner: string; outer: string; ndp: string }, conn: Socket, ended: (captured: number, lost: number) => void): void {
    const id = ++this.traceIds;
    this.traces.set(id, { conn, ended });
    this.post({ t: 'trace-start', id, filter, snapLen, names });
    conn.once('close', () => this.post({ t: 'trace-stop', id }));
  }

  /** What only the datapath thread knows: offload and NDP counters, traces. */
  stats(): Promise<DatapathStats> {
    if (this.stopping) return Promise.reject(new Error('the datapath thread has stopped'));
    const req = ++this.statsRequests;
    return new Promise((resolve) => {
      this.statsWaiting.set(req, resolve);
      this.post({ t: 'stats', req });
    });
  }

  /** Stops the packet loop and ends the thread; the fds stay open. */
  async stop(): Promise<void> {
    if (this.stopping) {
      await this.worker.terminate();
      return;
    }
    this.stopping = true;
    const exited = new Promise<void>((resolve) => { this.stopped = resolve; });
    this.post({ t: 'stop' });
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => { timer = setTimeout(resolve, STOP_WAIT_MS); });
    await Promise.race([exited, late]);
    clearTimeout(timer);
    await this.worker.terminate();
  }
}
