// A deterministic TCP transfer for end-to-end tests, run inside namespaces:
//   node tcp-transfer.js serve PORT BYTES   → listens, reads BYTES, prints {"sha256":…,"bytes":…}
//   node tcp-transfer.js send ADDR PORT BYTES SEED → sends BYTES of seeded data, prints the same
// The two digests must match for the transfer to be byte-exact.
import { createServer, connect } from 'node:net';
import { createHash } from 'node:crypto';

function block(seed: number, size: number): Buffer {
  const out = Buffer.alloc(size);
  let s = seed >>> 0;
  for (let i = 0; i < size; i += 4) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out.writeUInt32LE(s, i);
  }
  return out;
}

const [mode, ...args] = process.argv.slice(2);
const TIMEOUT_MS = 120_000;
setTimeout(() => {
  process.stderr.write('tcp-transfer: timed out\n');
  process.exit(3);
}, TIMEOUT_MS).unref();

if (mode === 'serve') {
  const [port, bytes] = args.map(Number);
  const server = createServer((sock) => {
    const h = createHash('sha256');
    let got = 0;
    sock.on('data', (d: Buffer) => {
      const take = Math.min(d.length, bytes - got);
      h.update(d.subarray(0, take));
      got += take;
      if (got >= bytes) {
        process.stdout.write(JSON.stringify({ sha256: h.digest('hex'), bytes: got }) + '\n');
        sock.end();
        server.close();
      }
    });
  });
  server.listen(port, '::', () => process.stderr.write('listening\n'));
} else if (mode === 'send') {
  const [addr, portText, bytesText, seedText] = args;
  const bytes = Number(bytesText);
  const chunk = 64 * 1024;
  const h = createHash('sha256');
  const sock = connect({ host: addr, port: Number(portText) }, () => {
    let sent = 0;
    let seed = Number(seedText);
    const pump = (): void => {
      while (sent < bytes) {
        const n = Math.min(chunk, bytes - sent);
        const b = block(seed++, chunk).subarray(0, n);
        h.update(b);
        sent += n;
        if (!sock.write(b)) {
          sock.once('drain', pump);
          return;
        }
      }
      sock.end();
      process.stdout.write(JSON.stringify({ sha256: h.digest('hex'), bytes: sent }) + '\n');
    };
    pump();
  });
  sock.on('error', (e) => {
    process.stderr.write(`tcp-transfer: ${e.message}\n`);
    process.exit(2);
  });
} else {
  process.stderr.write('usage: tcp-transfer serve PORT BYTES | send ADDR PORT BYTES SEED\n');
  process.exit(2);
}
