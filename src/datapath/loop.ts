// The datapath's I/O: one readiness callback per direction on the event loop.
//   TUN readable → readBatch (IPv6 at offset 20) → xmitBatch → sendBatch (raw)
//   raw readable → recvBatch (IPv4)               → rcvBatch  → writeBatch (TUN)
// With offloads (offload.ts) TUN reads land in a staging area behind the
// transmit slots and are segmented into them; received TCP segments are
// coalesced before the TUN write; both carry a virtio header.
// One JS↔native crossing moves a whole batch; nothing goes through the libuv
// threadpool. A callback handles a bounded number of batches so that the
// other direction and the control plane keep running under load.
import { native } from '../sys/native.js';
import { Slab, type SlabChunk } from '../sys/slab.js';
import { Watcher } from '../sys/watch.js';
import { SOCKADDR_IN_LEN, readSockaddrInAddr } from '../sys/sockaddr.js';
import { Drop, FORWARDED, TO_SERVER } from './reasons.js';
import type { DatapathTables } from './tables.js';
import { answerTooBig, createXmitScratch, joinPayload, xmitBatch, type XmitScratch } from './xmit.js';
import { INNER_OFFSET, createRcvScratch, rcvBatch, type RcvScratch } from './rcv.js';
import { handleQueuedError, parseRecvErr, type QueuedError } from './icmp-errors.js';
import type { Tracer } from '../trace/tracer.js';
import { IPV4_HEADER_LEN } from '../wire/ipv4.js';
import {
  VNET_F_NEEDS_CSUM, VNET_GSO_ECN, VNET_GSO_NONE, VNET_GSO_TCPV6, VNET_HDR_LEN, newVnetHeader, parseVnetHeader,
} from '../wire/virtio-net.js';
import {
  Coalescer, PendingBytes, newSuperPacket, parseTcp6Super, segmentPayloadAt, segmentPayloadLen, writeSegmentInPlace, type Merge,
  type OffloadMode,
} from './offload.js';

export interface DatapathOptions {
  /** Packets per batch (≤ 256, default 128). */
  batch?: number;
  /** Batches per readiness callback before yielding to the event loop
   * (and so to the other direction). */
  rounds?: number;
  /** ICMPv6 errors sixtun may generate per second (burst = rate / 2). */
  icmpRate?: number;
  /** How the TUN fd was opened (see offload.ts); 'off' without IFF_VNET_HDR. */
  offload?: OffloadMode;
  /** A server's local TUN: packets for its server addresses, to its own stack (-1: none). */
  localTunFd?: number;
}

/** Two, not more: a packet of one direction waits behind at most two
 * batches of the other. Against eight, interleaved A/B runs gave ping under
 * a TCP load p50 2.9 against 5.2 ms and p99 10.5 against 15.8 ms, TCP within
 * the noise (benchmarks.md, past the C forwarder). */
const DEFAULT_ROUNDS = 2;

/** Runs of one TCP flow inside a received batch are what GRO can glue
 * together: 128 slots hold about three 64 KiB runs of 1420-byte segments. In
 * the bench 128 beat 64 (runs cut at batch edges) and 256 (cache misses). */
const DEFAULT_BATCH = 128;
const EMSGSIZE = 90;
const EINVAL = 22;
/** A TUN read with offloads: virtio header plus an IPv6 packet of up to 64 KiB. */
const READ_SLOT = 65552;
/** Bytes read from the TUN per batch with offloads: a few super-packets, not
 * 64 of them (4 MiB), so that what was read is still in cache when it is cut. */
const READ_BUDGET = 128 * 1024;

/** What the offloads did, for status and metrics. */
export interface OffloadStats {
  /** TSO super-packets read from the TUN, and the segments cut from them. */
  superPackets: number;
  segments: number;
  /** Packets written to the TUN that carried several segments, and those segments. */
  coalescedPackets: number;
  coalescedSegments: number;
}

/** Largest datagram the raw socket may hand over after reassembly, plus 17
 * cache lines so that slot starts do not all fall into the same cache sets. */
const RX_SLOT = 65536 + 1088;
const TX_SLOT = 2048;

export class Datapath {
  offload: OffloadMode;
  /** Called once if the kernel refuses a coalesced write: GRO is then off. */
  onGroRefused: ((errno: number) => void) | null = null;
  /** With GRO on, whether UDP datagrams are coalesced too (GSO_UDP_L4 writes:
   * the daemon turns this off when the kernel refuses its probe). */
  udpGro = true;
  private readonly merge: Merge = { tcp: false, udp: false };
  readonly tx: Slab;
  readonly rx: Slab;
  private readonly xs: XmitScratch;
  /** The fragment slab in runs of MAX_BATCH slots: sendmmsg takes that many a call. */
  private readonly fragmentChunks: SlabChunk[];
  private readonly rs: RcvScratch;
  private readonly rxInnerLen: Int32Array;
  private readonly errData = new Uint8Array(RX_SLOT);
  private readonly errCtrl = new Uint8Array(512);
  private readonly errInfo = new Int32Array(4);
  private readonly errName = new Uint8Array(SOCKADDR_IN_LEN);
  private readonly queued: QueuedError = { errno: 0, origin: 0, type: 0, code: 0, info: 0, rfc4884Length: 0 };
  private readonly rounds: number;
  private readonly rxOriginalLen: Int32Array;
  /** Called when the TUN fd fails (the device was deleted): the daemon opens it again. */
  onTunError: ((errno: number) => void) | null = null;
  /** Set by the daemon; captures cost one branch per batch when no trace runs. */
  tracer: Tracer | null = null;
  private tunWatch: Watcher | null = null;
  private rawWatch: Watcher | null = null;
  private readonly readArea: Uint8Array | null;
  private readonly readLens: Int32Array;
  private readonly vh = newVnetHeader();
  private readonly sp = newSuperPacket();
  private readonly coalescer: Coalescer;
  /** Payload moves and checksums of the transmit slots filled from offloaded reads. */
  private readonly pending: PendingBytes;
  private readonly segmentStats = { superPackets: 0, segments: 0 };
  /** Transmit slots of the batch being built that hold only headers. */
  private splitSlots = 0;
  /** sendBatchV's (offset, length, offset, length) per transmit slot. */
  private readonly txIov: Int32Array;

  /** Written, never read: the kernel takes what arrives on it as its own (desired.ts). */
  localTunFd: number;

  constructor(readonly tables: DatapathTables, public tunFd: number, readonly rawFd: number, opts: DatapathOptions = {}) {
    const batch = opts.batch ?? DEFAULT_BATCH;
    this.localTunFd = opts.localTunFd ?? -1;
    this.rounds = opts.rounds ?? DEFAULT_ROUNDS;
    this.offload = opts.offload ?? 'off';
    this.txIov = new Int32Array(batch * 4);
    const staging = this.offload === 'off' ? 0 : batch * READ_SLOT;
    this.tx = new Slab({ slots: batch, slotSize: TX_SLOT, headroom: IPV4_HEADER_LEN, nameStride: SOCKADDR_IN_LEN, tailBytes: staging });
    this.readArea = staging > 0 ? new Uint8Array(this.tx.buffer, this.tx.tailStart, staging) : null;
    this.readLens = new Int32Array(batch);
    this.rx = new Slab({ slots: batch, slotSize: RX_SLOT, headroom: INNER_OFFSET });
    this.coalescer = new Coalescer(batch, RX_SLOT, INNER_OFFSET);
    // Two checksum entries per segment sent in place (payload, then headers).
    this.pending = new PendingBytes(2 * batch);
    this.xs = createXmitScratch(batch, opts.icmpRate ?? 100);
    this.fragmentChunks = this.xs.fragments.chunks();
    this.rs = createRcvScratch(batch);
    this.rxInnerLen = new Int32Array(batch);
    this.rxOriginalLen = new Int32Array(batch);
  }

  start(): void {
    this.tunWatch = new Watcher(this.tunFd, () => this.onTunReadable());
    this.rawWatch = new Watcher(this.rawFd, () => this.onRawReadable());
  }

  get offloadStats(): OffloadStats {
    return { ...this.segmentStats, coalescedPackets: this.coalescer.coalescedPackets, coalescedSegments: this.coalescer.coalescedSegments };
  }

  /** The TUN device was deleted and opened again: watch the new fd. A
   * datapath built without offloads cannot take a TUN that has them. */
  replaceTun(fd: number, offload: OffloadMode = this.offload): void {
    if (offload !== 'off' && this.readArea === null) throw new Error('this datapath was built without TUN offloads');
    this.tunWatch?.stop();
    this.tunWatch = null;
    this.tunFd = fd;
    this.offload = offload;
    if (this.rawWatch) this.tunWatch = new Watcher(fd, () => this.onTunReadable());
  }

  stop(): void {
    this.tunWatch?.stop();
    this.rawWatch?.stop();
    this.tunWatch = null;
    this.rawWatch = null;
  }

  /** TUN → wire. Public for tests and benchmarks that drive it directly. */
  onTunReadable(): void {
    if (this.readArea !== null && this.offload !== 'off') {
      this.readOffloaded();
      return;
    }
    const tx = this.tx;
    for (let round = 0; round < this.rounds; round++) {
      const n = native.readBatch(this.tunFd, tx.bytes, tx.slotSize, tx.headroom, tx.lens, tx.slots);
      if (n < 0) {
        this.tunFailed(-n);
        return;
      }
      if (n === 0) return;
      this.transmit(n, Date.now());
      if (n < tx.slots) return;
    }
  }

  /** Stops watching a dead fd (it would stay readable) until it is replaced. */
  private tunFailed(errno: number): void {
    this.tunWatch?.stop();
    this.tunWatch = null;
    this.onTunError?.(errno);
  }

  /** Encapsulates and sends transmit slots [0, count). */
  private transmit(count: number, now: number): void {
    const tx = this.tx;
    this.pending.finish(tx.bytes);
    xmitBatch(this.tables, tx, count, this.xs, now);
    if (this.xs.toLocal.count > 0) this.writeLocal(this.xs.toLocal);
    this.sendTx(count, now);
    if (this.xs.fragments.count > 0) this.sendFragments(now);
    if (this.xs.replies.count > 0) this.writeReplies();
    if (this.splitSlots > 0) this.joinSplitSlots(count);
    if (this.tracer !== null && this.tracer.active) this.tracer.captureTx(tx, count, this.xs);
  }

  /** After the send: a trace wants whole packets; the next batch starts with none split. */
  private joinSplitSlots(count: number): void {
    const xs = this.xs;
    if (this.tracer !== null && this.tracer.active) {
      for (let i = 0; i < count; i++) joinPayload(this.tx.bytes, xs, i, this.tx.dataStart(i));
    } else {
      xs.payloadLen.fill(0, 0, count);
    }
    this.splitSlots = 0;
  }

  /** TUN reads with a virtio header into the staging area; each packet is
   * finished (partial checksum) or segmented (TSO) into the transmit slots,
   * which go out whenever they fill. */
  private readOffloaded(): void {
    const tx = this.tx;
    const b = tx.bytes;
    const area = this.readArea!;
    const vh = this.vh;
    const sp = this.sp;
    const drops = this.tables.global.drops;
    const capacity = tx.dataCapacity;
    for (let round = 0; round < this.rounds; round++) {
      const n = native.readBatch(this.tunFd, area, READ_SLOT, 0, this.readLens, this.readLens.length, READ_BUDGET);
      if (n < 0) {
        this.tunFailed(-n);
        return;
      }
      if (n === 0) return;
      const now = Date.now();
      let out = 0;
      let bytes = 0;
      for (let k = 0; k < n; k++) {
        const v = tx.tailStart + k * READ_SLOT;
        const p = v + VNET_HDR_LEN;
        const len = this.readLens[k] - VNET_HDR_LEN;
        bytes += this.readLens[k];
        if (len < 0) {
          drops[Drop.BadOffload]++;
          continue;
        }
        parseVnetHeader(b, v, vh);
        const gso = vh.gsoType & ~VNET_GSO_ECN;
        if (gso === VNET_GSO_NONE) {
          const d = tx.dataStart(out);
          if (len > capacity || ((vh.flags & VNET_F_NEEDS_CSUM) !== 0 && !this.pending.addPartial(d, len, vh.csumStart, vh.csumOffset))) {
            drops[Drop.BadOffload]++;
            continue;
          }
          this.pending.move(p, d, len);
          tx.lens[out++] = len;
          if (out === tx.slots) {
            this.transmit(out, now);
            out = 0;
          }
          continue;
        }
        if (gso !== VNET_GSO_TCPV6 || !parseTcp6Super(b, p, len, vh, sp) || sp.headerLen + sp.segmentSize > capacity) {
          drops[Drop.BadOffload]++;
          continue;
        }
        this.segmentStats.superPackets++;
        for (let at = 0; at < sp.payloadLen; at += sp.segmentSize) {
          // Headers into the slot; the payload is sent from the staging area.
          tx.lens[out] = writeSegmentInPlace(b, sp, at, tx.dataStart(out), this.pending);
          this.xs.payloadAt[out] = segmentPayloadAt(sp, at);
          this.xs.payloadLen[out] = segmentPayloadLen(sp, at);
          this.splitSlots++;
          out++;
          this.segmentStats.segments++;
          if (out === tx.slots) {
            this.transmit(out, now);
            out = 0;
          }
        }
      }
      if (out > 0) this.transmit(out, now);
      if (n < this.readLens.length && bytes < READ_BUDGET) return;
    }
  }

  /** wire → TUN. */
  onRawReadable(): void {
    const rx = this.rx;
    for (let round = 0; round < this.rounds; round++) {
      const n = native.recvBatch(this.rawFd, rx.bytes, rx.slotSize, 0, rx.lens, rx.slots);
      if (n < 0) {
        // A pending socket error means ICMP errors are queued for us.
        this.drainErrorQueue();
        continue;
      }
      if (n === 0) {
        // Woken with nothing to read: an error-queue entry (POLLERR) whose
        // socket error was already taken.
        if (round === 0) this.drainErrorQueue();
        return;
      }
      const tracing = this.tracer !== null && this.tracer.active;
      if (tracing) for (let i = 0; i < n; i++) this.rxOriginalLen[i] = rx.lens[i];
      rcvBatch(this.tables, rx, n, this.rs);
      if (this.rs.toLocal.count > 0) this.writeLocal(this.rs.toLocal);
      for (let i = 0; i < n; i++) this.rxInnerLen[i] = rx.lens[i];
      // Before the write: a virtio header goes over the outer IPv4 header.
      if (tracing) this.tracer!.captureRx(rx, n, this.rxOriginalLen, this.rxInnerLen, this.rs);
      if (this.offload === 'off') native.writeBatch(this.tunFd, rx.bytes, rx.slotSize, INNER_OFFSET, rx.lens, n);
      else this.writeOffloaded(n);
      this.countRx(n, Date.now());
      if (n < rx.slots) return;
    }
  }

  private sendTx(count: number, now: number): void {
    const tx = this.tx;
    const lens = tx.lens;
    const xs = this.xs;
    const tunnels = this.tables.tunnels;
    const gather = this.splitSlots > 0;
    if (gather) this.fillTxIov(count);
    // Repeat while the kernel makes progress: each call sends what it can and
    // marks sent slots 0 and refused ones -errno.
    for (let guard = 0; guard < count + 1; guard++) {
      const sent = gather
        ? native.sendBatchV(this.rawFd, tx.bytes, this.txIov, lens, count, tx.names!, SOCKADDR_IN_LEN, SOCKADDR_IN_LEN)
        : native.sendBatch(this.rawFd, tx.bytes, tx.slotSize, 0, lens, count, tx.names, SOCKADDR_IN_LEN, SOCKADDR_IN_LEN);
      let refused = 0;
      let pending = 0;
      let tooBig = 0;
      for (let i = 0; i < count; i++) {
        const l = lens[i];
        if (l > 0) {
          pending++;
        } else if (l < 0 && l !== -EMSGSIZE) {
          refused++;
          lens[i] = 0;
          tunnels[xs.slotTunnel[i]]!.counters.drops[Drop.TxError]++;
          xs.verdict[i] = Drop.TxError;
        } else if (l === -EMSGSIZE && xs.verdict[i] === FORWARDED) {
          refused++;
          tooBig++;
          xs.verdict[i] = Drop.TooBig;
        }
      }
      if (tooBig > 0) this.answerLocalTooBig(count, now);
      if (pending === 0 || (sent === 0 && refused === 0)) break;
    }
    for (let i = 0; i < count; i++) {
      if (xs.verdict[i] !== FORWARDED) continue;
      const c = tunnels[xs.slotTunnel[i]]!.counters;
      if (lens[i] === 0) {
        c.txPackets++;
        c.txBytes += xs.innerLen[i];
        c.lastTx = now;
      } else {
        c.drops[Drop.TxBusy]++;
        xs.verdict[i] = Drop.TxBusy;
        lens[i] = 0;
      }
    }
  }

  /** Each datagram from its slot, and a split one's payload from where it lies. */
  private fillTxIov(count: number): void {
    const iov = this.txIov;
    const xs = this.xs;
    for (let i = 0; i < count; i++) {
      const k = 4 * i;
      const split = xs.payloadLen[i];
      iov[k] = this.tx.slotStart(i);
      iov[k + 1] = split > 0 ? IPV4_HEADER_LEN + xs.innerLen[i] - split : this.tx.lens[i];
      iov[k + 2] = xs.payloadAt[i];
      iov[k + 3] = split;
    }
  }

  /** Our own interface refused datagrams with EMSGSIZE: learn its MTU from
   * the error queue, then answer those packets with Packet Too Big at once,
   * as kernel SIT does, instead of losing them silently. */
  private answerLocalTooBig(count: number, now: number): void {
    const tx = this.tx;
    const xs = this.xs;
    this.drainErrorQueue();
    for (let i = 0; i < count; i++) {
      if (tx.lens[i] !== -EMSGSIZE) continue;
      tx.lens[i] = 0;
      const t = this.tables.tunnels[xs.slotTunnel[i]];
      if (!t) continue;
      joinPayload(tx.bytes, xs, i, tx.dataStart(i));
      answerTooBig(t, tx.bytes, tx.dataStart(i), xs.innerLen[i], t.effectiveMtu(now), xs, now);
    }
    if (xs.replies.count > 0) this.writeReplies();
  }

  /** Sends the fragments of this batch (more than one sendmmsg when there
   * are many; repeated while the kernel makes progress), then counts each
   * datagram once: forwarded if all its fragments went, `tx-error` if the
   * kernel refused one, `tx-busy` if one is still unsent. */
  private sendFragments(now: number): void {
    const fr = this.xs.fragments;
    const xs = this.xs;
    const lens = fr.lens;
    for (const v of this.fragmentChunks) {
      if (v.start >= fr.count) break;
      const count = Math.min(native.MAX_BATCH, fr.count - v.start);
      let refused = 0;
      for (let guard = 0; guard <= count; guard++) {
        const sent = native.sendBatch(this.rawFd, v.bytes, fr.slotSize, 0, v.lens, count, v.names, SOCKADDR_IN_LEN, SOCKADDR_IN_LEN);
        let pending = 0;
        let refusedNow = 0;
        for (let i = 0; i < count; i++) {
          if (v.lens[i] > 0) pending++;
          else if (v.lens[i] < 0) refusedNow++;
        }
        const progress = sent > 0 || refusedNow > refused;
        refused = refusedNow;
        if (pending === 0 || !progress) break;
      }
    }
    const tunnels = this.tables.tunnels;
    for (let i = 0; i < fr.count;) {
      const slot = xs.fragmentSlot[i];
      let failed = false;
      let unsent = false;
      for (; i < fr.count && xs.fragmentSlot[i] === slot; i++) {
        if (lens[i] < 0) failed = true;
        else if (lens[i] > 0) unsent = true;
        lens[i] = 0;
      }
      const c = tunnels[xs.slotTunnel[slot]]?.counters;
      if (!c) continue;
      if (failed || unsent) {
        const reason = failed ? Drop.TxError : Drop.TxBusy;
        c.drops[reason]++;
        xs.verdict[slot] = reason;
      } else {
        c.txPackets++;
        c.txBytes += xs.innerLen[slot];
        c.lastTx = now;
      }
    }
    fr.count = 0;
  }

  /** Hands packets for server addresses to the server's stack; what the
   * local TUN refuses is counted (no tunnel is to blame). */
  private writeLocal(local: Slab): void {
    if (this.localTunFd >= 0) native.writeBatch(this.localTunFd, local.bytes, local.slotSize, 0, local.lens, local.count);
    for (let i = 0; i < local.count; i++) {
      if (this.localTunFd < 0 || local.lens[i] !== 0) this.tables.global.drops[Drop.ToServerAddress]++;
      local.lens[i] = 0;
    }
    local.count = 0;
  }

  private writeReplies(): void {
    const r = this.xs.replies;
    if (this.offload === 'off') {
      native.writeBatch(this.tunFd, r.bytes, r.slotSize, r.headroom, r.lens, r.count);
    } else {
      // The headroom stays zero: a plain virtio header.
      for (let i = 0; i < r.count; i++) r.lens[i] += VNET_HDR_LEN;
      native.writeBatch(this.tunFd, r.bytes, r.slotSize, r.headroom - VNET_HDR_LEN, r.lens, r.count);
    }
    r.count = 0;
  }

  /** Writes a received batch with virtio headers, TCP and UDP runs coalesced
   * when GRO is on. A kernel that refuses a coalesced packet (EINVAL) gets its segments
   * one by one, and no coalescing from then on. */
  private writeOffloaded(count: number): void {
    const rx = this.rx;
    const co = this.coalescer;
    this.merge.tcp = this.offload === 'tso+gro';
    this.merge.udp = this.merge.tcp && this.udpGro;
    co.run(rx.bytes, rx.lens, count, this.merge);
    co.emitHeaders(rx.bytes, rx.lens, count);
    native.writeBatch(this.tunFd, rx.bytes, rx.slotSize, INNER_OFFSET - VNET_HDR_LEN, rx.lens, count);
    let refused = false;
    for (let i = 0; i < count; i++) {
      if (rx.lens[i] !== -EINVAL || co.segments[i] === 1) continue;
      co.split(rx.bytes, rx.lens, i, count);
      refused = true;
    }
    if (!refused) return;
    this.offload = 'tso';
    this.onGroRefused?.(EINVAL);
    native.writeBatch(this.tunFd, rx.bytes, rx.slotSize, INNER_OFFSET - VNET_HDR_LEN, rx.lens, count);
  }

  /** Counts a written batch: a segment coalesced into another shares its fate. */
  private countRx(count: number, now: number): void {
    const rx = this.rx;
    const inner = this.rxInnerLen;
    const rs = this.rs;
    const into = this.coalescer.into;
    const offloaded = this.offload !== 'off';
    const tunnels = this.tables.tunnels;
    for (let i = 0; i < count; i++) {
      if (rs.verdict[i] === TO_SERVER) tunnels[rs.slotTunnel[i]]!.counters.lastRx = now;
      if (rs.verdict[i] !== FORWARDED) continue;
      const c = tunnels[rs.slotTunnel[i]]!.counters;
      const h = offloaded && into[i] >= 0 ? into[i] : i;
      if (rx.lens[h] === 0) {
        c.rxPackets++;
        c.rxBytes += inner[i];
        c.lastRx = now;
      } else {
        c.drops[Drop.TunWriteError]++;
        rs.verdict[i] = Drop.TunWriteError;
      }
    }
    for (let i = 0; i < count; i++) rx.lens[i] = 0;
  }

  /** Reads every queued ICMPv4 error and acts on it. */
  drainErrorQueue(): void {
    const replies = this.xs.replies;
    for (let k = 0; k < 256; k++) {
      const n = native.recvErrQueue(this.rawFd, this.errData, this.errCtrl, this.errName, 0, this.errInfo);
      if (n < 0) break;
      if (parseRecvErr(this.errCtrl, this.errInfo[1], this.queued)) {
        const destination = readSockaddrInAddr(this.errName, 0);
        handleQueuedError(this.tables, this.queued, this.errData, n, destination, replies, this.xs.icmpLimits, Date.now());
      }
    }
    if (replies.count > 0) this.writeReplies();
  }
}
