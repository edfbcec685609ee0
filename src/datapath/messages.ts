// What the control thread and the datapath thread say to each other. The
// counters are not in here: they live in shared memory (CounterRows), written
// by the datapath thread and read by the control thread without a message.
import type { TunnelSpec } from '../route/tunnel.js';
import type { OffloadMode } from './offload.js';
import type { OffloadStats } from './loop.js';
import type { TraceFilterSpec } from '../trace/filter.js';
import type { Mode } from './tables.js';
import type { NdpCounters } from '../ndp/responder.js';

export interface DatapathInit {
  tunFd: number;
  /** The server's local TUN (what is for a server address goes there), -1 on a client. */
  localTunFd: number;
  rawFd: number;
  mode: Mode;
  localV4: number;
  offload: OffloadMode;
  udpGro: boolean;
  /** The global counters row. */
  global: SharedArrayBuffer;
}

/** Prefixes as flat words: per entry four address words, the prefix length
 * and (NDP targets set) the tunnel id; one array per message rather than an
 * object per prefix (10^5 NDP targets at start-up). */
export const NDP_SET_STRIDE = 6;
export const PREFIX_STRIDE = 5;

export type ToDatapath =
  | { t: 'add'; tunnels: Array<{ id: number; spec: TunnelSpec }>; pages: SharedArrayBuffer[] }
  | { t: 'remove'; names: string[] }
  | { t: 'set-remote'; name: string; remoteV4: number }
  | { t: 'set-local'; localV4: number }
  | { t: 'replace-tun'; fd: number; offload: OffloadMode }
  | { t: 'replace-local-tun'; fd: number }
  | { t: 'trace-start'; id: number; filter: TraceFilterSpec; snapLen: number; names: { inner: string; outer: string; ndp: string } }
  | { t: 'trace-stop'; id: number }
  | { t: 'trace-ack'; id: number; bytes: number }
  | { t: 'ndp-start'; fd: number; ifindex: number; routerFlag: boolean; ratePerSolicitor: number }
  | { t: 'ndp-interface'; mac: Uint8Array; linkLocal: Uint8Array }
  | { t: 'ndp-targets'; reset: boolean; set: Uint32Array; del: Uint32Array }
  | { t: 'addresses'; own: Int32Array; pools: Uint32Array; unreachableSource: Uint8Array | null }
  | { t: 'stats'; req: number }
  | { t: 'stop' };

export interface DatapathStats {
  offload: OffloadMode;
  udpGro: boolean;
  offloadStats: OffloadStats;
  /** A copy of the NDP proxy's counters (null without one). */
  ndp: NdpCounters | null;
  traces: Array<{ id: number; captured: number; lost: number }>;
  /** The datapath thread's JavaScript heap in use, bytes. */
  heapUsed: number;
}

export type FromDatapath =
  | { t: 'ready' }
  | { t: 'removed'; ids: number[] }
  | { t: 'tun-error'; errno: number; fd: number }
  | { t: 'tun-replaced' }
  | { t: 'gro-refused' }
  | { t: 'trace-data'; id: number; chunk: Uint8Array }
  | { t: 'trace-ended'; id: number; captured: number; lost: number }
  | { t: 'stats'; req: number; stats: DatapathStats };
