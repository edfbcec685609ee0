// IPv6 header (RFC 8200 §3). Addresses on the hot path are four u32 words.
import { readI32, readU16, readU32, writeU16, writeU32 } from './ipv4.js';

export const IPV6_VERSION_TC_FLOW = 0;
export const IPV6_PAYLOAD_LENGTH = 4;
export const IPV6_NEXT_HEADER = 6;
export const IPV6_HOP_LIMIT = 7;
export const IPV6_SRC = 8;
export const IPV6_DST = 24;
export const IPV6_HEADER_LEN = 40;
/** RFC 8200 §5: every link must carry 1280-byte packets. */
export const IPV6_MIN_MTU = 1280;

export const NEXT_HEADER_HOP_BY_HOP = 0;
export const NEXT_HEADER_TCP = 6;
export const NEXT_HEADER_UDP = 17;
export const NEXT_HEADER_ROUTING = 43;
export const NEXT_HEADER_FRAGMENT = 44;
export const NEXT_HEADER_ICMPV6 = 58;
export const NEXT_HEADER_NONE = 59;
export const NEXT_HEADER_DEST_OPTS = 60;

/** Traffic class: bits 4..11 of the first word (RFC 8200 §7). */
export function trafficClass(buf: Uint8Array, off: number): number {
  return ((buf[off] & 0x0f) << 4) | (buf[off + 1] >> 4);
}

export function setTrafficClass(buf: Uint8Array, off: number, tc: number): void {
  buf[off] = 0x60 | (tc >> 4);
  buf[off + 1] = ((tc & 0x0f) << 4) | (buf[off + 1] & 0x0f);
}

export function payloadLength(buf: Uint8Array, off: number): number {
  return readU16(buf, off + IPV6_PAYLOAD_LENGTH);
}

/** Word w (0..3) of the address at buf[off]. */
export function addrWord(buf: Uint8Array, off: number, w: number): number {
  return readU32(buf, off + 4 * w);
}

/** Whether the 16-byte address at b[off] is the one at words[at, at + 4) (int32 words, as readI32 reads them). */
export function addressIs(b: Uint8Array, off: number, words: ArrayLike<number>, at: number): boolean {
  return readI32(b, off) === words[at] && readI32(b, off + 4) === words[at + 1] && readI32(b, off + 8) === words[at + 2] && readI32(b, off + 12) === words[at + 3];
}

export interface Ipv6Header {
  trafficClass: number;
  flowLabel: number;
  payloadLength: number;
  nextHeader: number;
  hopLimit: number;
  src: Uint8Array;
  dst: Uint8Array;
}

export function emitIpv6(h: Ipv6Header, buf: Uint8Array, off: number): void {
  writeU32(buf, off, (0x6 << 28 | (h.trafficClass & 0xff) << 20 | (h.flowLabel & 0xfffff)) >>> 0);
  writeU16(buf, off + IPV6_PAYLOAD_LENGTH, h.payloadLength);
  buf[off + IPV6_NEXT_HEADER] = h.nextHeader;
  buf[off + IPV6_HOP_LIMIT] = h.hopLimit;
  buf.set(h.src, off + IPV6_SRC);
  buf.set(h.dst, off + IPV6_DST);
}

export function parseIpv6(buf: Uint8Array, off: number): Ipv6Header {
  const first = readU32(buf, off);
  return {
    trafficClass: (first >>> 20) & 0xff,
    flowLabel: first & 0xfffff,
    payloadLength: readU16(buf, off + IPV6_PAYLOAD_LENGTH),
    nextHeader: buf[off + IPV6_NEXT_HEADER],
    hopLimit: buf[off + IPV6_HOP_LIMIT],
    src: buf.slice(off + IPV6_SRC, off + IPV6_SRC + 16),
    dst: buf.slice(off + IPV6_DST, off + IPV6_DST + 16),
  };
}

/** Classes of address that must never be an inner source (RFC 4213 §3.6,
 * RFC 4291 §2.5.5), checked on four words without allocating. */
export const enum SourceClass {
  Ok = 0,
  Multicast,
  Loopback,
  Unspecified,
  V4Mapped,
  V4Compatible,
}

/** What kind of address is at b[off, off+16), for source and destination checks. */
export function classifySource(b: Uint8Array, off: number): SourceClass {
  // Words read here, not passed in: a word outside V8's small-integer range
  // passed to a call that is not inlined would be boxed (an allocation).
  const w0 = readI32(b, off);
  if (w0 >>> 24 === 0xff) return SourceClass.Multicast;
  if (w0 === 0 && readI32(b, off + 4) === 0) {
    const w2 = readI32(b, off + 8);
    if (w2 === 0) {
      const w3 = readI32(b, off + 12);
      if (w3 === 0) return SourceClass.Unspecified;
      if (w3 === 1) return SourceClass.Loopback;
      return SourceClass.V4Compatible;
    }
    if (w2 === 0xffff) return SourceClass.V4Mapped;
  }
  return SourceClass.Ok;
}

/** Whether the words are in fe80::/10. */
export function isLinkLocal(w0: number): boolean {
  return (w0 >>> 22) === (0xfe80 >>> 6);
}

