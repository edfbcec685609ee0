// The 6in4 forwarder a Node.js user would write first, as the baseline for
// "naive Node": npm raw-socket for protocol 41 (the kernel builds the outer
// IPv4 header) and fs.read/fs.write on a blocking TUN fd through libuv's
// threadpool, one packet per call and one Buffer per packet. Only the TUN
// open uses sixtun's addon (Node cannot issue TUNSETIFF).
//   node naive-forwarder.js TUN LOCAL_IPV4 REMOTE_IPV4
import { createRequire } from 'node:module';
import { read, write } from 'node:fs';
import { openTun } from '../../src/sys/tun.js';

interface RawSocket {
  on(event: 'message', cb: (buf: Buffer, source: string) => void): void;
  on(event: 'error', cb: (e: Error) => void): void;
  send(buf: Buffer, offset: number, length: number, address: string, before: null, after: (e: Error | null) => void): void;
}
interface RawSocketModule { createSocket(opts: { protocol: number; bufferSize: number }): RawSocket }

const [name, , remote] = process.argv.slice(2);
const raw = createRequire(import.meta.url)('raw-socket') as RawSocketModule;
const tun = openTun({ name, blocking: true });
const sock = raw.createSocket({ protocol: 41, bufferSize: 65536 });
sock.on('error', (e) => process.stderr.write(`raw socket: ${e.message}\n`));
sock.on('message', (buf, source) => {
  if (source !== remote || buf.length < 40) return;
  const ihl = (buf[0] & 0x0f) * 4;
  write(tun.fd, buf, ihl, buf.length - ihl, null, () => {});
});

function readNext(): void {
  const buf = Buffer.allocUnsafe(2048);
  read(tun.fd, buf, 0, buf.length, null, (err, n) => {
    if (!err && n > 0) sock.send(buf, 0, n, remote, null, () => {});
    readNext();
  });
}
readNext();
for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => process.exit(0));
process.stdout.write('ready\n');
