// Receive: protocol-41 datagrams from the raw socket (IPv4 header at slot
// start) are checked and decapsulated in place, leaving the inner IPv6 packet
// at offset 20 of the slot for the TUN write. Checks follow RFC 4213 §3.6
// (outer source must be a configured remote; invalid inner sources dropped),
// BCP 38 per tunnel (inner source must be the tunnel's own), and RFC 6040 §4.2
// for ECN. Drops are silent (§5: no ICMP) and counted.
import { Slab } from '../sys/slab.js';
import { Drop, FORWARDED, TO_SERVER } from './reasons.js';
import type { DatapathTables } from './tables.js';
import { IPV4_HEADER_LEN, IPPROTO_IPV6_IN_IPV4, readI32 } from '../wire/ipv4.js';
import { MTU_MAX } from '../config/config.js';
import { IPV6_DST, IPV6_HEADER_LEN, IPV6_PAYLOAD_LENGTH, IPV6_SRC, SourceClass, classifySource } from '../wire/ipv6.js';

/** RFC 4291 §2.7: the scope field of a multicast address (its second byte's low nibble). */
const MULTICAST_SCOPE_LINK = 2;

export const INNER_OFFSET = IPV4_HEADER_LEN;

/** Scratch the receive path fills: tunnel id per slot for counting after the write. */
export interface RcvScratch {
  slotTunnel: Int32Array;
  /** Per slot: FORWARDED, TO_SERVER or the Drop reason, for traces. */
  verdict: Int32Array;
  /** Packets for server addresses, for the local TUN (see toServer). */
  toLocal: Slab;
}

export function createRcvScratch(batch: number): RcvScratch {
  return {
    slotTunnel: new Int32Array(batch),
    verdict: new Int32Array(batch),
    toLocal: new Slab({ slots: batch, slotSize: MTU_MAX }),
  };
}

/** Decapsulates slots [0, count). Afterwards lens[i] is the inner length at
 * slot offset 20, or 0 for a dropped packet. */
export function rcvBatch(dp: DatapathTables, slab: Slab, count: number, sc: RcvScratch): void {
  const b = slab.bytes;
  const lens = slab.lens;
  const g = dp.global.drops;
  sc.toLocal.count = 0;
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
      const v = toServer(sc.toLocal, b, p, innerLen);
      sc.verdict[i] = v;
      if (v === TO_SERVER) {
        t.counters.toServer++;
        t.counters.rxPackets++;
        t.counters.rxBytes += innerLen;
      } else t.counters.drops[v]++;
      continue;
    }
    if (ihl !== INNER_OFFSET) b.copyWithin(s + INNER_OFFSET, p, p + innerLen);
    lens[i] = innerLen;
  }
}

/** Copies the packet at b[p, +len) into the local TUN's slab: TO_SERVER, or
 * the Drop reason when it has no room. */
export function toServer(local: Slab, b: Uint8Array, p: number, len: number): number {
  if (local.count >= local.slots || len > local.slotSize) return Drop.ToServerAddress;
  const k = local.count++;
  local.bytes.set(b.subarray(p, p + len), local.slotStart(k));
  local.lens[k] = len;
  return TO_SERVER;
}

/** Whether the address at b[off] is the tunnel's server address (t.words[0..3]). */
export function isServerAddress(b: Uint8Array, off: number, w: Int32Array): boolean {
  return readI32(b, off) === w[0] && readI32(b, off + 4) === w[1] && readI32(b, off + 8) === w[2] && readI32(b, off + 12) === w[3];
}
