// Netlink framing (RFC 3549 §2.3.2; linux/netlink.h): message headers, 4-byte
// alignment, attributes with nesting. The builder grows one buffer per
// request; the attribute iterator allocates nothing per attribute.
import { NLA_F_NESTED, NLA_HDRLEN, NLA_TYPE_MASK, NLMSG_HDRLEN } from './constants.js';

export const NLMSG_ALIGNTO = 4;
export function align4(n: number): number {
  return (n + 3) & ~3;
}

// nlmsghdr fields (little-endian on every Linux architecture sixtun supports).
export const NLMSG_LEN_OFF = 0;
export const NLMSG_TYPE_OFF = 4;
export const NLMSG_FLAGS_OFF = 6;
export const NLMSG_SEQ_OFF = 8;
export const NLMSG_PID_OFF = 12;

export class NetlinkDecodeError extends Error {
  readonly code = 'ENLDECODE';
}

/** Builds one request: header, fixed family struct, attributes. */
export class MessageBuilder {
  private buf: Uint8Array;
  private dv: DataView;
  private len: number;
  private readonly nests: number[] = [];

  constructor(type: number, flags: number, familyStructLen: number, capacity = 256) {
    this.buf = new Uint8Array(Math.max(capacity, NLMSG_HDRLEN + familyStructLen));
    this.dv = new DataView(this.buf.buffer);
    this.dv.setUint16(NLMSG_TYPE_OFF, type, true);
    this.dv.setUint16(NLMSG_FLAGS_OFF, flags, true);
    this.len = NLMSG_HDRLEN + align4(familyStructLen);
  }

  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.len + n));
    next.set(this.buf);
    this.buf = next;
    this.dv = new DataView(next.buffer);
  }

  /** The family struct (ifinfomsg, rtmsg …) right after the header. */
  get family(): DataView {
    return this.dv;
  }

  u8(off: number, v: number): this {
    this.dv.setUint8(NLMSG_HDRLEN + off, v);
    return this;
  }
  u16(off: number, v: number): this {
    this.dv.setUint16(NLMSG_HDRLEN + off, v, true);
    return this;
  }
  u32(off: number, v: number): this {
    this.dv.setUint32(NLMSG_HDRLEN + off, v >>> 0, true);
    return this;
  }
  i32(off: number, v: number): this {
    this.dv.setInt32(NLMSG_HDRLEN + off, v, true);
    return this;
  }

  attrBytes(type: number, data: Uint8Array): this {
    const total = NLA_HDRLEN + data.length;
    this.reserve(align4(total));
    this.dv.setUint16(this.len, total, true);
    this.dv.setUint16(this.len + 2, type, true);
    this.buf.set(data, this.len + NLA_HDRLEN);
    this.buf.fill(0, this.len + total, this.len + align4(total));
    this.len += align4(total);
    return this;
  }
  attrU8(type: number, v: number): this {
    return this.attrBytes(type, Uint8Array.of(v));
  }
  attrU16(type: number, v: number): this {
    const b = new Uint8Array(2);
    new DataView(b.buffer).setUint16(0, v, true);
    return this.attrBytes(type, b);
  }
  attrU32(type: number, v: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v >>> 0, true);
    return this.attrBytes(type, b);
  }
  /** NUL-terminated string (IFLA_IFNAME and the like). */
  attrString(type: number, s: string): this {
    const enc = new TextEncoder().encode(s);
    const b = new Uint8Array(enc.length + 1);
    b.set(enc);
    return this.attrBytes(type, b);
  }

  beginNested(type: number): this {
    this.reserve(NLA_HDRLEN);
    this.nests.push(this.len);
    this.dv.setUint16(this.len + 2, type | NLA_F_NESTED, true);
    this.len += NLA_HDRLEN;
    return this;
  }
  endNested(): this {
    const start = this.nests.pop();
    if (start === undefined) throw new Error('endNested without beginNested');
    this.dv.setUint16(start, this.len - start, true);
    return this;
  }

  /** The finished message with its length set; seq and pid are set by the client. */
  finish(): Uint8Array {
    if (this.nests.length !== 0) throw new Error('unterminated nested attribute');
    this.dv.setUint32(NLMSG_LEN_OFF, this.len, true);
    return this.buf.slice(0, this.len);
  }
}

/** One message inside a receive buffer: where it lives and its header. */
export interface MessageView {
  buf: Uint8Array;
  dv: DataView;
  /** Start of the nlmsghdr. */
  off: number;
  /** nlmsg_len. */
  len: number;
  type: number;
  flags: number;
  seq: number;
  pid: number;
}

/** Splits a datagram into messages. Throws NetlinkDecodeError on a length
 * that does not fit: the kernel never sends one, so it means corruption. */
export function splitMessages(buf: Uint8Array, off: number, len: number): MessageView[] {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const out: MessageView[] = [];
  const end = off + len;
  let p = off;
  while (p < end) {
    if (end - p < NLMSG_HDRLEN) throw new NetlinkDecodeError(`truncated netlink header at ${p - off}`);
    const mlen = dv.getUint32(p + NLMSG_LEN_OFF, true);
    if (mlen < NLMSG_HDRLEN || mlen > end - p) throw new NetlinkDecodeError(`bad nlmsg_len ${mlen} at ${p - off}`);
    out.push({
      buf, dv, off: p, len: mlen,
      type: dv.getUint16(p + NLMSG_TYPE_OFF, true),
      flags: dv.getUint16(p + NLMSG_FLAGS_OFF, true),
      seq: dv.getUint32(p + NLMSG_SEQ_OFF, true),
      pid: dv.getUint32(p + NLMSG_PID_OFF, true),
    });
    p += align4(mlen);
  }
  return out;
}

/** Iterates attributes in buf[off, end) without allocating per attribute:
 * `while (it.next()) { it.type; it.dataOff; it.dataLen }`. A malformed
 * attribute stops the walk and sets `error`. */
export class AttrIterator {
  buf: Uint8Array;
  dv: DataView;
  private pos: number;
  private end: number;
  type = 0;
  nested = false;
  dataOff = 0;
  dataLen = 0;
  error: string | null = null;

  constructor(buf: Uint8Array, off: number, end: number) {
    this.buf = buf;
    this.dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.pos = off;
    this.end = end;
  }

  reset(buf: Uint8Array, off: number, end: number): this {
    if (buf !== this.buf) {
      this.buf = buf;
      this.dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    }
    this.pos = off;
    this.end = end;
    this.error = null;
    return this;
  }

  next(): boolean {
    if (this.end - this.pos < NLA_HDRLEN) {
      if (this.end - this.pos > 0 && this.error === null) this.error = `trailing ${this.end - this.pos} bytes`;
      return false;
    }
    const len = this.dv.getUint16(this.pos, true);
    if (len < NLA_HDRLEN || len > this.end - this.pos) {
      this.error = `bad nla_len ${len}`;
      return false;
    }
    const rawType = this.dv.getUint16(this.pos + 2, true);
    this.type = rawType & NLA_TYPE_MASK;
    this.nested = (rawType & NLA_F_NESTED) !== 0;
    this.dataOff = this.pos + NLA_HDRLEN;
    this.dataLen = len - NLA_HDRLEN;
    this.pos += align4(len);
    if (this.pos > this.end) this.pos = this.end;
    return true;
  }

  u8(): number {
    return this.dataLen >= 1 ? this.buf[this.dataOff] : 0;
  }
  u16(): number {
    return this.dataLen >= 2 ? this.dv.getUint16(this.dataOff, true) : 0;
  }
  u32(): number {
    return this.dataLen >= 4 ? this.dv.getUint32(this.dataOff, true) : 0;
  }
  bytes(): Uint8Array {
    return this.buf.slice(this.dataOff, this.dataOff + this.dataLen);
  }
  string(): string {
    let n = this.dataLen;
    while (n > 0 && this.buf[this.dataOff + n - 1] === 0) n--;
    return new TextDecoder().decode(this.buf.subarray(this.dataOff, this.dataOff + n));
  }
}
