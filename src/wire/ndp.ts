// Neighbor Discovery (RFC 4861): Neighbor Solicitation validation (§7.1.1),
// Neighbor Advertisement construction (§4.4, §7.2.4), and options (§4.6).
// Offsets are from the start of the ICMPv6 message.
import { readU32 } from './ipv4.js';
import { IPV6_DST, IPV6_HEADER_LEN, IPV6_HOP_LIMIT, IPV6_NEXT_HEADER, IPV6_PAYLOAD_LENGTH, IPV6_SRC, NEXT_HEADER_ICMPV6 } from './ipv6.js';
import { ICMPV6_CODE, ICMPV6_NEIGHBOR_ADVERTISEMENT, ICMPV6_NEIGHBOR_SOLICITATION, ICMPV6_TYPE, finishIcmpv6, icmpv6ChecksumOk } from './icmpv6.js';

/** NS and NA: type, code, checksum, 4 bytes (reserved / flags), target. */
export const ND_FLAGS = 4;
export const ND_TARGET = 8;
export const ND_OPTIONS = 24;
export const ND_MIN_LEN = 24;
export const NA_FLAG_ROUTER = 0x80;
export const NA_FLAG_SOLICITED = 0x40;
export const NA_FLAG_OVERRIDE = 0x20;
export const ND_OPT_SOURCE_LL = 1;
export const ND_OPT_TARGET_LL = 2;
/** §7.1.1: NDP packets must arrive with the hop limit they were sent with. */
export const ND_HOP_LIMIT = 255;

export const enum NsCheck {
  Ok = 0,
  Truncated,
  NotIcmpv6,
  NotNs,
  BadHopLimit,
  BadCode,
  TooShort,
  BadChecksum,
  MulticastTarget,
  BadOption,
  DadNotSolicitedNode,
  DadWithSourceLinkLayer,
  MulticastSource,
  BadSourceLinkLayer,
}

export const NS_CHECK_NAMES: readonly string[] = [
  'ok', 'truncated', 'not-icmpv6', 'not-ns', 'bad-hop-limit', 'bad-code', 'too-short', 'bad-checksum',
  'multicast-target', 'bad-option', 'dad-not-solicited-node', 'dad-with-source-link-layer', 'multicast-source',
  'bad-source-link-layer',
];

/** What a valid NS says; filled by checkNs into an object the caller owns. */
export interface NsInfo {
  /** Offset of the ICMPv6 message. */
  icmp: number;
  /** Offset of the Source Link-Layer Address option's address, or -1. */
  sourceLinkLayer: number;
  /** The source is :: (duplicate address detection). */
  dad: boolean;
  /** The IPv6 destination is multicast. */
  multicastDestination: boolean;
}

/** RFC 2464 §6: type, length, 6-byte address. */
const ETHERNET_LL_OPTION_LEN = 8;

export function newNsInfo(): NsInfo {
  return { icmp: 0, sourceLinkLayer: -1, dad: false, multicastDestination: false };
}

function isUnspecified(buf: Uint8Array, off: number): boolean {
  for (let i = 0; i < 16; i++) if (buf[off + i] !== 0) return false;
  return true;
}

/** ff02::1:ffXX:XXXX (RFC 4291 §2.7.1). */
export function isSolicitedNode(buf: Uint8Array, off: number): boolean {
  return readU32(buf, off) === 0xff020000 && readU32(buf, off + 4) === 0 && readU32(buf, off + 8) === 1 && buf[off + 12] === 0xff;
}

/** Validates an IPv6 packet at buf[ip, ip+len) as a Neighbor Solicitation
 * exactly as RFC 4861 §7.1.1 asks. */
export function checkNs(buf: Uint8Array, ip: number, len: number, out: NsInfo): NsCheck {
  if (len < IPV6_HEADER_LEN || buf[ip] >> 4 !== 6) return NsCheck.Truncated;
  const payload = (buf[ip + IPV6_PAYLOAD_LENGTH] << 8) | buf[ip + IPV6_PAYLOAD_LENGTH + 1];
  if (IPV6_HEADER_LEN + payload > len) return NsCheck.Truncated;
  if (buf[ip + IPV6_NEXT_HEADER] !== NEXT_HEADER_ICMPV6) return NsCheck.NotIcmpv6;
  const icmp = ip + IPV6_HEADER_LEN;
  if (payload < 4) return NsCheck.TooShort;
  if (buf[icmp + ICMPV6_TYPE] !== ICMPV6_NEIGHBOR_SOLICITATION) return NsCheck.NotNs;
  if (buf[ip + IPV6_HOP_LIMIT] !== ND_HOP_LIMIT) return NsCheck.BadHopLimit;
  if (buf[icmp + ICMPV6_CODE] !== 0) return NsCheck.BadCode;
  if (payload < ND_MIN_LEN) return NsCheck.TooShort;
  if (!icmpv6ChecksumOk(buf, ip, payload)) return NsCheck.BadChecksum;
  if (buf[icmp + ND_TARGET] === 0xff) return NsCheck.MulticastTarget;
  // RFC 4861 §7.1.1 via RFC 4291 §2.7: a multicast source is never one node.
  if (buf[ip + IPV6_SRC] === 0xff) return NsCheck.MulticastSource;
  let sll = -1;
  const end = icmp + payload;
  for (let p = icmp + ND_OPTIONS; p < end;) {
    if (end - p < 2) return NsCheck.BadOption;
    const olen = buf[p + 1] * 8;
    if (olen === 0 || p + olen > end) return NsCheck.BadOption;
    if (buf[p] === ND_OPT_SOURCE_LL && sll < 0) {
      // RFC 2464 §6: on Ethernet the option is exactly 8 bytes; as the
      // kernel (ndisc_parse_options), the first of duplicates counts.
      if (olen !== ETHERNET_LL_OPTION_LEN) return NsCheck.BadSourceLinkLayer;
      sll = p + 2;
    }
    p += olen;
  }
  const dad = isUnspecified(buf, ip + IPV6_SRC);
  if (dad) {
    if (!isSolicitedNode(buf, ip + IPV6_DST)) return NsCheck.DadNotSolicitedNode;
    if (sll >= 0) return NsCheck.DadWithSourceLinkLayer;
  }
  out.icmp = icmp;
  out.sourceLinkLayer = sll;
  out.dad = dad;
  out.multicastDestination = buf[ip + IPV6_DST] === 0xff;
  return NsCheck.Ok;
}

/** Writes an NA (IPv6 header + ICMPv6) at out[ip]; returns its length.
 * With tlla, a Target Link-Layer Address option carries mac. */
export function emitNa(
  out: Uint8Array, ip: number, src: Uint8Array, dst: Uint8Array, target: Uint8Array, targetOff: number,
  flags: number, tlla: Uint8Array | null,
): number {
  const icmpLen = ND_MIN_LEN + (tlla ? 8 : 0);
  out[ip] = 0x60;
  out[ip + 1] = 0;
  out[ip + 2] = 0;
  out[ip + 3] = 0;
  out[ip + IPV6_PAYLOAD_LENGTH] = icmpLen >> 8;
  out[ip + IPV6_PAYLOAD_LENGTH + 1] = icmpLen & 0xff;
  out[ip + IPV6_NEXT_HEADER] = NEXT_HEADER_ICMPV6;
  out[ip + IPV6_HOP_LIMIT] = ND_HOP_LIMIT;
  for (let i = 0; i < 16; i++) {
    out[ip + IPV6_SRC + i] = src[i];
    out[ip + IPV6_DST + i] = dst[i];
  }
  const icmp = ip + IPV6_HEADER_LEN;
  out[icmp + ICMPV6_TYPE] = ICMPV6_NEIGHBOR_ADVERTISEMENT;
  out[icmp + ICMPV6_CODE] = 0;
  out[icmp + ND_FLAGS] = flags;
  out[icmp + ND_FLAGS + 1] = 0;
  out[icmp + ND_FLAGS + 2] = 0;
  out[icmp + ND_FLAGS + 3] = 0;
  if (out === target) out.copyWithin(icmp + ND_TARGET, targetOff, targetOff + 16);
  else for (let i = 0; i < 16; i++) out[icmp + ND_TARGET + i] = target[targetOff + i];
  if (tlla) {
    out[icmp + ND_OPTIONS] = ND_OPT_TARGET_LL;
    out[icmp + ND_OPTIONS + 1] = 1;
    for (let i = 0; i < 6; i++) out[icmp + ND_OPTIONS + 2 + i] = tlla[i];
  }
  finishIcmpv6(out, ip);
  return IPV6_HEADER_LEN + icmpLen;
}
