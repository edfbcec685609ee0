// ICMPv6 echo for the lab, so that the demo needs no `ping` (iputils) on a
// fresh machine. Run inside the sending namespace:
//   node echo6.js ADDR COUNT [INTERVAL_MS [TIMEOUT_MS [PAYLOAD_BYTES]]]
// prints {"sent":N,"received":N,"rttMs":[...]} (replies matched by identifier
// and sequence, RFC 4443 §4.1/§4.2), also when stopped early with SIGTERM
// (a request not yet answered then counts as lost). The kernel fills the ICMPv6 checksum of a
// raw ICMPv6 socket itself (RFC 3542 §3.1).
import { native } from '../sys/native.js';
import { AF_INET6, IPPROTO_ICMPV6, SOCK_NONBLOCK, SOCK_RAW } from '../sys/constants.js';
import { sockaddrIn6 } from '../sys/sockaddr.js';
import { Watcher } from '../sys/watch.js';
import { parseIp } from '../wire/address.js';
import { ICMPV6_ECHO_REPLY, ICMPV6_ECHO_REQUEST, ICMPV6_TYPE } from '../wire/icmpv6.js';

/** RFC 4443 §4.1: identifier and sequence number follow the 4-byte ICMPv6 header. */
const ECHO_ID = 4;
const ECHO_SEQ = 6;
const ECHO_DATA = 8;

interface EchoResult {
  sent: number;
  received: number;
  rttMs: number[];
}

function echo6(addr: string, count: number, intervalMs: number, timeoutMs: number, payload: number): Promise<EchoResult> {
  const dest = parseIp(addr);
  if (dest.family !== 6) throw new Error(`echo6: not an IPv6 address: ${addr}`);
  const fd = native.socket(AF_INET6, SOCK_RAW | SOCK_NONBLOCK, IPPROTO_ICMPV6);
  const to = sockaddrIn6(dest.bytes);
  const id = process.pid & 0xffff;
  const request = new Uint8Array(ECHO_DATA + payload);
  request[ICMPV6_TYPE] = ICMPV6_ECHO_REQUEST;
  request[ECHO_ID] = id >> 8;
  request[ECHO_ID + 1] = id & 0xff;
  for (let i = ECHO_DATA; i < request.length; i++) request[i] = i & 0xff;
  const rx = new Uint8Array(65536);
  const info = new Int32Array(4);
  const sentAt: number[] = [];
  const result: EchoResult = { sent: 0, received: 0, rttMs: [] };
  return new Promise((resolve) => {
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      clearInterval(sender);
      clearTimeout(deadline);
      watcher.stop();
      native.close(fd);
      resolve(result);
    };
    const watcher = new Watcher(fd, () => {
      for (;;) {
        const n = native.recvMsg(fd, rx, null, null, 0, info);
        if (n < 0) break;
        if (n < ECHO_DATA || rx[ICMPV6_TYPE] !== ICMPV6_ECHO_REPLY) continue;
        if (((rx[ECHO_ID] << 8) | rx[ECHO_ID + 1]) !== id) continue;
        const seq = (rx[ECHO_SEQ] << 8) | rx[ECHO_SEQ + 1];
        if (seq >= sentAt.length || Number.isNaN(sentAt[seq])) continue;
        result.rttMs.push(performance.now() - sentAt[seq]);
        sentAt[seq] = NaN;
        result.received++;
      }
      if (result.received === count) finish();
    });
    const send = (): void => {
      if (result.sent === count) return;
      const seq = result.sent;
      request[ECHO_SEQ] = seq >> 8;
      request[ECHO_SEQ + 1] = seq & 0xff;
      sentAt.push(performance.now());
      result.sent++;
      try {
        native.sendTo(fd, request, 0, request.length, to);
      } catch {
        // No route or a full queue: the request is lost, as ping counts it.
      }
    };
    const sender = setInterval(send, intervalMs);
    // Stopped early (a load that ends when its work does): report what was seen.
    process.once('SIGTERM', finish);
    send();
    // The last request gets timeoutMs to be answered.
    const deadline = setTimeout(finish, (count - 1) * intervalMs + timeoutMs);
  });
}

const [addr, count = '3', interval = '200', timeout = '2000', size = '56'] = process.argv.slice(2);
echo6(addr, Number(count), Number(interval), Number(timeout), Number(size)).then(
  (r) => process.stdout.write(JSON.stringify(r) + '\n'),
  (e: Error) => {
    process.stderr.write(`echo6: ${e.message}\n`);
    process.exitCode = 1;
  },
);
