// The NDP proxy's decision, without I/O: one received Ethernet frame in, at
// most one Neighbor Advertisement frame out. Answers only for targets that
// belong to a live tunnel (RFC 4861 §7.2.8 proxying), with the flags the
// kernel's proxy_ndp uses (ndisc_recv_ns): O=0, S=1 for a normal NS and S=0
// to ff02::1 for DAD, TLLA when the NS was multicast or DAD.
import { PrefixTable } from '../route/prefix-table.js';
import { AddressLimiter } from '../datapath/rate-limits.js';
import { TokenBucket } from '../datapath/token-bucket.js';
import { ETH_DST, ETH_HEADER_LEN, ETH_SRC, ETH_TYPE, ETHERTYPE_IPV6, writeMulticastMac } from '../wire/ethernet.js';
import { IPV6_SRC } from '../wire/ipv6.js';
import { NA_FLAG_ROUTER, NA_FLAG_SOLICITED, ND_TARGET, NS_CHECK_NAMES, NsCheck, checkNs, emitNa, newNsInfo } from '../wire/ndp.js';

const ALL_NODES = Uint8Array.from([0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
const MAX_SOLICITORS = 4096;
const INVALID_VERDICTS = NS_CHECK_NAMES.map((n) => `ignored: invalid ${n}`);

export class NdpCounters {
  seen = 0;
  answered = 0;
  notOurs = 0;
  rateLimited = 0;
  /** Frames to another host's MAC (promiscuous interface): never answered. */
  otherHost = 0;
  readonly invalid = new Float64Array(NS_CHECK_NAMES.length);
}

/** The counters as status shows them (also from a copy posted by the datapath thread). */
export function ndpCountersJson(c: Readonly<NdpCounters>): Record<string, unknown> {
  const invalid: Record<string, number> = {};
  c.invalid.forEach((v, i) => { if (v > 0) invalid[NS_CHECK_NAMES[i]] = v; });
  return { seen: c.seen, answered: c.answered, not_ours: c.notOurs, rate_limited: c.rateLimited, other_host: c.otherHost, invalid };
}

export interface ResponderOptions {
  routerFlag: boolean;
  /** Answers per second per solicitor (burst: the same number). */
  ratePerSolicitor: number;
  /** Answers per second in all (burst: the same number). */
  ratePerSecond?: number;
}

/** Answers per second in all, unless told otherwise: a flood from many
 * (spoofed) solicitors costs at most this many frames out. */
export const NDP_ANSWERS_PER_SECOND = 1000;

export class NdpResponder {
  readonly counters = new NdpCounters();
  /** What the last handle() did, for traces. */
  lastVerdict = '';
  /** Target address → tunnel id. */
  readonly targets = new PrefixTable();
  mac: Uint8Array = new Uint8Array(6);
  linkLocal: Uint8Array = new Uint8Array(16);
  private readonly info = newNsInfo();
  /** Per solicitor: its whole IPv6 source, or (DAD, source ::) its MAC. */
  private readonly perSolicitor: AddressLimiter;
  private readonly all: TokenBucket;
  private readonly key = new Uint8Array(16);
  private readonly dstScratch = new Uint8Array(16);

  constructor(private readonly opts: ResponderOptions) {
    this.perSolicitor = new AddressLimiter(opts.ratePerSolicitor, opts.ratePerSolicitor, MAX_SOLICITORS);
    const total = opts.ratePerSecond ?? NDP_ANSWERS_PER_SECOND;
    this.all = new TokenBucket(total, total);
  }

  setInterface(mac: Uint8Array, linkLocal: Uint8Array): void {
    this.mac = mac.slice(0, 6);
    this.linkLocal = linkLocal.slice(0, 16);
  }

  /** Handles frame[0, len). Returns the NA frame's length written into out,
   * or 0 when there is nothing to send. */
  handle(frame: Uint8Array, len: number, out: Uint8Array, now: number): number {
    const c = this.counters;
    if (len < ETH_HEADER_LEN || ((frame[ETH_TYPE] << 8) | frame[ETH_TYPE + 1]) !== ETHERTYPE_IPV6) {
      c.invalid[NsCheck.Truncated]++;
      this.lastVerdict = 'ignored: truncated';
      return 0;
    }
    c.seen++;
    const ip = ETH_HEADER_LEN;
    const info = this.info;
    const check = checkNs(frame, ip, len - ip, info);
    if (check !== NsCheck.Ok) {
      c.invalid[check]++;
      this.lastVerdict = INVALID_VERDICTS[check];
      return 0;
    }
    const t = info.icmp + ND_TARGET;
    if (this.targets.lookupAt(frame, t) < 0) {
      c.notOurs++;
      this.lastVerdict = 'ignored: not-ours';
      return 0;
    }
    const s = ip + IPV6_SRC;
    let allowed: boolean;
    if (info.dad) {
      // Source ::, so the MAC (in a key of its own kind: the rest zero, never an address a host sends from).
      for (let i = 0; i < 6; i++) this.key[i] = frame[ETH_SRC + i];
      allowed = this.perSolicitor.take(this.key, 0, now);
    } else {
      allowed = this.perSolicitor.take(frame, s, now);
    }
    if (!allowed || !this.all.take(now)) {
      c.rateLimited++;
      this.lastVerdict = 'ignored: rate-limited';
      return 0;
    }
    // Ethernet: to the solicitor (its SLLA option, else the frame's source), or all-nodes for DAD.
    if (info.dad) writeMulticastMac(out, ETH_DST, ALL_NODES, 0);
    else {
      const from = info.sourceLinkLayer >= 0 ? info.sourceLinkLayer : ETH_SRC;
      for (let i = 0; i < 6; i++) out[ETH_DST + i] = frame[from + i];
    }
    out.set(this.mac, ETH_SRC);
    out[ETH_TYPE] = ETHERTYPE_IPV6 >> 8;
    out[ETH_TYPE + 1] = ETHERTYPE_IPV6 & 0xff;
    let dst: Uint8Array;
    if (info.dad) dst = ALL_NODES;
    else {
      for (let i = 0; i < 16; i++) this.dstScratch[i] = frame[s + i];
      dst = this.dstScratch;
    }
    const flags = (this.opts.routerFlag ? NA_FLAG_ROUTER : 0) | (info.dad ? 0 : NA_FLAG_SOLICITED);
    const tlla = info.dad || info.multicastDestination ? this.mac : null;
    const n = emitNa(out, ETH_HEADER_LEN, this.linkLocal, dst, frame, t, flags, tlla);
    c.answered++;
    this.lastVerdict = 'answered';
    return ETH_HEADER_LEN + n;
  }
}
