// Seeded UDP datagrams in bursts, for the UDP GRO tests, run inside namespaces:
//   node udp-burst.js serve PORT COUNT → prints {"sha256":…,"count":…} over the datagrams in arrival order
//   node udp-burst.js send ADDR PORT COUNT SIZE BURST → sends COUNT datagrams of SIZE bytes, BURST at a
//     time with a pause between bursts, prints the same over what it sent
// Equal digests: every datagram arrived once, unchanged and in order.
import { createSocket } from 'node:dgram';
import { createHash } from 'node:crypto';

const TIMEOUT_MS = 60_000;
const PAUSE_MS = 10;

function datagram(k: number, size: number): Buffer {
  const out = Buffer.alloc(size);
  let s = (k * 2654435761) >>> 0;
  for (let i = 0; i < size; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s >>> 24;
  }
  return out;
}

const [mode, ...args] = process.argv.slice(2);
setTimeout(() => {
  process.stderr.write('udp-burst: timed out\n');
  process.exit(3);
}, TIMEOUT_MS).unref();

if (mode === 'serve') {
  const [port, count] = args.map(Number);
  const sock = createSocket({ type: 'udp6', recvBufferSize: 4 << 20 });
  const h = createHash('sha256');
  let got = 0;
  sock.on('message', (m) => {
    h.update(m);
    if (++got === count) {
      process.stdout.write(JSON.stringify({ sha256: h.digest('hex'), count: got }) + '\n');
      sock.close();
    }
  });
  sock.bind(port, '::', () => process.stderr.write('listening\n'));
} else if (mode === 'send') {
  const [addr, portText, countText, sizeText, burstText] = args;
  const [port, count, size, burst] = [portText, countText, sizeText, burstText].map(Number);
  const sock = createSocket('udp6');
  const h = createHash('sha256');
  let k = 0;
  const next = (): void => {
    let pending = 0;
    for (let b = 0; b < burst && k < count; b++, k++) {
      const d = datagram(k, size);
      h.update(d);
      pending++;
      sock.send(d, port, addr, (e) => {
        if (e) {
          process.stderr.write(`udp-burst: ${e.message}\n`);
          process.exit(2);
        }
        if (--pending > 0) return;
        if (k < count) setTimeout(next, PAUSE_MS);
        else {
          process.stdout.write(JSON.stringify({ sha256: h.digest('hex'), count: k }) + '\n');
          sock.close();
        }
      });
    }
  };
  next();
} else {
  process.stderr.write('usage: udp-burst serve PORT COUNT | send ADDR PORT COUNT SIZE BURST\n');
  process.exit(2);
}
