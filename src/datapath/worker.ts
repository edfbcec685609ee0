// The datapath thread: owns the packet loop (TUN, raw protocol-41 socket,
// NDP proxy socket) and the tables it reads per packet, so that nothing the
// control thread does (parsing, netlink, file writes, status, garbage
// collection of its large heap) holds a packet back. It opens nothing and
// holds no capabilities: the control thread opens every descriptor and keeps
// ownership of it; this thread only reads and writes them.
import { parentPort, workerData } from 'node:worker_threads';
import { Datapath } from './loop.js';
import { DatapathTables } from './tables.js';
import { Counters, ROW_LENGTH } from './reasons.js';
import { countersIn } from './counter-rows.js';
import { PREFIX_STRIDE, NDP_SET_STRIDE, type DatapathInit, type FromDatapath, type ToDatapath } from './messages.js';
import { Tracer, TraceSession, type TraceSink } from '../trace/tracer.js';
import { TraceFilter } from '../trace/filter.js';
import { NdpResponder } from '../ndp/responder.js';
import { NdpProxy } from '../ndp/proxy.js';

/** Bytes of one trace's stream posted but not yet written by the control
 * thread: past this the session buffers, then counts packets as lost. */
const TRACE_IN_FLIGHT = 4 << 20;

const port = parentPort!;
const init = workerData as DatapathInit;
const post = (m: FromDatapath, transfer: ArrayBuffer[] = []): void => port.postMessage(m, transfer);

const tables = new DatapathTables(init.mode, init.localV4, new Counters(new Float64Array(init.global, 0, ROW_LENGTH)));
const tracer = new Tracer(tables);
const datapath = new Datapath(tables, init.tunFd, init.rawFd, { offload: init.offload, localTunFd: init.localTunFd });
datapath.udpGro = init.udpGro;
datapath.tracer = tracer;
datapath.onGroRefused = () => post({ t: 'gro-refused' });
datapath.onTunError = (errno) => post({ t: 'tun-error', errno, fd: datapath.tunFd });
let pages: SharedArrayBuffer[] = [];
let ndp: NdpProxy | null = null;

/** A trace's stream goes to the control thread, which writes it to the
 * client; it acknowledges what it wrote, and the session waits for that
 * (drain) rather than piling up copies. */
class PostedSink implements TraceSink {
  destroyed = false;
  private inFlight = 0;
  private drained: (() => void) | null = null;

  constructor(private readonly id: number) {}

  write(chunk: Uint8Array): boolean {
    const copy = chunk.byteOffset === 0 && chunk.byteLength === chunk.buffer.byteLength ? chunk : chunk.slice();
    this.inFlight += copy.byteLength;
    post({ t: 'trace-data', id: this.id, chunk: copy }, [copy.buffer as ArrayBuffer]);
    return this.inFlight < TRACE_IN_FLIGHT;
  }

  once(_event: 'drain', cb: () => void): void {
    this.drained = cb;
  }

  written(bytes: number): void {
    this.inFlight -= bytes;
    if (this.inFlight < TRACE_IN_FLIGHT && this.drained) {
      const cb = this.drained;
      this.drained = null;
      cb();
    }
  }
}

const traces = new Map<number, { session: TraceSession; sink: PostedSink }>();

function ndpTargets(m: Extract<ToDatapath, { t: 'ndp-targets' }>): void {
  const targets = ndp?.responder.targets;
  if (!targets) return;
  if (m.reset) targets.clear();
  for (let i = 0; i < m.del.length; i += PREFIX_STRIDE) targets.delete(m.del.subarray(i, i + 4), m.del[i + 4]);
  for (let i = 0; i < m.set.length; i += NDP_SET_STRIDE) targets.set(m.set.subarray(i, i + 4), m.set[i + 4], m.set[i + 5]);
}

function handle(m: ToDatapath): void {
  switch (m.t) {
    case 'add':
      pages = m.pages;
      for (const { id, spec } of m.tunnels) tables.add(spec, { id, counters: countersIn(pages, id) });
      break;
    case 'remove': {
      const ids: number[] = [];
      for (const name of m.names) {
        const t = tables.remove(name);
        if (t) ids.push(t.id);
      }
      post({ t: 'removed', ids });
      break;
    }
    case 'set-remote':
      tables.setRemote(m.name, m.remoteV4);
      break;
    case 'set-local':
      tables.localV4 = m.localV4 >>> 0;
      for (const t of tables.byName.values()) t.setLocal(tables.localV4);
      break;
    case 'replace-tun':
      datapath.replaceTun(m.fd, m.offload);
      post({ t: 'tun-replaced' });
      break;
    case 'replace-local-tun':
      datapath.localTunFd = m.fd;
      post({ t: 'tun-replaced' });
      break;
    case 'trace-start': {
      const sink = new PostedSink(m.id);
      const session = new TraceSession(new TraceFilter(m.filter), m.snapLen, sink, m.names);
      traces.set(m.id, { session, sink });
      tracer.attach(session);
      break;
    }
    case 'trace-stop': {
      const trace = traces.get(m.id);
      if (!trace) break;
      trace.sink.destroyed = true;
      tracer.detach(trace.session);
      traces.delete(m.id);
      post({ t: 'trace-ended', id: m.id, captured: trace.session.captured, lost: trace.session.lost });
      break;
    }
    case 'trace-ack':
      traces.get(m.id)?.sink.written(m.bytes);
      break;
    case 'ndp-start': {
      const responder = new NdpResponder({ routerFlag: m.routerFlag, ratePerSolicitor: m.ratePerSolicitor });
      ndp = new NdpProxy(m.fd, m.ifindex, responder);
      ndp.tracer = tracer;
      break;
    }
    case 'ndp-interface':
      ndp?.responder.setInterface(m.mac, m.linkLocal);
      break;
    case 'ndp-targets':
      ndpTargets(m);
      break;
    case 'addresses':
      tables.hostAddresses = m.own;
      tables.pools.clear();
      for (let i = 0; i < m.pools.length; i += PREFIX_STRIDE) tables.pools.set(m.pools.slice(i, i + 4), m.pools[i + 4], 0);
      tables.unreachableSource = m.unreachableSource;
      break;
    case 'stats':
      post({
        t: 'stats',
        req: m.req,
        stats: {
          offload: datapath.offload,
          udpGro: datapath.udpGro,
          offloadStats: datapath.offloadStats,
          ndp: ndp ? { ...ndp.responder.counters, invalid: ndp.responder.counters.invalid.slice() } : null,
          traces: [...traces].map(([id, { session }]) => ({ id, captured: session.captured, lost: session.lost })),
          heapUsed: process.memoryUsage().heapUsed,
        },
      });
      break;
    case 'stop':
      datapath.stop();
      ndp?.stop();
      // With nothing watched and the port closed the thread ends: the control thread sees it exit.
      port.close();
      break;
  }
}

port.on('message', handle);
datapath.start();
post({ t: 'ready' });
