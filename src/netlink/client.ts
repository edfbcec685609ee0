// rtnetlink request/response client: sequence numbers matched to replies,
// ACKs and extended ACKs, multipart dumps, timeouts, one request (or one batch)
// in flight. A batch sends many ACK-only requests per sendmsg (the kernel
// processes every message of a datagram and ACKs each, errors included) and
// maps each ACK back to its request by sequence number.
import { native } from '../sys/native.js';
import { openNetlink } from '../sys/netlink-socket.js';
import { Watcher } from '../sys/watch.js';
import {
  NLMSGERR_ATTR_MSG, NLMSGERR_ATTR_OFFS, NLMSG_DONE, NLMSG_ERROR, NLMSG_HDRLEN, NLMSG_NOOP, NLMSG_OVERRUN,
  NLM_F_ACK, NLM_F_ACK_TLVS, NLM_F_CAPPED, NLM_F_DUMP, NLM_F_REQUEST,
} from './constants.js';
import { AttrIterator, NLMSG_FLAGS_OFF, NLMSG_SEQ_OFF, align4, splitMessages, type MessageView } from './message.js';
import { NetlinkError, NetlinkTimeoutError } from './errors.js';

const RECV_BUFFER = 256 * 1024;
export const DEFAULT_TIMEOUT_MS = 5000;

export interface RequestOptions {
  /** Set NLM_F_DUMP and collect every part until NLMSG_DONE. */
  dump?: boolean;
  /** Name of the operation for errors, e.g. "addr add 2001:db8::1/64 dev sixtun0". */
  operation: string;
  timeoutMs?: number;
}

export interface BatchItem {
  msg: Uint8Array;
  /** Name of the operation for its error, e.g. "route add 2001:db8:100::/64 dev 5". */
  operation: string;
}

/** Messages and bytes per sendmsg of a batch: its ACKs (with echoed requests
 * on errors) fit the receive buffer many times over. */
const BATCH_MESSAGES = 512;
const BATCH_BYTES = 64 * 1024;

interface BatchState {
  items: BatchItem[];
  results: Array<NetlinkError | null>;
  /** Items sent so far. */
  sent: number;
  chunkStart: number;
  chunkSeq: number;
  chunkCount: number;
  acked: number;
}

interface Pending {
  msg: Uint8Array;
  batch: BatchState | null;
  opts: RequestOptions;
  seq: number;
  replies: MessageView[];
  resolve: (replies: MessageView[]) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout | null;
}

/** Decoded NLMSG_ERROR payload: errno (0 = ACK) and the extended ACK. */
export interface ErrorPayload {
  errno: number;
  message: string | null;
  offset: number | null;
}

/** Reads an NLMSG_ERROR or NLMSG_DONE payload. DONE carries just the int
 * error; ERROR adds the echoed request (whole, or only its header when
 * NLM_F_CAPPED) and then extended-ack TLVs when NLM_F_ACK_TLVS is set. */
export function decodeErrorPayload(m: MessageView): ErrorPayload {
  const body = m.off + NLMSG_HDRLEN;
  const end = m.off + m.len;
  if (end - body < 4) return { errno: 0, message: null, offset: null };
  const errno = -m.dv.getInt32(body, true) | 0;
  let message: string | null = null;
  let offset: number | null = null;
  if (m.flags & NLM_F_ACK_TLVS) {
    let tlvs = body + 4;
    if (m.type === NLMSG_ERROR) {
      if (end - tlvs < NLMSG_HDRLEN) return { errno, message, offset };
      const echoedLen = m.dv.getUint32(tlvs, true);
      tlvs += m.flags & NLM_F_CAPPED ? NLMSG_HDRLEN : align4(echoedLen);
    }
    if (tlvs <= end) {
      const it = new AttrIterator(m.buf, tlvs, end);
      while (it.next()) {
        if (it.type === NLMSGERR_ATTR_MSG) message = it.string();
        else if (it.type === NLMSGERR_ATTR_OFFS) offset = it.u32();
      }
    }
  }
  return { errno, message, offset };
}

/** Sets what every request carries: REQUEST|ACK (|DUMP) and its sequence number. */
export function prepareRequest(msg: Uint8Array, seq: number, dump: boolean): void {
  const dv = new DataView(msg.buffer, msg.byteOffset, msg.byteLength);
  const flags = NLM_F_REQUEST | NLM_F_ACK | (dump ? NLM_F_DUMP : 0) | dv.getUint16(NLMSG_FLAGS_OFF, true);
  dv.setUint16(NLMSG_FLAGS_OFF, flags, true);
  dv.setUint32(NLMSG_SEQ_OFF, seq, true);
}

export class NetlinkClient {
  private readonly fd: number;
  private readonly watcher: Watcher;
  private readonly rx = new Uint8Array(RECV_BUFFER);
  private readonly rxInfo = new Int32Array(4);
  private readonly queue: Pending[] = [];
  private seq: number;
  private closed = false;

  constructor() {
    this.fd = openNetlink({ receiveBufferBytes: 1 << 20 });
    this.seq = (Date.now() & 0x7fffffff) >>> 0;
    this.watcher = new Watcher(this.fd, () => this.onReadable());
  }

  /** Sends msg (a MessageBuilder result) and resolves with the replies: the
   * dump parts, or [] for an ACKed request. Rejects with NetlinkError. */
  request(msg: Uint8Array, opts: RequestOptions): Promise<MessageView[]> {
    if (this.closed) return Promise.reject(new Error(`${opts.operation}: netlink client closed`));
    return new Promise((resolve, reject) => {
      this.queue.push({ msg, batch: null, opts, seq: 0, replies: [], resolve, reject, timer: null });
      if (this.queue.length === 1) this.sendHead();
    });
  }

  /** Sends ACK-only requests (adds, deletes, sets) many to a sendmsg and
   * resolves with one result per item, in order: null for an ACK, else the
   * NetlinkError. Rejects only when the batch as a whole fails (timeout, a
   * closed client, a failed send). */
  batch(items: BatchItem[], timeoutMs = DEFAULT_TIMEOUT_MS): Promise<Array<NetlinkError | null>> {
    if (items.length === 0) return Promise.resolve([]);
    const operation = `batch of ${items.length} (${items[0].operation}, …)`;
    if (this.closed) return Promise.reject(new Error(`${operation}: netlink client closed`));
    return new Promise((resolve, reject) => {
      const batch: BatchState = { items, results: new Array(items.length).fill(null), sent: 0, chunkStart: 0, chunkSeq: 0, chunkCount: 0, acked: 0 };
      this.queue.push({ msg: new Uint8Array(0), batch, opts: { operation, timeoutMs }, seq: 0, replies: [], resolve: () => resolve(batch.results), reject, timer: null });
      if (this.queue.length === 1) this.sendHead();
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.watcher.stop();
    native.close(this.fd);
    for (const p of this.queue.splice(0)) {
      if (p.timer) clearTimeout(p.timer);
      p.reject(new Error(`${p.opts.operation}: netlink client closed`));
    }
  }

  private sendHead(): void {
    const p = this.queue[0];
    if (!p) return;
    if (p.batch) {
      this.sendChunk(p, p.batch);
      return;
    }
    this.seq = (this.seq + 1) >>> 0;
    p.seq = this.seq;
    prepareRequest(p.msg, p.seq, p.opts.dump === true);
    const timeoutMs = p.opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    p.timer = setTimeout(() => this.finish(p, new NetlinkTimeoutError(p.opts.operation, timeoutMs)), timeoutMs);
    try {
      const sent = native.sendTo(this.fd, p.msg, 0, p.msg.length);
      if (sent !== p.msg.length) throw new Error(`${p.opts.operation}: short netlink send (${sent} of ${p.msg.length})`);
    } catch (e) {
      this.finish(p, e as Error);
    }
  }

  /** The next messages of a batch, in one datagram. */
  private sendChunk(p: Pending, b: BatchState): void {
    let count = 0;
    let bytes = 0;
    while (b.sent + count < b.items.length && count < BATCH_MESSAGES) {
      const len = b.items[b.sent + count].msg.length;
      if (count > 0 && bytes + len > BATCH_BYTES) break;
      bytes += len;
      count++;
    }
    const datagram = new Uint8Array(bytes);
    b.chunkStart = b.sent;
    b.chunkSeq = (this.seq + 1) >>> 0;
    b.chunkCount = count;
    b.acked = 0;
    let off = 0;
    for (let i = 0; i < count; i++) {
      const msg = b.items[b.sent + i].msg;
      this.seq = (this.seq + 1) >>> 0;
      prepareRequest(msg, this.seq, false);
      datagram.set(msg, off);
      off += msg.length;
    }
    b.sent += count;
    const timeoutMs = p.opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (p.timer) clearTimeout(p.timer);
    p.timer = setTimeout(() => this.finish(p, new NetlinkTimeoutError(p.opts.operation, timeoutMs)), timeoutMs);
    try {
      const sent = native.sendTo(this.fd, datagram, 0, datagram.length);
      if (sent !== datagram.length) throw new Error(`${p.opts.operation}: short netlink send (${sent} of ${datagram.length})`);
    } catch (e) {
      this.finish(p, e as Error);
    }
  }

  /** One ACK of the batch at the head; the next chunk when all are in. */
  private onBatchMessage(p: Pending, b: BatchState, m: MessageView): void {
    const i = (m.seq - b.chunkSeq) >>> 0;
    if (i >= b.chunkCount || m.type !== NLMSG_ERROR) return;
    const e = decodeErrorPayload(m);
    const item = b.chunkStart + i;
    b.results[item] = e.errno === 0 ? null : new NetlinkError(e.errno, b.items[item].operation, e.message, e.offset);
    if (++b.acked < b.chunkCount) return;
    if (b.sent < b.items.length) this.sendChunk(p, b);
    else this.finish(p, null);
  }

  private finish(p: Pending, err: Error | null): void {
    if (this.queue[0] !== p) return;
    this.queue.shift();
    if (p.timer) clearTimeout(p.timer);
    if (err) p.reject(err);
    else p.resolve(p.replies);
    if (!this.closed) this.sendHead();
  }

  private onReadable(): void {
    for (;;) {
      if (this.closed) return;
      const n = native.recvMsg(this.fd, this.rx, null, null, 0, this.rxInfo);
      if (n < 0) return;
      let messages: MessageView[];
      try {
        messages = splitMessages(this.rx, 0, n);
      } catch (e) {
        const head = this.queue[0];
        if (head) this.finish(head, e as Error);
        continue;
      }
      for (const m of messages) this.onMessage(m);
    }
  }

  private onMessage(m: MessageView): void {
    const p = this.queue[0];
    if (p?.batch) {
      if (m.type === NLMSG_OVERRUN) this.finish(p, new NetlinkError(105 /* ENOBUFS */, p.opts.operation, 'netlink overrun'));
      else this.onBatchMessage(p, p.batch, m);
      return;
    }
    // Stale answers (to a request that timed out) and notifications are not ours.
    if (!p || m.seq !== p.seq) return;
    if (m.type === NLMSG_NOOP) return;
    if (m.type === NLMSG_OVERRUN) {
      this.finish(p, new NetlinkError(105 /* ENOBUFS */, p.opts.operation, 'netlink overrun'));
      return;
    }
    if (m.type === NLMSG_ERROR || m.type === NLMSG_DONE) {
      const e = decodeErrorPayload(m);
      if (e.errno !== 0) this.finish(p, new NetlinkError(e.errno, p.opts.operation, e.message, e.offset));
      // A dump ends at DONE; its ACK (if any) follows and is then stale.
      else if (m.type === NLMSG_DONE || !p.opts.dump) this.finish(p, null);
      return;
    }
    // Copy: the receive buffer is reused for the next datagram.
    const copy = m.buf.slice(m.off, m.off + m.len);
    // A single reply (RTM_GETROUTE, RTM_GETLINK) is followed by its ACK, which finishes it.
    p.replies.push({ ...m, buf: copy, dv: new DataView(copy.buffer), off: 0 });
  }
}
