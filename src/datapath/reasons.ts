// Why a packet was dropped. Every drop in the datapath returns one of these
// and bumps that tunnel's counter; names are what status, traces and metrics show.
export const enum Drop {
  // transmit (TUN → wire)
  BadIpv6 = 0,
  NoRoute,
  MulticastDestination,
  TooBig,
  FragmentationNeeded,
  TxError,
  TxBusy,
  /** A TUN read whose virtio header we cannot act on (offloads). */
  BadOffload,
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
  /** Not an Echo Request, to a tunnel's server address (sixtun is that host: it only answers echoes). */
  ToServerAddress,
  // ICMPv4 errors about our packets
  IcmpQuoteShort,
  IcmpNotOurs,
  Count,
}

/** Per-slot verdicts besides the Drop reasons. */
export const FORWARDED = -1;
export const FRAGMENTED = -2;
/** An Echo Request to a tunnel's server address, answered by sixtun. */
export const ANSWERED = -3;

/** A verdict as traces show it: "forwarded", or "dropped: <reason>". */
export function verdictText(v: number): string {
  if (v === FORWARDED) return 'forwarded';
  if (v === FRAGMENTED) return 'forwarded (fragmented)';
  if (v === ANSWERED) return 'answered (echo to the server address)';
  return `dropped: ${DROP_NAMES[v] ?? 'unknown'}`;
}

export const DROP_NAMES: readonly string[] = [
  'bad-ipv6',
  'no-route',
  'multicast-destination',
  'too-big',
  'fragmentation-needed',
  'tx-error',
  'tx-busy',
  'bad-offload',
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
  'to-server-address',
  'icmp-quote-short',
  'icmp-not-ours',
];

/** Per-tunnel (or global) packet and drop counters. Plain numbers in typed
 * arrays: bumping one never allocates. */
export class Counters {
  readonly drops = new Float64Array(Drop.Count);
  txPackets = 0;
  txBytes = 0;
  rxPackets = 0;
  rxBytes = 0;
  /** ICMPv6 errors sixtun generated (PTB, relayed unreachables). */
  icmpSent = 0;
  /** Echo Requests to the tunnel's server address that sixtun answered. */
  echoAnswered = 0;
  /** Time (ms since epoch) of the last packet each way, 0 = never. */
  lastTx = 0;
  lastRx = 0;

  dropTotal(): number {
    let s = 0;
    for (let i = 0; i < this.drops.length; i++) s += this.drops[i];
    return s;
  }

  dropsByName(): Record<string, number> {
    const out: Record<string, number> = {};
    for (let i = 0; i < this.drops.length; i++) if (this.drops[i] > 0) out[DROP_NAMES[i]] = this.drops[i];
    return out;
  }
}
