// Builds UDP-over-IPv6 datagrams with correct checksums, and cuts a
// coalesced GSO_UDP_L4 packet back into datagrams the way the kernel does
// (__udp_gso_segment), for the UDP GRO tests.
import { checksum, sumWords } from '../../src/wire/checksum.js';
import { parseIp } from '../../src/wire/address.js';
import { emitIpv6 } from '../../src/wire/ipv6.js';

export interface Udp6Spec {
  src?: string;
  dst?: string;
  srcPort?: number;
  dstPort?: number;
  payload: Uint8Array;
  trafficClass?: number;
  hopLimit?: number;
}

/** Writes the datagram at b[off] and returns its length. */
export function writeUdp6(b: Uint8Array, off: number, s: Udp6Spec): number {
  const udpLen = 8 + s.payload.length;
  emitIpv6({
    trafficClass: s.trafficClass ?? 0, flowLabel: 0, payloadLength: udpLen, nextHeader: 17, hopLimit: s.hopLimit ?? 64,
    src: parseIp(s.src ?? '2001:db8:1::1').bytes, dst: parseIp(s.dst ?? '2001:db8:2::2').bytes,
  }, b, off);
  const u = off + 40;
  b[u] = (s.srcPort ?? 40000) >> 8;
  b[u + 1] = (s.srcPort ?? 40000) & 0xff;
  b[u + 2] = (s.dstPort ?? 5201) >> 8;
  b[u + 3] = (s.dstPort ?? 5201) & 0xff;
  b[u + 4] = udpLen >>> 8;
  b[u + 5] = udpLen & 0xff;
  b[u + 6] = 0;
  b[u + 7] = 0;
  b.set(s.payload, u + 8);
  let c = checksum(b, u, udpLen, sumWords(b, off + 8, 32, 17) + udpLen);
  if (c === 0) c = 0xffff;
  b[u + 6] = c >>> 8;
  b[u + 7] = c & 0xff;
  return 40 + udpLen;
}

/** The datagrams the kernel makes of the coalesced UDP packet at b[p, p+len)
 * with the given gso_size: the head's headers on every gsoSize bytes of
 * payload, lengths and checksums their own. */
export function cutUdpLikeKernel(b: Uint8Array, p: number, len: number, gsoSize: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let at = p + 48; at < p + len; at += gsoSize) {
    const n = Math.min(gsoSize, p + len - at);
    const d = new Uint8Array(48 + n);
    d.set(b.subarray(p, p + 48), 0);
    d.set(b.subarray(at, at + n), 48);
    const udpLen = 8 + n;
    d[4] = d[44] = udpLen >>> 8;
    d[5] = d[45] = udpLen & 0xff;
    d[46] = 0;
    d[47] = 0;
    let c = checksum(d, 40, udpLen, sumWords(d, 8, 32, 17) + udpLen);
    if (c === 0) c = 0xffff;
    d[46] = c >>> 8;
    d[47] = c & 0xff;
    out.push(d);
  }
  return out;
}
