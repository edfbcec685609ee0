// Capture points for the datapath and the NDP proxy. With no trace session
// the datapath pays one predictable branch per batch (`tracer.active`). With
// sessions, matching packets are encoded as pcapng blocks into each session's
// bounded buffer, flushed to its connection off the packet path; when a
// buffer is full the packet is counted as lost instead of slowing forwarding.
import { DatapathTables } from '../datapath/tables.js';
import { FORWARDED, verdictText } from '../datapath/reasons.js';
import type { Slab } from '../sys/slab.js';
import type { XmitScratch } from '../datapath/xmit.js';
import type { RcvScratch } from '../datapath/rcv.js';
import { INNER_OFFSET } from '../datapath/rcv.js';
import {
  LINKTYPE_ETHERNET, LINKTYPE_IPV4, LINKTYPE_IPV6, enhancedPacketLength, interfaceDescription, sectionHeader, writeEnhancedPacket,
} from '../wire/pcapng.js';
import { readU32 } from '../wire/ipv4.js';
import { ETH_HEADER_LEN } from '../wire/ethernet.js';
import type { TraceFilter } from './filter.js';

export const IF_INNER = 0;
export const IF_OUTER = 1;
export const IF_NDP = 2;

export interface TraceSink {
  /** Returns false when the sink wants to be left alone until drain. */
  write(chunk: Uint8Array): boolean;
  once(event: 'drain', cb: () => void): unknown;
  readonly destroyed: boolean;
}

const DEFAULT_BUFFER = 4 << 20;
const encoder = new TextEncoder();

export class TraceSession {
  private readonly buf: Uint8Array;
  private readonly dv: DataView;
  private used = 0;
  private flushScheduled = false;
  private waitingDrain = false;
  captured = 0;
  lost = 0;

  constructor(
    readonly filter: TraceFilter,
    readonly snapLen: number,
    private readonly sink: TraceSink,
    names: { inner: string; outer: string; ndp: string },
    bufferBytes = DEFAULT_BUFFER,
  ) {
    this.buf = new Uint8Array(bufferBytes);
    this.dv = new DataView(this.buf.buffer);
    for (const b of [
      sectionHeader(),
      interfaceDescription(LINKTYPE_IPV6, snapLen, names.inner),
      interfaceDescription(LINKTYPE_IPV4, snapLen, names.outer),
      interfaceDescription(LINKTYPE_ETHERNET, snapLen, names.ndp),
    ]) sink.write(b);
  }

  get closed(): boolean {
    return this.sink.destroyed;
  }

  add(iface: number, tsHigh: number, tsLow: number, data: Uint8Array, off: number, len: number, comment: Uint8Array): void {
    const captured = len < this.snapLen ? len : this.snapLen;
    const need = enhancedPacketLength(captured, comment.length);
    if (this.used + need > this.buf.length) {
      this.lost++;
      return;
    }
    this.used = writeEnhancedPacket(this.buf, this.dv, this.used, iface, tsHigh, tsLow, data, off, captured, len, comment);
    this.captured++;
    if (!this.flushScheduled && !this.waitingDrain) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.used === 0 || this.sink.destroyed) return;
    const chunk = this.buf.slice(0, this.used);
    this.used = 0;
    if (!this.sink.write(chunk)) {
      this.waitingDrain = true;
      this.sink.once('drain', () => {
        this.waitingDrain = false;
        this.flush();
      });
    }
  }
}

export class Tracer {
  private sessions: TraceSession[] = [];
  /** One predictable branch per batch on the datapath. */
  active = false;
  private readonly comments = new Map<string, Uint8Array>();

  constructor(private readonly tables: DatapathTables) {}

  attach(s: TraceSession): void {
    this.sessions.push(s);
    this.active = true;
  }

  detach(s: TraceSession): void {
    this.sessions = this.sessions.filter((x) => x !== s);
    this.active = this.sessions.length > 0;
  }

  get sessionCount(): number {
    return this.sessions.length;
  }

  /** "tunnel NAME, rx, dropped: spoofed-source" (label "ndp" for the NDP point). */
  private comment(tunnel: string | null, direction: 'tx' | 'rx', verdict: string, label?: string): Uint8Array {
    const text = `${label ?? `tunnel ${tunnel ?? '-'}`}, ${direction}, ${verdict}`;
    let c = this.comments.get(text);
    if (!c) {
      if (this.comments.size > 4096) this.comments.clear();
      c = encoder.encode(text);
      this.comments.set(text, c);
    }
    return c;
  }

  /** Wall-clock time of the monotonic clock's zero, taken once: every stamp
   * comes from the one monotonic clock, so a reply is never stamped before its
   * request (mixing Date.now() milliseconds with hrtime's sub-millisecond part
   * could step backwards). */
  private readonly epochNs = BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint();

  /** Nanoseconds since 1970 now, as pcapng's two 32-bit halves (if_tsresol 9). */
  private timestamp(): [number, number] {
    const ns = this.epochNs + process.hrtime.bigint();
    return [Number(ns >> 32n), Number(ns & 0xffffffffn)];
  }

  /** After a transmit batch: the inner packet as read from the TUN, and the
   * outer one as sent when it was forwarded whole. */
  captureTx(slab: Slab, count: number, xs: XmitScratch): void {
    this.sessions = this.sessions.filter((s) => !s.closed);
    if (this.sessions.length === 0) {
      this.active = false;
      return;
    }
    const [hi, lo] = this.timestamp();
    for (let i = 0; i < count; i++) {
      const t = xs.slotTunnel[i] >= 0 ? this.tables.tunnels[xs.slotTunnel[i]] : null;
      const v = xs.verdict[i];
      const dropped = v >= 0;
      const ip = slab.dataStart(i);
      const len = xs.innerLen[i];
      for (const s of this.sessions) {
        if (!s.filter.matches(t?.spec.name ?? null, t ? t.spec.remoteV4 : null, 'tx', dropped, false, slab.bytes, ip, len)) continue;
        const c = this.comment(t?.spec.name ?? null, 'tx', verdictText(v));
        s.add(IF_INNER, hi, lo, slab.bytes, ip, len, c);
        if (v === FORWARDED) s.add(IF_OUTER, hi, lo, slab.bytes, slab.slotStart(i), len + 20, c);
      }
    }
  }

  /** After a receive batch: the outer datagram as received and, when
   * forwarded, the inner packet as written to the TUN. */
  captureRx(slab: Slab, count: number, originalLen: Int32Array, innerLen: Int32Array, rs: RcvScratch): void {
    this.sessions = this.sessions.filter((s) => !s.closed);
    if (this.sessions.length === 0) {
      this.active = false;
      return;
    }
    const [hi, lo] = this.timestamp();
    const b = slab.bytes;
    for (let i = 0; i < count; i++) {
      const t = rs.slotTunnel[i] >= 0 ? this.tables.tunnels[rs.slotTunnel[i]] : null;
      const v = rs.verdict[i];
      const s0 = slab.slotStart(i);
      const olen = originalLen[i];
      if (olen < 20) continue;
      const ihl = (b[s0] & 0x0f) << 2;
      const inner = s0 + INNER_OFFSET;
      // A forwarded datagram with IPv4 options had its inner packet moved over them.
      const outerIntact = v !== FORWARDED || ihl === INNER_OFFSET;
      const remote = readU32(b, s0 + 12);
      const innerAt = v === FORWARDED ? inner : ihl === INNER_OFFSET ? inner : -1;
      const ilen = v === FORWARDED ? innerLen[i] : olen - ihl;
      for (const s of this.sessions) {
        if (!s.filter.matches(t?.spec.name ?? null, remote, 'rx', v >= 0, false, b, innerAt, ilen)) continue;
        const c = this.comment(t?.spec.name ?? null, 'rx', verdictText(v));
        if (outerIntact) s.add(IF_OUTER, hi, lo, b, s0, olen, c);
        if (v === FORWARDED) s.add(IF_INNER, hi, lo, b, inner, innerLen[i], c);
      }
    }
  }

  /** One Ethernet frame seen by the NDP proxy, with what it did about it. */
  captureNdp(frame: Uint8Array, off: number, len: number, verdict: string, answer: Uint8Array | null, answerLen: number): void {
    const [hi, lo] = this.timestamp();
    for (const s of this.sessions) {
      if (s.closed) continue;
      const dropped = answer === null;
      if (!s.filter.matches(null, null, 'rx', dropped, true, frame, off + ETH_HEADER_LEN, len - ETH_HEADER_LEN)) continue;
      s.add(IF_NDP, hi, lo, frame, off, len, this.comment(null, 'rx', verdict, 'ndp'));
      if (answer) s.add(IF_NDP, hi, lo, answer, 0, answerLen, this.comment(null, 'tx', 'sent', 'ndp'));
    }
  }
}
