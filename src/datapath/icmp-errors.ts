// ICMPv4 errors about packets sixtun sent, read from the raw socket's error
// queue (IP_RECVERR). Fragmentation Needed lowers the tunnel's path MTU
// (RFC 4213 §3.2.2); other unreachables and TTL expiry are relayed to the
// inner sender as ICMPv6 when the quote holds the inner header plus 8 bytes
// (RFC 4213 §3.4, as Linux ipip6_err does) when the quoted inner packet is
// one the tunnel carries (so that an off-path host cannot have sixtun send
// ICMPv6 to arbitrary addresses); errors about packets we did not send are
// ignored. RFC 4884 extension objects after the quote are never relayed.
import type { Slab } from '../sys/slab.js';
import { Drop } from './reasons.js';
import type { DatapathTables } from './tables.js';
import { IPPROTO_IPV6_IN_IPV4, IPV4_HEADER_LEN, readU32 } from '../wire/ipv4.js';
import { IPV6_DST, IPV6_HEADER_LEN, IPV6_SRC } from '../wire/ipv6.js';
import {
  ICMPV6_DEST_UNREACHABLE, ICMPV6_TIME_EXCEEDED, TIME_EXCEEDED_HOP_LIMIT, UNREACH_ADDRESS, emitIcmpv6Error,
  mayAnswerWithError,
} from '../wire/icmpv6.js';
import type { ErrorLimits } from './rate-limits.js';
import { prefixContainsAt } from '../wire/address.js';

// struct sock_extended_err (linux/errqueue.h) inside an IP_RECVERR cmsg.
export const SO_EE_ORIGIN_LOCAL = 1;
export const SO_EE_ORIGIN_ICMP = 2;
export const EE_ERRNO = 0;
export const EE_ORIGIN = 4;
export const EE_TYPE = 5;
export const EE_CODE = 6;
export const EE_INFO = 8;
/** With IP_RECVERR_RFC4884: struct sock_ee_data_rfc4884, len first (host order). */
export const EE_DATA = 12;
export const EE_LEN = 16;
const EMSGSIZE = 90;

const ICMP_DEST_UNREACH = 3;
const ICMP_TIME_EXCEEDED = 11;
const ICMP_FRAG_NEEDED = 4;
const ICMP_SR_FAILED = 5;
const ICMP_EXC_TTL = 0;

export interface QueuedError {
  errno: number;
  origin: number;
  type: number;
  code: number;
  info: number;
  /** RFC 4884: bytes of the original datagram in the quote (0: no extension). */
  rfc4884Length: number;
}

export const enum ErrorOutcome {
  PathMtu,
  Relayed,
  Ignored,
}

/** Parses control messages (struct cmsghdr: 8-byte length, level, type, data
 * 8-aligned) for the IP_RECVERR one. Returns false if there is none. */
export function parseRecvErr(ctrl: Uint8Array, ctrlLen: number, out: QueuedError): boolean {
  const dv = new DataView(ctrl.buffer, ctrl.byteOffset, ctrl.byteLength);
  let p = 0;
  while (p + 16 <= ctrlLen) {
    const len = Number(dv.getBigUint64(p, true));
    const level = dv.getInt32(p + 8, true);
    const type = dv.getInt32(p + 12, true);
    if (len < 16 || p + len > ctrlLen) return false;
    if (level === 0 /* SOL_IP */ && type === 11 /* IP_RECVERR */ && len >= 16 + EE_LEN) {
      const e = p + 16;
      out.errno = dv.getUint32(e + EE_ERRNO, true);
      out.origin = ctrl[e + EE_ORIGIN];
      out.type = ctrl[e + EE_TYPE];
      out.code = ctrl[e + EE_CODE];
      out.info = dv.getUint32(e + EE_INFO, true);
      out.rfc4884Length = dv.getUint16(e + EE_DATA, true);
      return true;
    }
    p += (len + 7) & ~7;
  }
  return false;
}

/** Acts on one queued error. quote[0, quoteLen) is the datagram the error is
 * about (our IPv4 header first); destination is the address the kernel puts
 * in msg_name (the quoted destination). A local error (EMSGSIZE from our own
 * interface's MTU) quotes nothing: only destination names the tunnel.
 * Relayed ICMPv6 errors go into replies for the TUN. */
export function handleQueuedError(
  dp: DatapathTables, e: QueuedError, quote: Uint8Array, quoteLen: number, destination: number,
  replies: Slab, limits: ErrorLimits, now: number,
): ErrorOutcome {
  const local = e.origin === SO_EE_ORIGIN_LOCAL;
  if (!local && (quoteLen < IPV4_HEADER_LEN || quote[0] >> 4 !== 4 || quote[9] !== IPPROTO_IPV6_IN_IPV4 ||
      (dp.localV4 !== 0 && readU32(quote, 12) !== dp.localV4) || readU32(quote, 16) !== destination)) {
    dp.global.drops[Drop.IcmpNotOurs]++;
    return ErrorOutcome.Ignored;
  }
  const id = dp.byRemote.get(destination);
  if (id < 0) {
    dp.global.drops[Drop.IcmpNotOurs]++;
    return ErrorOutcome.Ignored;
  }
  const t = dp.tunnels[id]!;
  const fragNeeded = e.origin === SO_EE_ORIGIN_ICMP && e.type === ICMP_DEST_UNREACH && e.code === ICMP_FRAG_NEEDED;
  const localTooBig = local && e.errno === EMSGSIZE;
  if (fragNeeded || localTooBig) {
    // The size of the datagram refused, for a Fragmentation Needed without an MTU.
    const refused = !local && quoteLen >= 4 ? (quote[2] << 8) | quote[3] : 0;
    t.learnPathMtu(e.info, refused, now);
    return ErrorOutcome.PathMtu;
  }
  if (e.origin !== SO_EE_ORIGIN_ICMP) return ErrorOutcome.Ignored;
  let type: number;
  let code: number;
  if (e.type === ICMP_DEST_UNREACH && e.code !== ICMP_SR_FAILED) {
    type = ICMPV6_DEST_UNREACHABLE;
    code = UNREACH_ADDRESS;
  } else if (e.type === ICMP_TIME_EXCEEDED && e.code === ICMP_EXC_TTL) {
    type = ICMPV6_TIME_EXCEEDED;
    code = TIME_EXCEEDED_HOP_LIMIT;
  } else {
    return ErrorOutcome.Ignored;
  }
  const ihl = (quote[0] & 0x0f) << 2;
  const inner = ihl;
  // RFC 4884: the original datagram ends where its length says; extension objects follow.
  const original = e.rfc4884Length > 0 && e.rfc4884Length < quoteLen ? e.rfc4884Length : quoteLen;
  const innerQuoted = original - ihl;
  if (innerQuoted < IPV6_HEADER_LEN + 8 || quote[inner] >> 4 !== 6) {
    t.counters.drops[Drop.IcmpQuoteShort]++;
    return ErrorOutcome.Ignored;
  }
  if (!carries(dp, t.id, quote, inner)) {
    t.counters.drops[Drop.IcmpNotOurs]++;
    return ErrorOutcome.Ignored;
  }
  if (!mayAnswerWithError(quote, inner, innerQuoted, false) || replies.count >= replies.slots || !limits.allow(false, quote, inner + IPV6_SRC, now)) {
    return ErrorOutcome.Ignored;
  }
  const r = replies.count++;
  replies.lens[r] = emitIcmpv6Error(replies.bytes, replies.dataStart(r), type, code, 0, t.spec.serverV6, quote, inner, innerQuoted);
  t.counters.icmpSent++;
  return ErrorOutcome.Relayed;
}

/** Whether the inner packet at buf[off] is one tunnel id carries: for a
 * server, its source or destination is in the tunnel's prefixes (the
 * client's address, routed prefixes, the server's own address); for a
 * client, its source is the client's own (its pair or its LAN). */
function carries(dp: DatapathTables, id: number, buf: Uint8Array, off: number): boolean {
  const t = dp.tunnels[id]!;
  if (dp.mode === 'client') {
    for (const p of t.spec.ownSources ?? []) if (prefixContainsAt(p, buf, off + IPV6_SRC)) return true;
    return false;
  }
  return dp.prefixes.lookupAt(buf, off + IPV6_SRC) === id || dp.prefixes.lookupAt(buf, off + IPV6_DST) === id;
}
