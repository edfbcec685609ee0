// ICMPv6 (RFC 4443) messages sixtun emits, and the pseudo-header checksum
// (RFC 8200 §8.1).
import { sumWords, fold } from './checksum.js';
import { readU16, writeU16, writeU32 } from './ipv4.js';
import {
  IPV6_DST, IPV6_HEADER_LEN, IPV6_MIN_MTU, IPV6_NEXT_HEADER, IPV6_PAYLOAD_LENGTH, IPV6_SRC, NEXT_HEADER_DEST_OPTS,
  NEXT_HEADER_FRAGMENT, NEXT_HEADER_HOP_BY_HOP, NEXT_HEADER_ICMPV6, NEXT_HEADER_ROUTING, emitIpv6,
} from './ipv6.js';

const NEXT_HEADER_AH = 51;
const FRAGMENT_HEADER_LEN = 8;
/** Extension headers walked before giving up (a chain longer than this is answered). */
const MAX_EXTENSION_HEADERS = 8;

export const ICMPV6_TYPE = 0;
export const ICMPV6_CODE = 1;
export const ICMPV6_CHECKSUM = 2;
/** Type-specific word: MTU of a Packet Too Big, pointer of a Parameter Problem. */
export const ICMPV6_DATA = 4;
export const ICMPV6_ERROR_HEADER_LEN = 8;

export const ICMPV6_DEST_UNREACHABLE = 1;
export const ICMPV6_PACKET_TOO_BIG = 2;
export const ICMPV6_TIME_EXCEEDED = 3;
export const ICMPV6_PARAMETER_PROBLEM = 4;
/** RFC 4443 §2.1: types below 128 are errors, from 128 on informational messages. */
export const ICMPV6_INFORMATIONAL = 128;
export const ICMPV6_ECHO_REQUEST = 128;
export const ICMPV6_ECHO_REPLY = 129;
export const ICMPV6_ROUTER_SOLICITATION = 133;
export const ICMPV6_ROUTER_ADVERTISEMENT = 134;
export const ICMPV6_NEIGHBOR_SOLICITATION = 135;
export const ICMPV6_NEIGHBOR_ADVERTISEMENT = 136;
export const ICMPV6_REDIRECT = 137;

export const UNREACH_NO_ROUTE = 0;
export const UNREACH_ADMIN = 1;
export const UNREACH_ADDRESS = 3;
export const UNREACH_PORT = 4;
export const TIME_EXCEEDED_HOP_LIMIT = 0;

/** Checksum of an upper-layer packet at buf[ipOff + 40, + len) with the IPv6
 * pseudo-header taken from the IPv6 header at ipOff. */
export function upperLayerChecksum(buf: Uint8Array, ipOff: number, nextHeader: number, len: number): number {
  let sum = sumWords(buf, ipOff + IPV6_SRC, 32, 0);
  sum += (len >>> 16) + (len & 0xffff) + nextHeader;
  sum = sumWords(buf, ipOff + IPV6_HEADER_LEN, len, sum);
  return ~fold(sum) & 0xffff;
}

/** Sets the ICMPv6 checksum of the packet at ipOff (payload = whole ICMPv6 message). */
export function finishIcmpv6(buf: Uint8Array, ipOff: number): void {
  const len = readU16(buf, ipOff + IPV6_PAYLOAD_LENGTH);
  const icmp = ipOff + IPV6_HEADER_LEN;
  writeU16(buf, icmp + ICMPV6_CHECKSUM, 0);
  writeU16(buf, icmp + ICMPV6_CHECKSUM, upperLayerChecksum(buf, ipOff, NEXT_HEADER_ICMPV6, len));
}

export function icmpv6ChecksumOk(buf: Uint8Array, ipOff: number, len: number): boolean {
  return upperLayerChecksum(buf, ipOff, NEXT_HEADER_ICMPV6, len) === 0;
}

/** Writes an ICMPv6 error (RFC 4443 §2.4) at out[outOff] quoting the
 * offending packet orig[origOff, +origLen) as far as the whole error stays
 * within the IPv6 minimum MTU. Returns the error's total length. */
export function emitIcmpv6Error(
  out: Uint8Array, outOff: number, type: number, code: number, data: number,
  src: Uint8Array, orig: Uint8Array, origOff: number, origLen: number,
): number {
  const quote = Math.min(origLen, IPV6_MIN_MTU - IPV6_HEADER_LEN - ICMPV6_ERROR_HEADER_LEN);
  const icmp = outOff + IPV6_HEADER_LEN;
  // The quote first: out and orig may be the same buffer with overlapping ranges.
  if (out === orig) out.copyWithin(icmp + ICMPV6_ERROR_HEADER_LEN, origOff, origOff + quote);
  else out.set(orig.subarray(origOff, origOff + quote), icmp + ICMPV6_ERROR_HEADER_LEN);
  const dst = orig.slice(origOff + IPV6_SRC, origOff + IPV6_SRC + 16);
  emitIpv6({
    trafficClass: 0, flowLabel: 0, payloadLength: ICMPV6_ERROR_HEADER_LEN + quote, nextHeader: NEXT_HEADER_ICMPV6,
    hopLimit: 64, src, dst,
  }, out, outOff);
  out[icmp + ICMPV6_TYPE] = type;
  out[icmp + ICMPV6_CODE] = code;
  writeU32(out, icmp + ICMPV6_DATA, data >>> 0);
  finishIcmpv6(out, outOff);
  return IPV6_HEADER_LEN + ICMPV6_ERROR_HEADER_LEN + quote;
}

/** RFC 4443 §2.4 (e): never answer with an error an ICMPv6 error (also
 * one behind extension headers, RFC 8200 §4), a packet to a multicast
 * destination (Packet Too Big excepted), or a packet whose source is not
 * one node (unspecified, multicast). A non-first fragment, or a chain cut
 * short by the quote, cannot be told apart: it may be answered (as the
 * kernel's is_ineligible decides). */
export function mayAnswerWithError(buf: Uint8Array, ipOff: number, len: number, packetTooBig: boolean): boolean {
  if (buf[ipOff + IPV6_DST] === 0xff && !packetTooBig) return false;
  if (buf[ipOff + IPV6_SRC] === 0xff) return false;
  let unspecified = true;
  for (let i = 0; i < 16; i++) if (buf[ipOff + IPV6_SRC + i] !== 0) unspecified = false;
  if (unspecified) return false;
  const end = ipOff + len;
  let next = buf[ipOff + IPV6_NEXT_HEADER];
  let off = ipOff + IPV6_HEADER_LEN;
  for (let hops = 0; hops < MAX_EXTENSION_HEADERS; hops++) {
    if (next === NEXT_HEADER_ICMPV6) return off < end && buf[off + ICMPV6_TYPE] >= ICMPV6_INFORMATIONAL;
    if (next === NEXT_HEADER_FRAGMENT) {
      if (off + FRAGMENT_HEADER_LEN > end) return true;
      if ((((buf[off + 2] << 8) | buf[off + 3]) & 0xfff8) !== 0) return true;
      next = buf[off];
      off += FRAGMENT_HEADER_LEN;
    } else if (next === NEXT_HEADER_HOP_BY_HOP || next === NEXT_HEADER_ROUTING || next === NEXT_HEADER_DEST_OPTS) {
      if (off + 2 > end) return true;
      next = buf[off];
      off += (buf[off + 1] + 1) * 8;
    } else if (next === NEXT_HEADER_AH) {
      // RFC 4302 §2.2: the length is in 4-octet units, minus 2.
      if (off + 2 > end) return true;
      next = buf[off];
      off += (buf[off + 1] + 2) * 4;
    } else {
      return true;
    }
  }
  return true;
}
