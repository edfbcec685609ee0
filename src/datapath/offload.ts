// TUN offloads (IFF_VNET_HDR + TUNSETOFFLOAD), the technique wireguard-go
// uses: the kernel hands us TCP super-packets of up to 64 KiB with one header
// (TSO) that we cut into wire-sized segments here, and we hand the kernel runs
// of consecutive TCP segments or equal-sized UDP datagrams of one flow glued
// back together (GRO), so its forwarding and TCP stack see one packet where
// the wire saw dozens.
// Everything works on one byte array with offsets; nothing allocates.
//   segment:  parseTcp6Super → writeSegment per gso_size of payload
//   coalesce: Coalescer.run over a received batch → emitHeaders → write
import { native } from '../sys/native.js';
import { openTun, setTunOffload, type Tun } from '../sys/tun.js';
import { fold, sumWords } from '../wire/checksum.js';
import { readI32, writeU32 } from '../wire/ipv4.js';
import { IPV6_DST, IPV6_HEADER_LEN, IPV6_NEXT_HEADER, IPV6_PAYLOAD_LENGTH, IPV6_SRC, NEXT_HEADER_TCP, NEXT_HEADER_UDP } from '../wire/ipv6.js';
import { UDP_CHECKSUM, UDP_HEADER_LEN, UDP_LENGTH } from '../wire/udp.js';
import {
  TCP_ACK, TCP_ACK_FLAG, TCP_CHECKSUM, TCP_CWR, TCP_FIN, TCP_FLAGS, TCP_MIN_HEADER_LEN, TCP_PSH, TCP_SEQ, tcpHeaderLen,
} from '../wire/tcp.js';
import {
  VNET_F_NEEDS_CSUM, VNET_GSO_TCPV6, VNET_GSO_UDP_L4, VNET_HDR_LEN, TUN_F_CSUM, TUN_F_TSO6, emitPlainVnetHeader, emitVnetHeader, type VnetHeader,
} from '../wire/virtio-net.js';

/** How the TUN device is driven. */
export type OffloadMode = 'off' | 'tso' | 'tso+gro';

/** The upper-layer checksum pseudo-header of RFC 8200 §8.1 without its
 * length: the sum of the source and destination addresses plus next header. */
function pseudoHeaderSum(b: Uint8Array, ip: number, nextHeader: number): number {
  return sumWords(b, ip + IPV6_SRC, 32, nextHeader);
}

const NO_FIELD = -1;

/** Byte work queued for a batch and done at its end in two native calls:
 * payload moves (copyBatch), then checksums over the moved bytes
 * (sum16Batch: 43 ns per 1460-byte segment, against 620 ns in JavaScript and
 * 90 ns for a native call per packet; a TypedArray.copyWithin per payload
 * cost as much again as the move itself: bench/micro). Checksum entry i:
 * the field at fields[i] = ~fold(seeds[i] + sum of its range), plus the sums
 * of the entries just before it that have no field (a checksum over two
 * ranges: the first of even length, so the second's words stay aligned). */
export class PendingBytes {
  private readonly moveFrom: Int32Array;
  private readonly moveTo: Int32Array;
  private readonly moveLengths: Int32Array;
  private moves = 0;
  private readonly starts: Int32Array;
  private readonly lengths: Int32Array;
  private readonly seeds: Float64Array;
  private readonly fields: Int32Array;
  private readonly nonZero: Uint8Array;
  private readonly sums: Int32Array;
  count = 0;

  constructor(readonly capacity: number) {
    this.moveFrom = new Int32Array(capacity);
    this.moveTo = new Int32Array(capacity);
    this.moveLengths = new Int32Array(capacity);
    this.starts = new Int32Array(capacity);
    this.lengths = new Int32Array(capacity);
    this.seeds = new Float64Array(capacity);
    this.fields = new Int32Array(capacity);
    this.nonZero = new Uint8Array(capacity);
    this.sums = new Int32Array(capacity);
  }

  /** Queues b.copyWithin(to, from, from + length). */
  move(from: number, to: number, length: number): void {
    const i = this.moves++;
    this.moveFrom[i] = from;
    this.moveTo[i] = to;
    this.moveLengths[i] = length;
  }

  add(start: number, length: number, seed: number, field: number, nonZero: boolean): void {
    const i = this.count++;
    this.starts[i] = start;
    this.lengths[i] = length;
    this.seeds[i] = seed;
    this.fields[i] = field;
    this.nonZero[i] = nonZero ? 1 : 0;
  }

  /** Queues a range whose sum goes into the next entry's checksum. */
  addPart(start: number, length: number): void {
    this.add(start, length, 0, NO_FIELD, false);
  }

  /** Queues the checksum the kernel left partial (VNET_F_NEEDS_CSUM) in the
   * packet at b[p, p+len): the field at csumStart + csumOffset already holds
   * the pseudo-header sum. False when the offsets do not fit the packet. */
  addPartial(p: number, len: number, csumStart: number, csumOffset: number): boolean {
    const field = csumStart + csumOffset;
    if (csumStart < IPV6_HEADER_LEN || field + 2 > len) return false;
    // UDP over IPv6 must not carry a zero checksum (RFC 8200 §8.1); 0xffff is the same sum.
    this.add(p + csumStart, len - csumStart, 0, p + field, csumOffset === UDP_CHECKSUM);
    return true;
  }

  /** Does every queued move, then computes and writes every queued checksum. */
  finish(b: Uint8Array): void {
    if (this.moves > 0) {
      native.copyBatch(b, this.moveFrom, this.moveTo, this.moveLengths, this.moves);
      this.moves = 0;
    }
    if (this.count === 0) return;
    native.sum16Batch(b, this.starts, this.lengths, this.count, this.sums);
    let carried = 0;
    for (let i = 0; i < this.count; i++) {
      const f = this.fields[i];
      if (f === NO_FIELD) {
        carried += this.sums[i];
        continue;
      }
      let c = ~fold(this.seeds[i] + this.sums[i] + carried) & 0xffff;
      carried = 0;
      if (c === 0 && this.nonZero[i] === 1) c = 0xffff;
      b[f] = c >>> 8;
      b[f + 1] = c & 0xff;
    }
    this.count = 0;
  }
}

/** A TCP-over-IPv6 super-packet as the kernel hands it over for TSO. */
export interface SuperPacket {
  /** Offset of its IPv6 header. */
  ip: number;
  /** IPv6 + TCP header bytes copied in front of every segment. */
  headerLen: number;
  tcpHeaderLen: number;
  payloadLen: number;
  /** Payload bytes per segment (gso_size). */
  segmentSize: number;
  seq: number;
  flags: number;
  addrSum: number;
}

export function newSuperPacket(): SuperPacket {
  return { ip: 0, headerLen: 0, tcpHeaderLen: 0, payloadLen: 0, segmentSize: 0, seq: 0, flags: 0, addrSum: 0 };
}

/** Checks a VNET_GSO_TCPV6 packet at b[p, p+len): IPv6 straight to TCP (the
 * kernel puts no extension headers on TSO packets it builds), headers and
 * offsets consistent. Fills sp; false means drop it (bad-offload). */
export function parseTcp6Super(b: Uint8Array, p: number, len: number, h: VnetHeader, sp: SuperPacket): boolean {
  if (len < IPV6_HEADER_LEN + TCP_MIN_HEADER_LEN || b[p] >> 4 !== 6 || b[p + IPV6_NEXT_HEADER] !== NEXT_HEADER_TCP) return false;
  const tcp = p + IPV6_HEADER_LEN;
  const thl = tcpHeaderLen(b, tcp);
  const headerLen = IPV6_HEADER_LEN + thl;
  if (thl < TCP_MIN_HEADER_LEN || headerLen > len || h.gsoSize === 0) return false;
  if (IPV6_HEADER_LEN + ((b[p + IPV6_PAYLOAD_LENGTH] << 8) | b[p + IPV6_PAYLOAD_LENGTH + 1]) !== len) return false;
  sp.ip = p;
  sp.headerLen = headerLen;
  sp.tcpHeaderLen = thl;
  sp.payloadLen = len - headerLen;
  sp.segmentSize = h.gsoSize;
  sp.seq = readI32(b, tcp + TCP_SEQ);
  sp.flags = b[tcp + TCP_FLAGS];
  sp.addrSum = pseudoHeaderSum(b, p, NEXT_HEADER_TCP);
  return true;
}

/** Writes the segment carrying payload bytes [at, at + segmentSize) of sp as
 * one contiguous IPv6 packet at b[dst] (the datapath sends segments in place,
 * writeSegmentInPlace; this whole form is what tests and the micro bench
 * compare that with): headers copied, payload length, sequence number
 * and flags (FIN and PSH only on the last segment, CWR only on the first:
 * RFC 3168 §6.1.2) rewritten; its payload move and checksum (RFC 9293 §3.1)
 * are queued in pending. Returns its length. */
export function writeSegment(b: Uint8Array, sp: SuperPacket, at: number, dst: number, pending: PendingBytes): number {
  const n = segmentPayloadLen(sp, at);
  const tcpLen = writeSegmentHeaders(b, sp, at, dst, n);
  const tcp = dst + IPV6_HEADER_LEN;
  pending.move(segmentPayloadAt(sp, at), tcp + sp.tcpHeaderLen, n);
  pending.add(tcp, tcpLen, sp.addrSum + tcpLen, tcp + TCP_CHECKSUM, false);
  return IPV6_HEADER_LEN + tcpLen;
}

/** writeSegment without the payload move: only the headers go to b[dst];
 * the payload stays at b[segmentPayloadAt(sp, at)], to be sent from there
 * (a gathered send), and the checksum is queued over both ranges. */
export function writeSegmentInPlace(b: Uint8Array, sp: SuperPacket, at: number, dst: number, pending: PendingBytes): number {
  const n = segmentPayloadLen(sp, at);
  const tcpLen = writeSegmentHeaders(b, sp, at, dst, n);
  const tcp = dst + IPV6_HEADER_LEN;
  pending.addPart(segmentPayloadAt(sp, at), n);
  pending.add(tcp, sp.tcpHeaderLen, sp.addrSum + tcpLen, tcp + TCP_CHECKSUM, false);
  return IPV6_HEADER_LEN + tcpLen;
}

export function segmentPayloadLen(sp: SuperPacket, at: number): number {
  return Math.min(sp.segmentSize, sp.payloadLen - at);
}

export function segmentPayloadAt(sp: SuperPacket, at: number): number {
  return sp.ip + sp.headerLen + at;
}

/** The headers of the segment carrying n payload bytes from at; returns the TCP length. */
function writeSegmentHeaders(b: Uint8Array, sp: SuperPacket, at: number, dst: number, n: number): number {
  const src = sp.ip;
  b.copyWithin(dst, src, src + sp.headerLen);
  const tcpLen = sp.tcpHeaderLen + n;
  b[dst + IPV6_PAYLOAD_LENGTH] = tcpLen >>> 8;
  b[dst + IPV6_PAYLOAD_LENGTH + 1] = tcpLen & 0xff;
  const tcp = dst + IPV6_HEADER_LEN;
  writeU32(b, tcp + TCP_SEQ, (sp.seq + at) | 0);
  let flags = sp.flags;
  if (at + n < sp.payloadLen) flags &= ~(TCP_FIN | TCP_PSH);
  if (at > 0) flags &= ~TCP_CWR;
  b[tcp + TCP_FLAGS] = flags;
  b[tcp + TCP_CHECKSUM] = 0;
  b[tcp + TCP_CHECKSUM + 1] = 0;
  return tcpLen;
}

/** Open runs tracked at once: more flows than this in one batch are rare,
 * and the oldest run simply stops growing. */
const OPEN_RUNS = 8;
const NOT_MERGED = -1;
/** A coalesced packet is written as one IPv6 packet: payload length ≤ 65535. */
const MAX_COALESCED = IPV6_HEADER_LEN + 0xffff;
/** Datagrams per UDP GSO write: Linux refuses more than UDP_MAX_SEGMENTS,
 * which was 64 before it became 128. */
const MAX_UDP_SEGMENTS = 64;
/** Source and destination port: the first 4 bytes of a TCP or UDP header. */
const PORTS_LEN = 4;

/** What Coalescer.run may glue together. */
export interface Merge {
  tcp: boolean;
  udp: boolean;
}

/** Glues consecutive packets of one flow in a received batch into one packet
 * for the TUN, as Linux GRO does. TCP (tcp_gro_receive): same addresses,
 * ports, first IPv6 word, hop limit, ACK number and options; only ACK (and
 * PSH, which ends the run) set; sequence numbers contiguous; every segment but
 * the last exactly gso_size. UDP (udp_gro_receive): same addresses, ports,
 * first word and hop limit; every datagram but the last exactly the size of
 * the first, at most MAX_UDP_SEGMENTS; the kernel cuts the run back into
 * those datagrams (GSO_UDP_L4). Each packet's checksum is verified before it
 * joins, because the kernel trusts a NEEDS_CSUM packet's data. */
export class Coalescer {
  /** Per slot: the slot whose packet it was appended to, or -1. */
  readonly into: Int32Array;
  /** Per slot: segments in the packet it heads (1: alone). */
  readonly segments: Int32Array;
  /** Per slot: inner length as received, to undo a run. */
  readonly originalLen: Int32Array;
  private readonly segmentSize: Int32Array;
  private readonly originalChecksum: Int32Array;
  private readonly originalFlags: Int32Array;
  /** Per slot: 1 when its TCP or UDP checksum is right (computed for candidates only). */
  private readonly valid: Uint8Array;
  private readonly sumStarts: Int32Array;
  private readonly sumLengths: Int32Array;
  private readonly sums: Int32Array;
  /** Heads of the open runs (NOT_MERGED: a free place). */
  private readonly open = new Int32Array(OPEN_RUNS);
  /** flowKey of each open run: most packets that do not belong are told by it alone. */
  private readonly openKey = new Int32Array(OPEN_RUNS);
  /** Payloads appended to runs, moved at the end of run(). */
  private readonly moves: PendingBytes;
  /** Packets written that carried more than one segment, and the segments in them. */
  coalescedPackets = 0;
  coalescedSegments = 0;

  constructor(slots: number, private readonly slotSize: number, private readonly innerOffset: number) {
    this.into = new Int32Array(slots);
    this.segments = new Int32Array(slots);
    this.originalLen = new Int32Array(slots);
    this.segmentSize = new Int32Array(slots);
    this.originalChecksum = new Int32Array(slots);
    this.originalFlags = new Int32Array(slots);
    this.valid = new Uint8Array(slots);
    this.sumStarts = new Int32Array(slots);
    this.sumLengths = new Int32Array(slots);
    this.sums = new Int32Array(slots);
    this.moves = new PendingBytes(slots);
  }

  /** Coalesces slots [0, count) of b as merge allows; lens[i] is the inner
   * length at slot offset innerOffset (0: dropped). Afterwards a merged
   * slot's length is 0. */
  run(b: Uint8Array, lens: Int32Array, count: number, merge: Merge): void {
    const limit = Math.min(MAX_COALESCED, this.slotSize - this.innerOffset);
    for (let k = 0; k < OPEN_RUNS; k++) this.open[k] = NOT_MERGED;
    for (let i = 0; i < count; i++) {
      this.into[i] = NOT_MERGED;
      this.segments[i] = 1;
      this.originalLen[i] = lens[i];
    }
    if (!merge.tcp && !merge.udp) return;
    this.verifyCandidates(b, lens, count, merge);
    for (let i = 0; i < count; i++) {
      const len = lens[i];
      if (len === 0) continue;
      const p = i * this.slotSize + this.innerOffset;
      const l4 = p + IPV6_HEADER_LEN;
      // Even a malformed packet of a flow (ports present) belongs to its run.
      const hasPorts = len >= IPV6_HEADER_LEN + PORTS_LEN;
      const key = hasPorts ? flowKey(b, p) : 0;
      const run = hasPorts ? this.findRun(b, p, key) : -1;
      const kind = l4Kind(b, p, len);
      let candidate = false;
      let payload = 0;
      let flags = 0;
      let thl = 0;
      if (kind === NEXT_HEADER_TCP) {
        thl = tcpHeaderLen(b, l4);
        payload = len - IPV6_HEADER_LEN - thl;
        flags = b[l4 + TCP_FLAGS];
        candidate = merge.tcp && thl >= TCP_MIN_HEADER_LEN && payload > 0 && (flags & ~TCP_PSH) === TCP_ACK_FLAG;
      } else if (kind === NEXT_HEADER_UDP) {
        payload = len - IPV6_HEADER_LEN - UDP_HEADER_LEN;
        candidate = merge.udp && payload > 0;
      }
      if (run >= 0) {
        const joined = candidate && (kind === NEXT_HEADER_TCP
          ? this.appendTcp(b, lens, run, i, p, thl, payload, flags, limit)
          : this.appendUdp(b, lens, run, i, p, payload, limit));
        if (joined) continue;
        // Anything else of the same flow ends its run: never reorder a flow.
        this.closeRun(run);
      }
      if (candidate) this.openRun(i, payload, flags, key);
    }
    this.moves.finish(b);
  }

  /** Checks the checksum of every packet that could join a run, with one
   * native call: the sum from the source address (the pseudo-header's
   * addresses sit right before the TCP or UDP header) to the end, plus next
   * header and length, must fold to 0xffff. A UDP checksum of zero (none,
   * which IPv6 forbids: RFC 8200 §8.1) never joins. */
  private verifyCandidates(b: Uint8Array, lens: Int32Array, count: number, merge: Merge): void {
    let n = 0;
    for (let i = 0; i < count; i++) {
      const len = lens[i];
      const p = i * this.slotSize + this.innerOffset;
      const l4 = p + IPV6_HEADER_LEN;
      this.valid[i] = 0;
      this.sumLengths[i] = 0;
      const kind = l4Kind(b, p, len);
      if (kind === NEXT_HEADER_TCP) {
        if (!merge.tcp || (b[l4 + TCP_FLAGS] & ~TCP_PSH) !== TCP_ACK_FLAG) continue;
      } else if (kind === NEXT_HEADER_UDP) {
        if (!merge.udp || (b[l4 + UDP_CHECKSUM] | b[l4 + UDP_CHECKSUM + 1]) === 0) continue;
      } else {
        continue;
      }
      this.sumStarts[i] = p + IPV6_SRC;
      this.sumLengths[i] = len - IPV6_SRC;
      n = i + 1;
    }
    if (n === 0) return;
    native.sum16Batch(b, this.sumStarts, this.sumLengths, n, this.sums);
    for (let i = 0; i < n; i++) {
      if (this.sumLengths[i] === 0) continue;
      const p = i * this.slotSize + this.innerOffset;
      this.valid[i] = fold(this.sums[i] + b[p + IPV6_NEXT_HEADER] + lens[i] - IPV6_HEADER_LEN) === 0xffff ? 1 : 0;
    }
  }

  /** The open run of the flow (key: flowKey) the packet at p belongs to, or -1. */
  private findRun(b: Uint8Array, p: number, key: number): number {
    for (let k = 0; k < OPEN_RUNS; k++) {
      const h = this.open[k];
      if (h === NOT_MERGED || this.openKey[k] !== key) continue;
      const q = h * this.slotSize + this.innerOffset;
      // Protocol, addresses (32 bytes) and ports: the flow.
      let same = b[p + IPV6_NEXT_HEADER] === b[q + IPV6_NEXT_HEADER] && readI32(b, p + IPV6_HEADER_LEN) === readI32(b, q + IPV6_HEADER_LEN);
      for (let w = IPV6_SRC; same && w < IPV6_HEADER_LEN; w += 4) same = readI32(b, p + w) === readI32(b, q + w);
      if (same) return h;
    }
    return -1;
  }

  /** Opens a run headed by slot i in a free place, or in the oldest run's
   * (heads are batch slots: the smallest is the oldest). No entries move. */
  private openRun(i: number, payload: number, flags: number, key: number): void {
    let at = 0;
    for (let k = 0; k < OPEN_RUNS; k++) {
      if (this.open[k] === NOT_MERGED) {
        at = k;
        break;
      }
      if (this.open[k] < this.open[at]) at = k;
    }
    this.open[at] = i;
    this.openKey[at] = key;
    this.segmentSize[i] = payload;
    this.originalFlags[i] = flags;
  }

  private closeRun(h: number): void {
    for (let k = 0; k < OPEN_RUNS; k++) if (this.open[k] === h) this.open[k] = NOT_MERGED;
  }

  private appendTcp(
    b: Uint8Array, lens: Int32Array, h: number, i: number, p: number, thl: number, payload: number, flags: number, limit: number,
  ): boolean {
    const q = h * this.slotSize + this.innerOffset;
    const headLen = lens[h];
    const tcp = p + IPV6_HEADER_LEN;
    const headTcp = q + IPV6_HEADER_LEN;
    if (tcpHeaderLen(b, headTcp) !== thl || readI32(b, p) !== readI32(b, q) || b[p + 7] !== b[q + 7]) return false;
    if (readI32(b, tcp + TCP_ACK) !== readI32(b, headTcp + TCP_ACK)) return false;
    for (let o = TCP_MIN_HEADER_LEN; o < thl; o += 4) if (readI32(b, tcp + o) !== readI32(b, headTcp + o)) return false;
    const size = this.segmentSize[h];
    const headPayload = headLen - IPV6_HEADER_LEN - thl;
    // The run ended with a short segment or a PSH.
    if (headPayload % size !== 0 || (b[headTcp + TCP_FLAGS] & TCP_PSH) !== 0) return false;
    if (payload > size || headLen + payload > limit) return false;
    if (((readI32(b, headTcp + TCP_SEQ) + headPayload) | 0) !== readI32(b, tcp + TCP_SEQ)) return false;
    if (this.valid[i] === 0 || this.valid[h] === 0) return false;
    this.join(b, lens, h, i, tcp + thl, payload, headTcp + TCP_CHECKSUM);
    b[headTcp + TCP_FLAGS] |= flags & TCP_PSH;
    return true;
  }

  private appendUdp(b: Uint8Array, lens: Int32Array, h: number, i: number, p: number, payload: number, limit: number): boolean {
    const q = h * this.slotSize + this.innerOffset;
    const headLen = lens[h];
    if (readI32(b, p) !== readI32(b, q) || b[p + 7] !== b[q + 7]) return false;
    const size = this.segmentSize[h];
    // The run ended with a short datagram, or is as long as the kernel takes.
    if ((headLen - IPV6_HEADER_LEN - UDP_HEADER_LEN) % size !== 0 || this.segments[h] === MAX_UDP_SEGMENTS) return false;
    if (payload > size || headLen + payload > limit) return false;
    if (this.valid[i] === 0 || this.valid[h] === 0) return false;
    this.join(b, lens, h, i, p + IPV6_HEADER_LEN + UDP_HEADER_LEN, payload, q + IPV6_HEADER_LEN + UDP_CHECKSUM);
    return true;
  }

  /** Appends payload b[from, from+payload) of slot i to the packet headed by h. */
  private join(b: Uint8Array, lens: Int32Array, h: number, i: number, from: number, payload: number, headChecksum: number): void {
    if (this.segments[h] === 1) this.originalChecksum[h] = (b[headChecksum] << 8) | b[headChecksum + 1];
    this.moves.move(from, h * this.slotSize + this.innerOffset + lens[h], payload);
    lens[h] += payload;
    lens[i] = 0;
    this.into[i] = h;
    this.segments[h]++;
  }

  /** Puts the virtio header in front of every packet (at innerOffset - 10)
   * and makes lens count it: GSO for coalesced packets, plain for the rest. */
  emitHeaders(b: Uint8Array, lens: Int32Array, count: number): void {
    for (let i = 0; i < count; i++) {
      const len = lens[i];
      if (len === 0) continue;
      const p = i * this.slotSize + this.innerOffset;
      const v = p - VNET_HDR_LEN;
      lens[i] = len + VNET_HDR_LEN;
      if (this.segments[i] === 1) {
        emitPlainVnetHeader(b, v);
        continue;
      }
      this.coalescedPackets++;
      this.coalescedSegments += this.segments[i];
      finishCoalesced(b, p, len, this.segmentSize[i]);
    }
  }

  /** Undoes the coalesced packet headed by slot h, which the kernel refused:
   * its segments become packets of their own again, each with a plain virtio
   * header, ready to be written again. */
  split(b: Uint8Array, lens: Int32Array, h: number, count: number): void {
    const p = h * this.slotSize + this.innerOffset;
    const l4 = p + IPV6_HEADER_LEN;
    const l4Len = this.originalLen[h] - IPV6_HEADER_LEN;
    b[p + IPV6_PAYLOAD_LENGTH] = l4Len >>> 8;
    b[p + IPV6_PAYLOAD_LENGTH + 1] = l4Len & 0xff;
    const udp = b[p + IPV6_NEXT_HEADER] === NEXT_HEADER_UDP;
    const checksum = l4 + (udp ? UDP_CHECKSUM : TCP_CHECKSUM);
    b[checksum] = this.originalChecksum[h] >>> 8;
    b[checksum + 1] = this.originalChecksum[h] & 0xff;
    if (udp) {
      b[l4 + UDP_LENGTH] = l4Len >>> 8;
      b[l4 + UDP_LENGTH + 1] = l4Len & 0xff;
    } else {
      b[l4 + TCP_FLAGS] = this.originalFlags[h];
    }
    this.coalescedPackets--;
    this.coalescedSegments -= this.segments[h];
    this.segments[h] = 1;
    for (let i = h; i < count; i++) {
      if (i !== h && this.into[i] !== h) continue;
      this.into[i] = NOT_MERGED;
      emitPlainVnetHeader(b, i * this.slotSize + this.innerOffset - VNET_HDR_LEN);
      lens[i] = this.originalLen[i] + VNET_HDR_LEN;
    }
  }
}

/** A summary of the flow of the IPv6 packet at p (every word of the source,
 * the destination's second and last, the ports, next header), equal for
 * packets of one flow: a broker's flows differ in the source's prefix or
 * interface identifier, so most others differ here. 30 bits: a small
 * integer in V8, never boxed when it crosses a call that is not inlined. */
function flowKey(b: Uint8Array, p: number): number {
  const s = p + IPV6_SRC;
  const d = p + IPV6_DST;
  return (readI32(b, s) ^ readI32(b, s + 4) ^ readI32(b, s + 8) ^ readI32(b, s + 12) ^ readI32(b, d + 4) ^ readI32(b, d + 12) ^
    readI32(b, p + IPV6_HEADER_LEN) ^ b[p + IPV6_NEXT_HEADER]) & 0x3fffffff;
}

/** NEXT_HEADER_TCP or NEXT_HEADER_UDP when the IPv6 packet at b[p, p+len)
 * carries a whole TCP or UDP header right after the IPv6 header (the UDP
 * length matching the packet), else 0: nothing GRO could glue. */
function l4Kind(b: Uint8Array, p: number, len: number): number {
  const nh = b[p + IPV6_NEXT_HEADER];
  const l4 = p + IPV6_HEADER_LEN;
  if (nh === NEXT_HEADER_TCP) {
    return len >= IPV6_HEADER_LEN + TCP_MIN_HEADER_LEN && tcpHeaderLen(b, l4) <= len - IPV6_HEADER_LEN ? nh : 0;
  }
  if (nh === NEXT_HEADER_UDP && len >= IPV6_HEADER_LEN + UDP_HEADER_LEN) {
    return ((b[l4 + UDP_LENGTH] << 8) | b[l4 + UDP_LENGTH + 1]) === len - IPV6_HEADER_LEN ? nh : 0;
  }
  return 0;
}

/** The virtio header of every coalesced packet; the rest is set per packet. */
const coalescedHeader: VnetHeader = {
  flags: VNET_F_NEEDS_CSUM, gsoType: VNET_GSO_TCPV6, headerBytes: 0, gsoSize: 0, csumStart: IPV6_HEADER_LEN, csumOffset: TCP_CHECKSUM,
};

/** Makes the run of TCP segments or UDP datagrams at b[p, p+len) one packet
 * for the kernel: IPv6 payload length (and UDP length: the kernel gives each
 * datagram its own), the checksum field as NEEDS_CSUM wants it (pseudo-header
 * sum, not complemented), and the GSO virtio header in the 10 bytes before p. */
export function finishCoalesced(b: Uint8Array, p: number, len: number, segmentSize: number): void {
  const l4 = p + IPV6_HEADER_LEN;
  const l4Len = len - IPV6_HEADER_LEN;
  const nh = b[p + IPV6_NEXT_HEADER];
  b[p + IPV6_PAYLOAD_LENGTH] = l4Len >>> 8;
  b[p + IPV6_PAYLOAD_LENGTH + 1] = l4Len & 0xff;
  const h = coalescedHeader;
  if (nh === NEXT_HEADER_UDP) {
    b[l4 + UDP_LENGTH] = l4Len >>> 8;
    b[l4 + UDP_LENGTH + 1] = l4Len & 0xff;
    h.gsoType = VNET_GSO_UDP_L4;
    h.csumOffset = UDP_CHECKSUM;
    h.headerBytes = IPV6_HEADER_LEN + UDP_HEADER_LEN;
  } else {
    h.gsoType = VNET_GSO_TCPV6;
    h.csumOffset = TCP_CHECKSUM;
    h.headerBytes = IPV6_HEADER_LEN + tcpHeaderLen(b, l4);
  }
  const partial = fold(pseudoHeaderSum(b, p, nh) + l4Len);
  b[l4 + h.csumOffset] = partial >>> 8;
  b[l4 + h.csumOffset + 1] = partial & 0xff;
  h.gsoSize = segmentSize;
  emitVnetHeader(h, b, p - VNET_HDR_LEN);
}

const EINVAL = 22;
const PROBE_SEGMENT = 8;

/** Writes one coalesced two-segment TCP or UDP packet (protocol: its next
 * header) from ::1 to ::1 into the TUN: harmless (IPv6 drops loopback
 * addresses arriving on other devices, RFC 4291 §2.5.3) but run through the
 * kernel's virtio-header checks, which some kernels fail for GRO writes with
 * EINVAL (wireguard-go hit this; GSO_UDP_L4 writes need Linux 6.2). Returns
 * false when the kernel refuses; other errors are thrown. */
export function probeCoalescedWrite(fd: number, protocol: number = NEXT_HEADER_TCP): boolean {
  const l4HeaderLen = protocol === NEXT_HEADER_UDP ? UDP_HEADER_LEN : TCP_MIN_HEADER_LEN;
  const l4Len = l4HeaderLen + 2 * PROBE_SEGMENT;
  const b = new Uint8Array(VNET_HDR_LEN + IPV6_HEADER_LEN + l4Len);
  const p = VNET_HDR_LEN;
  b[p] = 0x60;
  b[p + IPV6_NEXT_HEADER] = protocol;
  b[p + 7] = 64;
  b[p + IPV6_SRC + 15] = 1;
  b[p + IPV6_SRC + 31] = 1;
  const l4 = p + IPV6_HEADER_LEN;
  b[l4 + 1] = 9; // discard port, both ends
  b[l4 + 3] = 9;
  if (protocol === NEXT_HEADER_TCP) {
    b[l4 + 12] = (TCP_MIN_HEADER_LEN / 4) << 4;
    b[l4 + TCP_FLAGS] = TCP_ACK_FLAG;
  }
  finishCoalesced(b, p, IPV6_HEADER_LEN + l4Len, PROBE_SEGMENT);
  const lens = new Int32Array([b.length]);
  const written = native.writeBatch(fd, b, b.length, 0, lens, 1);
  if (written === 1) return true;
  if (lens[0] === -EINVAL) return false;
  throw new Error(`probing the TUN with a coalesced write failed: errno ${-lens[0]}`);
}

export interface OffloadedTun extends Tun {
  /** 'tso+gro' until probeCoalescedWrite says otherwise once the link is up. */
  offload: OffloadMode;
  /** Why offloads are off although they were wanted. */
  refused: string | null;
}

/** Opens the TUN with IFF_VNET_HDR and checksum + TCPv6 segmentation
 * offloads when wanted, falling back to a plain TUN when the kernel refuses
 * (TUNSETOFFLOAD). */
export function openOffloadedTun(name: string, want: boolean): OffloadedTun {
  if (want) {
    const tun = openTun({ name, vnetHdr: true });
    try {
      setTunOffload(tun.fd, TUN_F_CSUM | TUN_F_TSO6);
      return { ...tun, offload: 'tso+gro', refused: null };
    } catch (e) {
      native.close(tun.fd);
      return { ...openTun({ name }), offload: 'off', refused: (e as Error).message };
    }
  }
  return { ...openTun({ name }), offload: 'off', refused: null };
}
