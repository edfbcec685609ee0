// Receive: protocol-41 datagrams from the raw socket (IPv4 header at slot
// start) are checked and decapsulated in place, leaving the inner IPv6 packet
// at offset 20 of the slot for the TUN write. Checks follow RFC 4213 §3.6
// (outer source must be a configured remote; invalid inner sources dropped),
// BCP 38 per tunnel (inner source must be the tunnel's own), and RFC 6040 §4.2
// for ECN. Drops are silent (§5: no ICMP) and counted.
import { Slab } from '../sys/slab.js';
import { ANSWERED, Drop, FORWARDED } from './reasons.js';
import type { DatapathTables } from './tables.js';
import { IPV4_HEADER_LEN, IPPROTO_IPV6_IN_IPV4, emitIpv4, newIpv4Header, readI32, type Ipv4Header } from '../wire/ipv4.js';
import { emitEchoReply } from '../wire/icmpv6.js';
import { SOCKADDR_IN_LEN } from '../sys/sockaddr.js';
import { MTU_MAX } from '../config/config.js';
import type { Tunnel } from '../route/tunnel.js';
import { IPV6_DST, IPV6_HEADER_LEN, IPV6_PAYLOAD_LENGTH, IPV6_SRC, SourceClass, classifySource } from '../wire/ipv6.js';

/** RFC 4291 §2.7: the scope field of a multicast address (its second byte's low nibble). */
const MULTICAST_SCOPE_LINK = 2;

export const INNER_OFFSET = IPV4_HEADER_LEN;

/** Scratch the receive path fills: tunnel id per slot for counting after the write. */
export interface RcvScratch {
  slotTunnel: Int32Array;
  /** Per slot: FORWARDED or the Drop reason, for traces. */
  verdict: Int32Array;
  /** Echo replies from server addresses, encapsulated, to send after the batch. */
  echoes: Slab;
  /** Tunnel id per echo slot. */
  echoTunnel: Int32Array;
  echoHeader: Ipv4Header;
}

export function createRcvScratch(batch: number): RcvScratch {
  return {
    slotTunnel: new Int32Array(batch),
    verdict: new Int32Array(batch),
    echoes: new Slab({ slots: 16, slotSize: IPV4_HEADER_LEN + MTU_MAX, nameStride: SOCKADDR_IN_LEN }),
    echoTunnel: new Int32Array(16),
    echoHeader: newIpv4Header(),
  };
}

/** Decapsulates slots [0, count). Afterwards lens[i] is the inner length at
 * slot offset 20, or 0 for a dropped packet. */
export function rcvBatch(dp: DatapathTables, slab: Slab, count: number, sc: RcvScratch): void {
  const b = slab.bytes;
  const lens = slab.lens;
  const g = dp.global.drops;
  sc.echoes.count = 0;
  for (let i = 0; i < count; i++) {
    const s = slab.slotStart(i);
    const n = lens[i];
    lens[i] = 0;
    sc.slotTunnel[i] = -1;
    sc.verdict[i] = FORWARDED;
    if (n < 0) {
      g[Drop.Oversize]++;
      sc.verdict[i] = Drop.Oversize;
      continue;
    }
    // The kernel verified the header checksum and reassembled fragments
    // before the raw socket saw the datagram; length fields are re-checked.
    if (n < IPV4_HEADER_LEN || b[s] >> 4 !== 4) {
      g[Drop.BadIpv4]++;
      sc.verdict[i] = Drop.BadIpv4;
      continue;
    }
    const ihl = (b[s] & 0x0f) << 2;
    const total = (b[s + 2] << 8) | b[s + 3];
    if (ihl < IPV4_HEADER_LEN || total < ihl || total > n || b[s + 9] !== IPPROTO_IPV6_IN_IPV4) {
      g[Drop.BadIpv4]++;
      sc.verdict[i] = Drop.BadIpv4;
      continue;
    }
    if (dp.localV4 !== 0 && readI32(b, s + 16) !== (dp.localV4 | 0)) {
      g[Drop.NotLocal]++;
      sc.verdict[i] = Drop.NotLocal;
      continue;
    }
    const id = dp.byRemote.getAt(b, s + 12);
    if (id < 0) {
      g[Drop.UnknownRemote]++;
      sc.verdict[i] = Drop.UnknownRemote;
      continue;
    }
    const t = dp.tunnels[id]!;
    const c = t.counters.drops;
    sc.slotTunnel[i] = id;
    const p = s + ihl;
    const avail = total - ihl;
    if (avail < IPV6_HEADER_LEN) {
      c[Drop.InnerTruncated]++;
      sc.verdict[i] = Drop.InnerTruncated;
      continue;
    }
    if (b[p] >> 4 !== 6) {
      c[Drop.InnerNotIpv6]++;
      sc.verdict[i] = Drop.InnerNotIpv6;
      continue;
    }
    // The IPv6 payload length is the truth: the IPv4 datagram may be padded.
    const innerLen = IPV6_HEADER_LEN + ((b[p + IPV6_PAYLOAD_LENGTH] << 8) | b[p + IPV6_PAYLOAD_LENGTH + 1]);
    if (innerLen > avail) {
      c[Drop.InnerTruncated]++;
      sc.verdict[i] = Drop.InnerTruncated;
      continue;
    }
    const sa = p + IPV6_SRC;
    // Addresses are handed over as (buffer, offset): see classifySource.
    const srcClass = classifySource(b, sa);
    // The unspecified source is allowed (RFC 4213 §3.6 excludes :: from ::/96): DAD uses it.
    if (srcClass !== SourceClass.Ok && srcClass !== SourceClass.Unspecified) {
      c[Drop.MartianSource]++;
      sc.verdict[i] = Drop.MartianSource;
      continue;
    }
    const da = p + IPV6_DST;
    if (b[da] === 0xff ? (b[da + 1] & 0x0f) !== MULTICAST_SCOPE_LINK : classifySource(b, da) !== SourceClass.Ok) {
      // Only link-scope multicast makes sense on a point-to-point tunnel (the
      // scope is the low nibble whatever the flags: ff02, ff12, ff32 …);
      // loopback, unspecified and IPv4-mapped/compatible never do.
      c[Drop.MartianDestination]++;
      sc.verdict[i] = Drop.MartianDestination;
      continue;
    }
    // BCP 38: a tunnel may only source its own addresses (link-local aside).
    if (srcClass === SourceClass.Ok && (b[sa] !== 0xfe || (b[sa + 1] & 0xc0) !== 0x80)) {
      if (dp.prefixes.lookupAt(b, sa) !== id || (dp.mode === 'server' && isServerAddress(b, sa, t.words))) {
        c[Drop.SpoofedSource]++;
        sc.verdict[i] = Drop.SpoofedSource;
        continue;
      }
    }
    // RFC 6040 §4.2 decapsulation table.
    const outerEcn = b[s + 1] & 3;
    if (outerEcn !== 0) {
      const innerEcn = (b[p + 1] >> 4) & 3;
      if (innerEcn === 0) {
        if (outerEcn === 3) {
          c[Drop.EcnCeNotEct]++;
          sc.verdict[i] = Drop.EcnCeNotEct;
          continue;
        }
      } else if (outerEcn === 3 || (outerEcn === 1 && innerEcn === 2)) {
        b[p + 1] = (b[p + 1] & 0xcf) | (outerEcn << 4);
      }
    }
    if (dp.mode === 'server' && isServerAddress(b, da, t.words)) {
      // The server address is sixtun's own, not the kernel's: an echo is answered straight back.
      sc.verdict[i] = answerEcho(t, id, b, p, innerLen, sc);
      continue;
    }
    if (ihl !== INNER_OFFSET) b.copyWithin(s + INNER_OFFSET, p, p + innerLen);
    lens[i] = innerLen;
  }
}

/** The reply to an Echo Request from a tunnel's client to its server address,
 * encapsulated for that tunnel into sc.echoes; the verdict. */
function answerEcho(t: Tunnel, id: number, b: Uint8Array, p: number, len: number, sc: RcvScratch): number {
  const e = sc.echoes;
  const o = e.count < e.slots ? e.slotStart(e.count) : 0;
  const n = e.count < e.slots ? emitEchoReply(e.bytes, o + IPV4_HEADER_LEN, e.slotSize - IPV4_HEADER_LEN, b, p, len) : 0;
  if (n === 0) {
    t.counters.drops[Drop.ToServerAddress]++;
    return Drop.ToServerAddress;
  }
  const h = sc.echoHeader;
  h.totalLength = n + IPV4_HEADER_LEN;
  h.dontFragment = t.dontFragment();
  h.id = h.dontFragment ? 0 : t.nextIpId();
  h.ttl = t.spec.ttl === 0 ? 64 : t.spec.ttl;
  h.protocol = IPPROTO_IPV6_IN_IPV4;
  h.src = t.spec.localV4;
  h.dst = t.spec.remoteV4;
  emitIpv4(h, e.bytes, o);
  t.writeRemote(e.names!, e.count * SOCKADDR_IN_LEN);
  e.lens[e.count] = h.totalLength;
  sc.echoTunnel[e.count++] = id;
  t.counters.rxPackets++;
  t.counters.rxBytes += len;
  t.counters.echoAnswered++;
  return ANSWERED;
}

/** Whether the address at b[off] is the tunnel's server address (t.words[0..3]). */
export function isServerAddress(b: Uint8Array, off: number, w: Int32Array): boolean {
  return readI32(b, off) === w[0] && readI32(b, off + 4) === w[1] && readI32(b, off + 8) === w[2] && readI32(b, off + 12) === w[3];
}
