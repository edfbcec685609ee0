// Transmit: IPv6 packets read from the TUN (at offset 20 of each slot) are
// encapsulated in place: the IPv4 header (RFC 4213 §3.5, RFC 791) goes into
// the 20 bytes of headroom in front of them. Too-big packets are answered
// with ICMPv6 Packet Too Big (RFC 4213 §3.2.2, RFC 4443 §3.2). Nothing here
// allocates, throws or logs per packet.
import { Slab } from '../sys/slab.js';
import { Drop, FORWARDED, FRAGMENTED, TO_SERVER } from './reasons.js';
import { isServerAddress, toServer } from './rcv.js';
import type { DatapathTables } from './tables.js';
import { IPV4_HEADER_LEN, IPPROTO_IPV6_IN_IPV4 } from '../wire/ipv4.js';
import { checksum } from '../wire/checksum.js';
import { IPV6_DST, IPV6_HEADER_LEN, IPV6_HOP_LIMIT, IPV6_MIN_MTU, IPV6_NEXT_HEADER, IPV6_PAYLOAD_LENGTH, IPV6_SRC, NEXT_HEADER_ICMPV6 } from '../wire/ipv6.js';
import { MTU_MAX } from '../config/config.js';
import { VNET_HDR_LEN } from '../wire/virtio-net.js';
import {
  ICMPV6_DEST_UNREACHABLE, ICMPV6_ERROR_HEADER_LEN, ICMPV6_INFORMATIONAL, ICMPV6_PACKET_TOO_BIG, ICMPV6_REDIRECT, UNREACH_NO_ROUTE,
  emitIcmpv6Error, finishIcmpv6, mayAnswerWithError,
} from '../wire/icmpv6.js';
import { SOCKADDR_IN_LEN } from '../sys/sockaddr.js';
import { AF_INET } from '../sys/constants.js';
import { ErrorLimits } from './rate-limits.js';
import { MIN_PMTU, type Tunnel } from '../route/tunnel.js';

/** Scratch the transmit path fills besides the packet slab. */
export interface XmitScratch {
  /** Tunnel id per slot (-1: dropped). */
  slotTunnel: Int32Array;
  /** Per slot: FORWARDED or the Drop reason, for traces. */
  verdict: Int32Array;
  /** Inner length per slot, for counting after the send. */
  innerLen: Int32Array;
  /** A slot whose payload was left where it was read (a TSO segment: see
   * writeSegmentInPlace) holds only its headers; payloadLen[i] > 0 bytes
   * follow at payloadAt[i] of the same buffer, and the send gathers both. */
  payloadAt: Int32Array;
  payloadLen: Int32Array;
  /** ICMPv6 errors sixtun answers with, to write back into the TUN. */
  replies: Slab;
  /** What the host sends to a server address (its own, through the main TUN): for the local TUN. */
  toLocal: Slab;
  /** IPv4 fragments built for paths below 1280 + 20 (sent after the batch):
   * room for a whole batch of the largest packets at the smallest path MTU. */
  fragments: Slab;
  /** Per fragment: the batch slot of the datagram it is part of (a
   * datagram's fragments are consecutive). */
  fragmentSlot: Int32Array;
  icmpLimits: ErrorLimits;
}

/** sixtun fragments only below this path MTU (1280 + 20: above it DF is set
 * and the inner MTU follows the path); every fragment is smaller. */
const MIN_FRAGMENTING_MTU = IPV6_MIN_MTU + IPV4_HEADER_LEN;
/** At most: a 1280-byte inner packet (the tunnel MTU on such a path) in
 * fragments of the floor path MTU's 8-byte multiple (RFC 791 §3.2). */
export const FRAGMENTS_PER_DATAGRAM = Math.ceil(IPV6_MIN_MTU / ((MIN_PMTU - IPV4_HEADER_LEN) & ~7));

/** Scratch for batches of up to `batch` packets; icmpRate: ICMPv6 errors per second (burst half that). */
export function createXmitScratch(batch: number, icmpRate = 100): XmitScratch {
  return {
    slotTunnel: new Int32Array(batch),
    verdict: new Int32Array(batch),
    innerLen: new Int32Array(batch),
    payloadAt: new Int32Array(batch),
    payloadLen: new Int32Array(batch),
    // Headroom for the TUN's virtio header when offloads are on (kept zero).
    // An echo reply is as long as its request: up to the TUN's largest MTU.
    replies: new Slab({ slots: 32, slotSize: VNET_HDR_LEN + MTU_MAX, headroom: VNET_HDR_LEN }),
    toLocal: new Slab({ slots: 32, slotSize: MTU_MAX }),
    fragments: new Slab({ slots: batch * FRAGMENTS_PER_DATAGRAM, inChunks: true, slotSize: MIN_FRAGMENTING_MTU, nameStride: SOCKADDR_IN_LEN }),
    fragmentSlot: new Int32Array(batch * FRAGMENTS_PER_DATAGRAM),
    icmpLimits: new ErrorLimits(icmpRate),
  };
}

/** Encapsulates slots [0, count) of slab in place. Afterwards lens[i] is the
 * outer length to send from slot start, or 0 for a dropped packet. */
export function xmitBatch(dp: DatapathTables, slab: Slab, count: number, sc: XmitScratch, now: number): void {
  const b = slab.bytes;
  const lens = slab.lens;
  const names = slab.names!;
  sc.replies.count = 0;
  sc.toLocal.count = 0;
  sc.fragments.count = 0;
  for (let i = 0; i < count; i++) {
    const s = slab.slotStart(i);
    const p = s + IPV4_HEADER_LEN;
    const len = lens[i];
    sc.slotTunnel[i] = -1;
    sc.innerLen[i] = len;
    sc.verdict[i] = FORWARDED;
    lens[i] = 0;
    if (len < IPV6_HEADER_LEN || b[p] >> 4 !== 6 || IPV6_HEADER_LEN + ((b[p + IPV6_PAYLOAD_LENGTH] << 8) | b[p + IPV6_PAYLOAD_LENGTH + 1]) !== len) {
      dp.global.drops[Drop.BadIpv6]++;
      sc.verdict[i] = Drop.BadIpv6;
      continue;
    }
    const d = p + IPV6_DST;
    const id = dp.prefixes.lookupAt(b, d);
    if (id < 0) {
      const reason = b[d] === 0xff ? Drop.MulticastDestination : dp.pools.lookupAt(b, d) >= 0 ? Drop.Unassigned : Drop.NoRoute;
      dp.global.drops[reason]++;
      sc.verdict[i] = reason;
      if (reason === Drop.Unassigned) {
        joinPayload(b, sc, i, p);
        answerUnassigned(dp, b, p, len, sc, now);
      }
      continue;
    }
    const t = dp.tunnels[id]!;
    if (dp.mode === 'server' && isServerAddress(b, d, t.words)) {
      // The host to its own server address: looped back through the local TUN.
      joinPayload(b, sc, i, p);
      const v = toServer(sc.toLocal, b, p, len);
      if (v !== TO_SERVER) t.counters.drops[v]++;
      sc.verdict[i] = v;
      sc.slotTunnel[i] = id;
      continue;
    }
    // Only ICMPv6 is looked at further: the common packet pays one byte compare.
    if (dp.mode === 'server' && b[p + IPV6_NEXT_HEADER] === NEXT_HEADER_ICMPV6) {
      const reason = fromServerStack(dp, t, b, p, len);
      if (reason >= 0) {
        t.counters.drops[reason]++;
        sc.verdict[i] = reason;
        sc.slotTunnel[i] = id;
        continue;
      }
    }
    const mtu = t.effectiveMtu(now);
    if (len > mtu) {
      joinPayload(b, sc, i, p);
      answerTooBig(t, b, p, len, mtu, sc, now);
      sc.slotTunnel[i] = id;
      sc.verdict[i] = Drop.TooBig;
      continue;
    }

    // RFC 6040 §4.1 normal mode: copy the inner ECN field, CE becomes ECT(0).
    const tc = ((b[p] & 0x0f) << 4) | (b[p + 1] >> 4);
    const ecn = tc & 3;
    const tos = (t.spec.tosInherit ? tc & 0xfc : 0) | (ecn === 3 ? 2 : ecn);
    const ttl = t.spec.ttl === 0 ? b[p + IPV6_HOP_LIMIT] : t.spec.ttl;
    const total = len + IPV4_HEADER_LEN;
    const df = t.dontFragment();
    const flags = df ? 0x4000 : 0;
    // RFC 6864 §4.1: atomic datagrams (DF set) need no unique ID.
    const ipId = df ? 0 : t.nextIpId();
    let sum = t.headerSum + tos + total + ipId + flags + (ttl << 8);
    sum = (sum & 0xffff) + (sum >>> 16);
    sum = (sum & 0xffff) + (sum >>> 16);
    const csum = ~sum & 0xffff;
    const l = t.spec.localV4;
    const r = t.spec.remoteV4;
    b[s] = 0x45;
    b[s + 1] = tos;
    b[s + 2] = total >>> 8;
    b[s + 3] = total & 0xff;
    b[s + 4] = ipId >>> 8;
    b[s + 5] = ipId & 0xff;
    b[s + 6] = flags >>> 8;
    b[s + 7] = 0;
    b[s + 8] = ttl;
    b[s + 9] = IPPROTO_IPV6_IN_IPV4;
    b[s + 10] = csum >>> 8;
    b[s + 11] = csum & 0xff;
    b[s + 12] = l >>> 24;
    b[s + 13] = (l >>> 16) & 0xff;
    b[s + 14] = (l >>> 8) & 0xff;
    b[s + 15] = l & 0xff;
    b[s + 16] = r >>> 24;
    b[s + 17] = (r >>> 16) & 0xff;
    b[s + 18] = (r >>> 8) & 0xff;
    b[s + 19] = r & 0xff;

    if (!df && t.pathMtu !== 0 && total > t.pathMtu) {
      // Path below 1280 + 20: fragment the IPv4 datagram ourselves (IP_HDRINCL never does).
      sc.slotTunnel[i] = id;
      joinPayload(b, sc, i, p);
      fragment(b, s, total, t.pathMtu, sc, i, t);
      sc.verdict[i] = FRAGMENTED;
      continue;
    }
    // sockaddr_in (AF_INET, port 0, remote): bytes, not a TypedArray.set per packet.
    const n = i * SOCKADDR_IN_LEN;
    names[n] = AF_INET;
    names[n + 1] = 0;
    names[n + 2] = 0;
    names[n + 3] = 0;
    names[n + 4] = r >>> 24;
    names[n + 5] = (r >>> 16) & 0xff;
    names[n + 6] = (r >>> 8) & 0xff;
    names[n + 7] = r & 0xff;
    lens[i] = total;
    sc.slotTunnel[i] = id;
  }
}

/** Moves slot i's payload behind its headers at b[p] (the packet is about
 * to be quoted, answered, fragmented or traced: rare paths that want it whole). */
export function joinPayload(b: Uint8Array, sc: XmitScratch, i: number, p: number): void {
  const n = sc.payloadLen[i];
  if (n === 0) return;
  const at = sc.payloadAt[i];
  b.copyWithin(p + sc.innerLen[i] - n, at, at + n);
  sc.payloadLen[i] = 0;
}

/** Counts a too-big packet and answers it with ICMPv6 Packet Too Big (mtu)
 * from the tunnel's server address, rate limited (RFC 4443 §2.4 (f)). */
export function answerTooBig(t: Tunnel, b: Uint8Array, p: number, len: number, mtu: number, sc: XmitScratch, now: number): void {
  t.counters.drops[Drop.TooBig]++;
  if (mayAnswerWithError(b, p, len, true) && sc.replies.count < sc.replies.slots && sc.icmpLimits.allow(true, b, p + IPV6_SRC, now)) {
    const r = sc.replies.count++;
    sc.replies.lens[r] = emitIcmpv6Error(sc.replies.bytes, sc.replies.dataStart(r), ICMPV6_PACKET_TOO_BIG, 0, mtu, t.spec.serverV6, b, p, len);
    t.counters.icmpSent++;
  }
}

/** RFC 4443 §3.1: Destination Unreachable, code 0 (no route to destination,
 * as Linux answers for an `unreachable` route), for an address of a pool
 * that no tunnel holds; rate limited with the other errors. */
function answerUnassigned(dp: DatapathTables, b: Uint8Array, p: number, len: number, sc: XmitScratch, now: number): void {
  const src = dp.unreachableSource;
  if (src === null || !mayAnswerWithError(b, p, len, false) || sc.replies.count >= sc.replies.slots || !sc.icmpLimits.allow(false, b, p + IPV6_SRC, now)) return;
  const r = sc.replies.count++;
  sc.replies.lens[r] = emitIcmpv6Error(sc.replies.bytes, sc.replies.dataStart(r), ICMPV6_DEST_UNREACHABLE, UNREACH_NO_ROUTE, 0, src, b, p, len);
  dp.global.icmpSent++;
}

/** What the server's own stack sends into tunnel t, before it is sent: the
 * Drop reason for what must not go (-1 for the rest), for an ICMPv6 packet. Its errors have
 * a source the kernel chose among the host's addresses (the TUN has none but
 * fe80::, and the server addresses are no kernel addresses); they get the one the kernel
 * with a device per tunnel would have chosen, the tunnel's server address
 * (RFC 4443 §2.2: an address of the interface the error goes out of). */
function fromServerStack(dp: DatapathTables, t: Tunnel, b: Uint8Array, p: number, len: number): number {
  if (len < IPV6_HEADER_LEN + ICMPV6_ERROR_HEADER_LEN) return -1;
  const type = b[p + IPV6_HEADER_LEN];
  if (type === ICMPV6_REDIRECT) return Drop.RedirectIntoTunnel;
  if (type < ICMPV6_INFORMATIONAL && dp.isHostAddress(b, p + IPV6_SRC)) {
    // A server address the error is about (the quoted packet went to it) is the source it answers from.
    const quotedDst = p + IPV6_HEADER_LEN + ICMPV6_ERROR_HEADER_LEN + IPV6_DST;
    const about = len >= quotedDst - p + 16 ? dp.prefixes.lookupAt(b, quotedDst) : -1;
    const owner = about >= 0 && isServerAddress(b, quotedDst, dp.tunnels[about]!.words) ? dp.tunnels[about]! : t;
    b.set(owner.spec.serverV6, p + IPV6_SRC);
    finishIcmpv6(b, p);
  }
  return -1;
}

const MORE_FRAGMENTS = 0x2000;

/** Splits the IPv4 datagram at buf[s, s+total) into fragments of at most
 * pathMtu bytes (RFC 791 §3.2, fragment data a multiple of 8) into
 * sc.fragments, which has room for a whole batch of them. All fragments
 * carry the datagram's ID (never 0: the datagram is not atomic). */
function fragment(buf: Uint8Array, s: number, total: number, pathMtu: number, sc: XmitScratch, slot: number, t: Tunnel): void {
  const fr = sc.fragments;
  const payload = total - IPV4_HEADER_LEN;
  const chunk = (pathMtu - IPV4_HEADER_LEN) & ~7;
  for (let off = 0; off < payload; off += chunk) {
    const f = fr.count++;
    const o = fr.slotStart(f);
    const n = payload - off < chunk ? payload - off : chunk;
    const ob = fr.bytes;
    ob.set(buf.subarray(s, s + IPV4_HEADER_LEN), o);
    ob.set(buf.subarray(s + IPV4_HEADER_LEN + off, s + IPV4_HEADER_LEN + off + n), o + IPV4_HEADER_LEN);
    const len = IPV4_HEADER_LEN + n;
    const ff = (off >>> 3) | (off + n < payload ? MORE_FRAGMENTS : 0);
    ob[o + 2] = len >>> 8;
    ob[o + 3] = len & 0xff;
    ob[o + 6] = ff >>> 8;
    ob[o + 7] = ff & 0xff;
    ob[o + 10] = 0;
    ob[o + 11] = 0;
    const c = checksum(ob, o, IPV4_HEADER_LEN);
    ob[o + 10] = c >>> 8;
    ob[o + 11] = c & 0xff;
    t.writeRemote(fr.names!, f * SOCKADDR_IN_LEN);
    fr.lens[f] = len;
    sc.fragmentSlot[f] = slot;
  }
}
