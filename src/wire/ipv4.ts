// IPv4 header (RFC 791 §3.1). Offsets are from the start of the header.
import { checksum } from './checksum.js';

export const IPV4_VERSION_IHL = 0;
export const IPV4_TOS = 1;
export const IPV4_TOTAL_LENGTH = 2;
export const IPV4_ID = 4;
export const IPV4_FLAGS_FRAGMENT = 6;
export const IPV4_TTL = 8;
export const IPV4_PROTOCOL = 9;
export const IPV4_CHECKSUM = 10;
export const IPV4_SRC = 12;
export const IPV4_DST = 16;
export const IPV4_HEADER_LEN = 20;
export const IPV4_MAX_HEADER_LEN = 60;

/** Flag bits in the 16-bit flags/fragment-offset word (RFC 791). */
export const IPV4_FLAG_DF = 0x4000;
export const IPV4_FLAG_MF = 0x2000;
export const IPV4_FRAGMENT_OFFSET_MASK = 0x1fff;

export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
/** IPv6 encapsulated in IPv4 (RFC 4213 §3.5, RFC 2473). */
export const IPPROTO_IPV6_IN_IPV4 = 41;

export interface Ipv4Header {
  ihl: number;
  tos: number;
  totalLength: number;
  id: number;
  dontFragment: boolean;
  moreFragments: boolean;
  fragmentOffset: number;
  ttl: number;
  protocol: number;
  checksum: number;
  src: number;
  dst: number;
}

export function newIpv4Header(): Ipv4Header {
  return {
    ihl: 5, tos: 0, totalLength: 0, id: 0, dontFragment: false, moreFragments: false, fragmentOffset: 0,
    ttl: 0, protocol: 0, checksum: 0, src: 0, dst: 0,
  };
}

export const enum Ipv4Check {
  Ok = 0,
  Truncated,
  BadVersion,
  BadIhl,
  BadTotalLength,
  BadChecksum,
}

export function readU32(buf: Uint8Array, off: number): number {
  return ((buf[off] << 24) | (buf[off + 1] << 16) | (buf[off + 2] << 8) | buf[off + 3]) >>> 0;
}

/** The same 32 bits as a signed int: a small integer in Node's V8 (32-bit
 * small integers on 64-bit builds without pointer compression), so it needs
 * no heap number when it crosses a call that is not inlined; a u32 above
 * 2^31 always does. */
export function readI32(buf: Uint8Array, off: number): number {
  return (buf[off] << 24) | (buf[off + 1] << 16) | (buf[off + 2] << 8) | buf[off + 3];
}

export function writeU32(buf: Uint8Array, off: number, v: number): void {
  buf[off] = v >>> 24;
  buf[off + 1] = (v >>> 16) & 0xff;
  buf[off + 2] = (v >>> 8) & 0xff;
  buf[off + 3] = v & 0xff;
}

export function readU16(buf: Uint8Array, off: number): number {
  return (buf[off] << 8) | buf[off + 1];
}

export function writeU16(buf: Uint8Array, off: number, v: number): void {
  buf[off] = (v >>> 8) & 0xff;
  buf[off + 1] = v & 0xff;
}

/** Validates the header at buf[off] within len bytes: version 4, IHL ≥ 5,
 * header within the buffer, total length within [IHL*4, len], checksum. */
export function checkIpv4(buf: Uint8Array, off: number, len: number, verifyChecksum = true): Ipv4Check {
  if (len < IPV4_HEADER_LEN) return Ipv4Check.Truncated;
  const vihl = buf[off + IPV4_VERSION_IHL];
  if (vihl >> 4 !== 4) return Ipv4Check.BadVersion;
  const hlen = (vihl & 0x0f) * 4;
  if (hlen < IPV4_HEADER_LEN) return Ipv4Check.BadIhl;
  if (hlen > len) return Ipv4Check.Truncated;
  const total = readU16(buf, off + IPV4_TOTAL_LENGTH);
  if (total < hlen || total > len) return Ipv4Check.BadTotalLength;
  if (verifyChecksum && checksum(buf, off, hlen) !== 0) return Ipv4Check.BadChecksum;
  return Ipv4Check.Ok;
}

/** Fills h from a header that checkIpv4 accepted. */
export function parseIpv4(buf: Uint8Array, off: number, h: Ipv4Header): void {
  h.ihl = buf[off] & 0x0f;
  h.tos = buf[off + IPV4_TOS];
  h.totalLength = readU16(buf, off + IPV4_TOTAL_LENGTH);
  h.id = readU16(buf, off + IPV4_ID);
  const ff = readU16(buf, off + IPV4_FLAGS_FRAGMENT);
  h.dontFragment = (ff & IPV4_FLAG_DF) !== 0;
  h.moreFragments = (ff & IPV4_FLAG_MF) !== 0;
  h.fragmentOffset = ff & IPV4_FRAGMENT_OFFSET_MASK;
  h.ttl = buf[off + IPV4_TTL];
  h.protocol = buf[off + IPV4_PROTOCOL];
  h.checksum = readU16(buf, off + IPV4_CHECKSUM);
  h.src = readU32(buf, off + IPV4_SRC);
  h.dst = readU32(buf, off + IPV4_DST);
}

/** Writes a 20-byte header (no options) and its checksum; h.ihl and h.checksum are ignored. */
export function emitIpv4(h: Ipv4Header, buf: Uint8Array, off: number): void {
  buf[off + IPV4_VERSION_IHL] = 0x45;
  buf[off + IPV4_TOS] = h.tos;
  writeU16(buf, off + IPV4_TOTAL_LENGTH, h.totalLength);
  writeU16(buf, off + IPV4_ID, h.id);
  writeU16(buf, off + IPV4_FLAGS_FRAGMENT,
    (h.dontFragment ? IPV4_FLAG_DF : 0) | (h.moreFragments ? IPV4_FLAG_MF : 0) | (h.fragmentOffset & IPV4_FRAGMENT_OFFSET_MASK));
  buf[off + IPV4_TTL] = h.ttl;
  buf[off + IPV4_PROTOCOL] = h.protocol;
  writeU16(buf, off + IPV4_CHECKSUM, 0);
  writeU32(buf, off + IPV4_SRC, h.src);
  writeU32(buf, off + IPV4_DST, h.dst);
  writeU16(buf, off + IPV4_CHECKSUM, checksum(buf, off, IPV4_HEADER_LEN));
}

/** Dotted quad → u32. Throws on anything else (config and tests only). */
export function parseIpv4Address(text: string): number {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (!m) throw new RangeError(`not an IPv4 address: ${JSON.stringify(text)}`);
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) throw new RangeError(`not an IPv4 address: ${JSON.stringify(text)}`);
  return ((parts[0] << 24) | (parts[1] << 16) | (parts[2] << 8) | parts[3]) >>> 0;
}

export function formatIpv4Address(v: number): string {
  return `${v >>> 24}.${(v >>> 16) & 0xff}.${(v >>> 8) & 0xff}.${v & 0xff}`;
}
