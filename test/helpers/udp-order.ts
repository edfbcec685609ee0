// Numbered UDP datagrams in several flows, for the ordering tests, run inside namespaces:
//   node udp-order.js serve PORT → prints {"received":…,"reordered":…,"flows":…} once nothing arrived for a while
//   node udp-order.js send ADDR PORT FLOWS COUNT SIZE → COUNT datagrams of SIZE bytes, the flows (source
//     ports) in turn, RUN datagrams each (runs that UDP GRO can glue, between other flows' runs), each
//     datagram carrying its flow's next number; prints {"sent":…}
// A datagram whose number is below the last one of its flow arrived out of
// order; lost ones are not counted against anything.
import { createSocket, type Socket } from 'node:dgram';

const TIMEOUT_MS = 60_000;
const QUIET_MS = 1500;
const BURST = 64;
const RUN = 4;

const [mode, ...args] = process.argv.slice(2);
setTimeout(() => {
  process.stderr.write('udp-order: timed out\n');
  process.exit(3);
}, TIMEOUT_MS).unref();

if (mode === 'serve') {
  const port = Number(args[0]);
  const sock = createSocket({ type: 'udp6', recvBufferSize: 8 << 20 });
  const last = new Map<number, number>();
  let received = 0;
  let reordered = 0;
  let quiet: NodeJS.Timeout | null = null;
  const finish = (): void => {
    process.stdout.write(JSON.stringify({ received, reordered, flows: last.size }) + '\n');
    sock.close();
  };
  sock.on('message', (msg, rinfo) => {
    if (msg.length < 4) return;
    received++;
    const n = msg.readUInt32BE(0);
    const before = last.get(rinfo.port);
    if (before !== undefined && n < before) reordered++;
    else last.set(rinfo.port, n);
    if (quiet) clearTimeout(quiet);
    quiet = setTimeout(finish, QUIET_MS);
  });
  sock.bind(port, () => process.stdout.write('listening\n'));
} else if (mode === 'send') {
  const [addr, portText, flowsText, countText, sizeText] = args;
  const [port, flows, count, size] = [portText, flowsText, countText, sizeText].map(Number);
  const socks: Socket[] = Array.from({ length: flows }, () => createSocket('udp6'));
  const next = new Array<number>(flows).fill(0);
  let sent = 0;
  const burst = (): void => {
    for (let k = 0; k < BURST && sent < count; k++, sent++) {
      const f = Math.floor(sent / RUN) % flows;
      const msg = Buffer.alloc(size);
      msg.writeUInt32BE(next[f]++, 0);
      socks[f].send(msg, port, addr);
    }
    if (sent < count) setImmediate(burst);
    else setTimeout(() => {
      for (const s of socks) s.close();
      process.stdout.write(JSON.stringify({ sent }) + '\n');
    }, 200);
  };
  burst();
} else {
  process.stderr.write('usage: udp-order serve PORT | send ADDR PORT FLOWS COUNT SIZE\n');
  process.exit(2);
}
