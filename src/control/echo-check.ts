// Does a new tunnel endpoint answer ICMP echo? Tunnel Broker asks that of an
// address before it takes it for a tunnel: one that does not answer is a
// typo, or someone else's, and a tunnel pointed there would send its client's
// traffic to a stranger. Echo Requests (RFC 792) go from the server's tunnel
// address; a reply counts only from that address, with our identifier,
// sequence number and random payload.
import { randomBytes } from 'node:crypto';
import { native } from '../sys/native.js';
import { AF_INET, SOCK_NONBLOCK, SOCK_RAW } from '../sys/constants.js';
import { sockaddrIn } from '../sys/sockaddr.js';
import { Watcher } from '../sys/watch.js';
import { checksum } from '../wire/checksum.js';
import { parseIpv4Address, readU32 } from '../wire/ipv4.js';

const IPPROTO_ICMP = 1;
/** linux/icmp.h: a bit per ICMP type the raw socket is not to receive. */
const SOL_RAW = 255;
const ICMP_FILTER = 1;
const ICMP_ECHO_REPLY = 0;
const ICMP_ECHO = 8;
// RFC 792 echo message: type, code, checksum, identifier, sequence number, data.
const ECHO_TYPE = 0;
const ECHO_CHECKSUM = 2;
const ECHO_ID = 4;
const ECHO_SEQ = 6;
const ECHO_DATA = 8;
const TOKEN_BYTES = 16;
// IPv4 header (RFC 791), which a raw socket hands over with the message.
const IPV4_SOURCE = 12;

interface Waiting {
  ip: number;
  token: Uint8Array;
  answered: () => void;
}

export class EchoCheck {
  private readonly fd: number;
  private readonly watcher: Watcher;
  private readonly id = randomBytes(2).readUInt16BE(0);
  private seq = 0;
  private readonly waiting = new Map<number, Waiting>();
  private readonly rx = new Uint8Array(2048);
  private readonly info = new Int32Array(4);
  private closed = false;

  /** Opens the raw ICMP socket (CAP_NET_RAW: before any privilege drop). */
  constructor(localIpv4: string) {
    this.fd = native.socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK, IPPROTO_ICMP);
    try {
      // Echo replies only: every other ICMP message to the host stays out of this thread.
      native.setsockopt(this.fd, SOL_RAW, ICMP_FILTER, ~(1 << ICMP_ECHO_REPLY));
      native.bind(this.fd, sockaddrIn(parseIpv4Address(localIpv4)));
    } catch (e) {
      native.close(this.fd);
      throw e;
    }
    this.watcher = new Watcher(this.fd, () => this.drain());
  }

  /** Whether ip answers one of `tries` Echo Requests sent intervalMs apart,
   * within intervalMs of the last. */
  answers(ip: string, tries = 3, intervalMs = 1000): Promise<boolean> {
    const addr = parseIpv4Address(ip);
    return new Promise((resolve) => {
      const seqs: number[] = [];
      let sent = 0;
      let timer: NodeJS.Timeout | null = null;
      const finish = (ok: boolean): void => {
        if (timer) clearTimeout(timer);
        for (const s of seqs) this.waiting.delete(s);
        resolve(ok);
      };
      const send = (): void => {
        if (this.closed) return finish(false);
        if (sent === tries) return finish(false);
        sent++;
        const seq = this.seq = (this.seq + 1) & 0xffff;
        const token = randomBytes(TOKEN_BYTES);
        seqs.push(seq);
        this.waiting.set(seq, { ip: addr, token, answered: () => finish(true) });
        try {
          native.sendTo(this.fd, echoRequest(this.id, seq, token), 0, ECHO_DATA + TOKEN_BYTES, sockaddrIn(addr));
        } catch {
          // No route, or refused locally: the next try, or no answer.
        }
        timer = setTimeout(send, intervalMs);
      };
      send();
    });
  }

  close(): void {
    this.closed = true;
    this.watcher.stop();
    native.close(this.fd);
    for (const w of this.waiting.values()) w.answered = () => {};
    this.waiting.clear();
  }

  private drain(): void {
    for (;;) {
      let n: number;
      try {
        n = native.recvMsg(this.fd, this.rx, null, null, 0, this.info);
      } catch {
        return;
      }
      if (n < 0) return;
      const icmp = (this.rx[0] & 0x0f) * 4;
      if (n < icmp + ECHO_DATA + TOKEN_BYTES || this.rx[icmp + ECHO_TYPE] !== ICMP_ECHO_REPLY) continue;
      if (((this.rx[icmp + ECHO_ID] << 8) | this.rx[icmp + ECHO_ID + 1]) !== this.id) continue;
      const w = this.waiting.get((this.rx[icmp + ECHO_SEQ] << 8) | this.rx[icmp + ECHO_SEQ + 1]);
      if (w === undefined || readU32(this.rx, IPV4_SOURCE) !== w.ip) continue;
      if (w.token.every((b, i) => this.rx[icmp + ECHO_DATA + i] === b)) w.answered();
    }
  }
}

/** An Echo Request with identifier, sequence number and token as its data. */
export function echoRequest(id: number, seq: number, token: Uint8Array): Uint8Array {
  const m = new Uint8Array(ECHO_DATA + token.length);
  m[ECHO_TYPE] = ICMP_ECHO;
  m[ECHO_ID] = id >> 8;
  m[ECHO_ID + 1] = id & 0xff;
  m[ECHO_SEQ] = seq >> 8;
  m[ECHO_SEQ + 1] = seq & 0xff;
  m.set(token, ECHO_DATA);
  const sum = checksum(m, 0, m.length);
  m[ECHO_CHECKSUM] = sum >> 8;
  m[ECHO_CHECKSUM + 1] = sum & 0xff;
  return m;
}
