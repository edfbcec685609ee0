// `sixtun trace`: attach to a running daemon and print, or save as pcapng,
// every packet it handles with its verdict.
import { usageError } from './args.js';
import { parseArgs } from 'node:util';
import { connect } from 'node:net';
import { closeSync, openSync, writeSync } from 'node:fs';
import { BlockSplitter, PcapngReader, BT_EPB } from '../wire/pcapng.js';
import { describePacket } from '../trace/describe.js';
import { resolveSocket, UsageError, SOCKET_OPTION_HELP } from './socket.js';

export const TRACE_HELP = `Usage: sixtun trace [filters] [-w FILE|-] [--socket PATH]

Shows every packet the running daemon handles, on both sides of the tunnel
and on the NDP interface, with its verdict (forwarded, or dropped: reason).

Filters (all given must match):
  --tunnel NAME       one tunnel
  --remote IPV4       the tunnel's client IPv4
  --host ADDR[/LEN]   inner source or destination in this IPv6 prefix
  --proto P           icmpv6, tcp, udp or ndp
  --dropped           only dropped packets
  --direction D       tx (towards the wire) or rx (from the wire)

Output:
  -w FILE             write pcapng to FILE ("-" for standard output)
  --max-size MB       with -w FILE: start FILE.1, FILE.2 … after MB megabytes
  --snaplen N         bytes kept per packet (default 65535)
  -c, --count N       stop after N packets
  --socket PATH       ${SOCKET_OPTION_HELP}
  -h, --help          this text

Without -w, one line per packet is printed, tcpdump style.
`;

/** pcapng files with rotation: each new file repeats the section and interface headers. */
class PcapngFiles {
  private fd: number;
  private size = 0;
  private index = 0;
  private readonly header: Uint8Array[] = [];

  constructor(private readonly path: string, private readonly maxBytes: number) {
    this.fd = path === '-' ? 1 : openSync(path, 'w');
  }

  write(block: Uint8Array): void {
    const type = new DataView(block.buffer, block.byteOffset).getUint32(0, true);
    if (type !== BT_EPB) this.header.push(block.slice());
    else if (this.maxBytes > 0 && this.path !== '-' && this.size + block.length > this.maxBytes && this.size > 0) this.rotate();
    writeSync(this.fd, block);
    this.size += block.length;
  }

  private rotate(): void {
    closeSync(this.fd);
    this.index++;
    this.fd = openSync(`${this.path}.${this.index}`, 'w');
    this.size = 0;
    for (const h of this.header) {
      writeSync(this.fd, h);
      this.size += h.length;
    }
  }

  close(): void {
    if (this.path !== '-') closeSync(this.fd);
  }
}

export async function trace(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        tunnel: { type: 'string' }, remote: { type: 'string' }, host: { type: 'string' }, proto: { type: 'string' },
        dropped: { type: 'boolean' }, direction: { type: 'string' }, write: { type: 'string', short: 'w' },
        'max-size': { type: 'string' }, snaplen: { type: 'string' }, count: { type: 'string', short: 'c' },
        socket: { type: 'string' }, help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (e) {
    process.stderr.write(`sixtun trace: ${usageError(e)}\n\n${TRACE_HELP}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(TRACE_HELP);
    return 0;
  }
  const filter = {
    tunnel: values.tunnel, remote: values.remote, host: values.host, proto: values.proto,
    dropped: values.dropped, direction: values.direction,
  };
  const limit = values.count !== undefined ? Number(values.count) : Infinity;
  const files = values.write !== undefined ? new PcapngFiles(values.write, Number(values['max-size'] ?? 0) * 1_000_000) : null;
  const text = files === null ? new PcapngReader() : null;
  const splitter = new BlockSplitter();
  let path: string;
  try {
    path = await resolveSocket(values.socket);
  } catch (e) {
    process.stderr.write(`sixtun trace: ${(e as Error).message}\n`);
    return e instanceof UsageError ? 2 : 1;
  }
  const destination = values.write === undefined ? null : values.write === '-' ? 'standard output' : values.write;
  return new Promise<number>((resolve) => {
    const sock = connect(path);
    let header = '';
    let streaming = false;
    let seen = 0;
    let written = 0;
    let code = 0;
    const finish = (): void => {
      files?.close();
      if (streaming) {
        process.stderr.write(`sixtun trace: ${seen} packet${seen === 1 ? '' : 's'} seen, ${written} ${destination ? `written to ${destination}` : 'shown'}\n`);
      }
      resolve(code);
    };
    sock.on('error', (e: NodeJS.ErrnoException) => {
      process.stderr.write(`sixtun trace: cannot reach sixtun at ${path}: ${e.code ?? e.message}\n`);
      code = 1;
    });
    sock.on('close', finish);
    sock.on('connect', () => sock.write(JSON.stringify({ cmd: 'trace', filter, snaplen: values.snaplen ? Number(values.snaplen) : undefined }) + '\n'));
    for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => sock.destroy());
    sock.on('data', (chunk: Buffer) => {
      let data: Uint8Array = chunk;
      if (!streaming) {
        header += chunk.toString('latin1');
        const nl = header.indexOf('\n');
        if (nl < 0) return;
        const reply = JSON.parse(header.slice(0, nl)) as { ok: boolean; error?: string };
        if (!reply.ok) {
          process.stderr.write(`sixtun trace: ${reply.error}\n`);
          code = 2;
          sock.destroy();
          return;
        }
        streaming = true;
        const what = Object.entries(filter).filter(([, v]) => v !== undefined).map(([k, v]) => (v === true ? `--${k}` : `--${k} ${v}`)).join(' ');
        process.stderr.write(`sixtun trace: listening on ${path}${what ? ` (${what})` : ''}${destination ? `, writing pcapng to ${destination}` : ''}; Ctrl-C to stop\n`);
        data = Buffer.from(header.slice(nl + 1), 'latin1');
      }
      for (const block of splitter.push(data)) {
        const isPacket = new DataView(block.buffer, block.byteOffset).getUint32(0, true) === BT_EPB;
        if (isPacket) seen++;
        if (isPacket && written >= limit) continue;
        try {
          // Each block goes out as it arrives (writeSync, no buffering): a pipe into tshark is live.
          if (files) files.write(block);
          else for (const p of text!.push(block)) process.stdout.write(describePacket(p) + '\n');
        } catch (e) {
          // `sixtun trace -w - | head -c 100`: the reader left; stop quietly.
          if ((e as NodeJS.ErrnoException).code !== 'EPIPE') throw e;
          sock.destroy();
          return;
        }
        if (isPacket && ++written >= limit) {
          sock.destroy();
          return;
        }
      }
    });
  });
}
