// Builds TCP-over-IPv6 packets with correct checksums, for the offload tests.
import { checksum, fold, sumWords } from '../wire/checksum.js';
import { parseIp } from '../wire/address.js';
import { writeU32 } from '../wire/ipv4.js';
import { emitIpv6 } from '../wire/ipv6.js';

export interface Tcp6Spec {
  src?: string;
  dst?: string;
  srcPort?: number;
  dstPort?: number;
  seq: number;
  ack?: number;
  flags?: number;
  /** TCP options, a multiple of 4 bytes. */
  options?: Uint8Array;
  payload: Uint8Array;
  trafficClass?: number;
  hopLimit?: number;
}

/** Writes the packet at b[off] and returns its length. */
export function writeTcp6(b: Uint8Array, off: number, s: Tcp6Spec): number {
  const opts = s.options ?? new Uint8Array(0);
  const thl = 20 + opts.length;
  const tcpLen = thl + s.payload.length;
  emitIpv6({
    trafficClass: s.trafficClass ?? 0, flowLabel: 0, payloadLength: tcpLen, nextHeader: 6, hopLimit: s.hopLimit ?? 64,
    src: parseIp(s.src ?? '2001:db8:1::1').bytes, dst: parseIp(s.dst ?? '2001:db8:2::2').bytes,
  }, b, off);
  const t = off + 40;
  b[t] = (s.srcPort ?? 40000) >> 8;
  b[t + 1] = (s.srcPort ?? 40000) & 0xff;
  b[t + 2] = (s.dstPort ?? 5201) >> 8;
  b[t + 3] = (s.dstPort ?? 5201) & 0xff;
  writeU32(b, t + 4, s.seq >>> 0);
  writeU32(b, t + 8, (s.ack ?? 1000) >>> 0);
  b[t + 12] = (thl / 4) << 4;
  b[t + 13] = s.flags ?? 0x10;
  b[t + 14] = 0xff;
  b[t + 15] = 0xff;
  b[t + 16] = 0;
  b[t + 17] = 0;
  b[t + 18] = 0;
  b[t + 19] = 0;
  b.set(opts, t + 20);
  b.set(s.payload, t + thl);
  const c = checksum(b, t, tcpLen, sumWords(b, off + 8, 32, 6) + tcpLen);
  b[t + 16] = c >>> 8;
  b[t + 17] = c & 0xff;
  return 40 + tcpLen;
}

/** A timestamp option block (NOP, NOP, TS): what Linux puts on every segment. */
export function timestampOption(val: number, ecr: number): Uint8Array {
  const o = new Uint8Array(12);
  o[0] = 1;
  o[1] = 1;
  o[2] = 8;
  o[3] = 10;
  writeU32(o, 4, val >>> 0);
  writeU32(o, 8, ecr >>> 0);
  return o;
}

/** True when the TCP checksum of the IPv6 packet b[p, p+len) (no extension headers) is right. */
export function tcp6ChecksumOk(b: Uint8Array, p: number, len: number): boolean {
  return fold(sumWords(b, p + 8, len - 8, 6 + len - 40)) === 0xffff;
}

/** Does what the kernel does for VNET_F_NEEDS_CSUM: the field holds the pseudo-header sum. */
export function completePartial(b: Uint8Array, p: number, len: number, csumStart: number, csumOffset: number): void {
  const c = checksum(b, p + csumStart, len - csumStart);
  b[p + csumStart + csumOffset] = c >>> 8;
  b[p + csumStart + csumOffset + 1] = c & 0xff;
}
