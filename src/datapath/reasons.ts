// Why a packet was dropped. Every drop in the datapath returns one of these
// and bumps that tunnel's counter; names are what status, traces and metrics show.
export const enum Drop {
  // transmit (TUN → wire)
  BadIpv6 = 0,
  NoRoute,
  /** To an address of a configured pool that no tunnel holds (answered with Destination Unreachable). */
  Unassigned,
  MulticastDestination,
  TooBig,
  FragmentationNeeded,
  TxError,
  TxBusy,
  /** A TUN read whose virtio header we cannot act on (offloads). */
  BadOffload,
  /** An ICMPv6 Redirect the server's kernel sent into a tunnel: one TUN
   * carries every tunnel, so client-to-client traffic leaves by the device it
   * came in by, which is what makes the kernel redirect (RFC 4861 §8.2).
   * Kernel SIT, a device per tunnel, never sends one; IPv6 has no switch for it. */
  RedirectIntoTunnel,
  /** To a tunnel's server address, but the local TUN took it not (full, or
   * gone for a moment); never sent to the client, whose address it is not. */
  ToServerAddress,
  // receive (wire → TUN)
  Oversize,
  BadIpv4,
  NotLocal,
  UnknownRemote,
  InnerTruncated,
  InnerNotIpv6,
  MartianSource,
  MartianDestination,
  SpoofedSource,
  EcnCeNotEct,
  TunWriteError,
  // ICMPv4 errors about our packets
  IcmpQuoteShort,
  IcmpNotOurs,
  Count,
}

/** Per-slot verdicts besides the Drop reasons. */
export const FORWARDED = -1;
export const FRAGMENTED = -2;
/** Addressed to a tunnel's server address: handed to the server's own stack through the local TUN. */
export const TO_SERVER = -3;

/** A verdict as traces show it: "forwarded", or "dropped: <reason>". */
export function verdictText(v: number): string {
  if (v === FORWARDED) return 'forwarded';
  if (v === FRAGMENTED) return 'forwarded (fragmented)';
  if (v === TO_SERVER) return 'to the server (its tunnel address)';
  return `dropped: ${DROP_NAMES[v] ?? 'unknown'}`;
}

export const DROP_NAMES: readonly string[] = [
  'bad-ipv6',
  'no-route',
  'unassigned',
  'multicast-destination',
  'too-big',
  'fragmentation-needed',
  'tx-error',
  'tx-busy',
  'bad-offload',
  'redirect-into-tunnel',
  'to-server-address',
  'oversize',
  'bad-ipv4',
  'not-local',
  'unknown-remote',
  'inner-truncated',
  'inner-not-ipv6',
  'martian-source',
  'martian-destination',
  'spoofed-source',
  'ecn-ce-not-ect',
  'tun-write-error',
  'icmp-quote-short',
  'icmp-not-ours',
];

/** Where each number lives in a tunnel's row (a Float64Array): the drop
 * counters by reason first, then these. The rows of a daemon's tunnels sit in
 * memory shared between the datapath thread, which counts, and the control
 * thread, which reads them for status, metrics and idle checks. */
export const ROW_TX_PACKETS = Drop.Count;
export const ROW_TX_BYTES = Drop.Count + 1;
export const ROW_RX_PACKETS = Drop.Count + 2;
export const ROW_RX_BYTES = Drop.Count + 3;
export const ROW_ICMP_SENT = Drop.Count + 4;
export const ROW_TO_SERVER = Drop.Count + 5;
export const ROW_LAST_TX = Drop.Count + 6;
export const ROW_LAST_RX = Drop.Count + 7;
/** Tunnel state the control thread shows: the learned IPv4 path MTU and when it expires. */
export const ROW_PATH_MTU = Drop.Count + 8;
export const ROW_PATH_MTU_EXPIRES = Drop.Count + 9;
export const ROW_LENGTH = Drop.Count + 10;

/** Per-tunnel (or global) packet and drop counters over one row. Plain
 * numbers in a typed array: bumping one never allocates. */
export class Counters {
  /** The drop counters, by Drop reason: the row itself (they come first in
   * it; one typed array a tunnel fewer than a view of them). */
  readonly drops: Float64Array<ArrayBufferLike>;

  constructor(readonly row: Float64Array<ArrayBufferLike> = new Float64Array(ROW_LENGTH)) {
    this.drops = row;
  }

  get txPackets(): number { return this.row[ROW_TX_PACKETS]; }
  set txPackets(v: number) { this.row[ROW_TX_PACKETS] = v; }
  get txBytes(): number { return this.row[ROW_TX_BYTES]; }
  set txBytes(v: number) { this.row[ROW_TX_BYTES] = v; }
  get rxPackets(): number { return this.row[ROW_RX_PACKETS]; }
  set rxPackets(v: number) { this.row[ROW_RX_PACKETS] = v; }
  get rxBytes(): number { return this.row[ROW_RX_BYTES]; }
  set rxBytes(v: number) { this.row[ROW_RX_BYTES] = v; }
  /** ICMPv6 errors sixtun generated (PTB, relayed unreachables). */
  get icmpSent(): number { return this.row[ROW_ICMP_SENT]; }
  set icmpSent(v: number) { this.row[ROW_ICMP_SENT] = v; }
  /** Packets from the tunnel to its server address (handed to the server's own stack). */
  get toServer(): number { return this.row[ROW_TO_SERVER]; }
  set toServer(v: number) { this.row[ROW_TO_SERVER] = v; }
  /** Time (ms since epoch) of the last packet each way, 0 = never. */
  get lastTx(): number { return this.row[ROW_LAST_TX]; }
  set lastTx(v: number) { this.row[ROW_LAST_TX] = v; }
  get lastRx(): number { return this.row[ROW_LAST_RX]; }
  set lastRx(v: number) { this.row[ROW_LAST_RX] = v; }

  dropTotal(): number {
    let s = 0;
    for (let i = 0; i < Drop.Count; i++) s += this.drops[i];
    return s;
  }

  dropsByName(): Record<string, number> {
    const out: Record<string, number> = {};
    for (let i = 0; i < Drop.Count; i++) if (this.drops[i] > 0) out[DROP_NAMES[i]] = this.drops[i];
    return out;
  }
}
