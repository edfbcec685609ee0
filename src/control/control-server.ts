// The control socket: a unix stream socket (mode 0600) speaking JSON lines.
// A client sends one request object per line and reads one reply per line;
// streaming commands (trace) keep writing lines until the client closes.
import { createServer, type Server, type Socket } from 'node:net';
import { chmodSync, mkdirSync, rmSync, existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { connect } from 'node:net';

export interface ControlRequest {
  cmd: string;
  [key: string]: unknown;
}

export type ControlHandler = (req: ControlRequest, conn: Socket) => Promise<unknown> | unknown;

/** Connections at once: a local client opening more cannot exhaust the daemon's descriptors. */
export const MAX_CONTROL_CONNECTIONS = 64;

/** Reply lines: {"ok":true,"result":…} or {"ok":false,"error":"…","code":"…"}. */
export class ControlServer {
  private server: Server | null = null;
  private readonly connections = new Set<Socket>();

  /** requestWithinMs: a connection that has not sent a whole request line by then is closed
   * (one that has may stay as long as its command runs: a trace). */
  constructor(readonly path: string, private readonly handler: ControlHandler, private readonly requestWithinMs = 10_000) {}

  async listen(): Promise<void> {
    mkdirSync(dirname(this.path), { recursive: true, mode: 0o755 });
    if (existsSync(this.path)) {
      // A live daemon answers; a stale socket from a killed one does not.
      if (await isAlive(this.path)) throw Object.assign(new Error(`control socket ${this.path} is in use by a running sixtun`), { code: 'EADDRINUSE' });
      rmSync(this.path, { force: true });
    }
    const server = createServer((conn) => this.serve(conn));
    server.maxConnections = MAX_CONTROL_CONNECTIONS;
    // Created 0600 (no moment in which others could connect), whatever the process umask.
    const umask = process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(this.path, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } finally {
      process.umask(umask);
    }
    chmodSync(this.path, 0o600);
    this.server = server;
  }

  private serve(conn: Socket): void {
    this.connections.add(conn);
    conn.once('close', () => this.connections.delete(conn));
    let buf = '';
    conn.setEncoding('utf8');
    conn.setTimeout(this.requestWithinMs, () => conn.destroy());
    conn.on('error', () => conn.destroy());
    conn.on('data', (chunk: string) => {
      buf += chunk;
      if (buf.length > 1 << 20) {
        conn.end(JSON.stringify({ ok: false, error: 'request too large', code: 'E2BIG' }) + '\n');
        return;
      }
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.trim() === '') continue;
        conn.setTimeout(0);
        void this.answer(line, conn);
      }
    });
  }

  private async answer(line: string, conn: Socket): Promise<void> {
    let req: ControlRequest;
    try {
      req = JSON.parse(line) as ControlRequest;
      if (typeof req !== 'object' || req === null || typeof req.cmd !== 'string') throw new Error('expected {"cmd": "..."}');
    } catch (e) {
      conn.write(JSON.stringify({ ok: false, error: `bad request: ${(e as Error).message}`, code: 'EINVAL' }) + '\n');
      return;
    }
    try {
      const result = await this.handler(req, conn);
      if (result !== undefined && !conn.destroyed) conn.write(JSON.stringify({ ok: true, result }) + '\n');
    } catch (e) {
      const err = e as Error & { code?: string };
      if (!conn.destroyed) conn.write(JSON.stringify({ ok: false, error: err.message, code: err.code ?? 'EFAIL' }) + '\n');
    }
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = null;
    // Streams (traces) would keep the server open: end them.
    for (const c of this.connections) c.destroy();
    if (s) {
      await new Promise<void>((resolve) => s.close(() => resolve()));
      try {
        rmSync(this.path, { force: true });
      } catch (e) {
        // After the drop to `user:`, a socket in root's directory cannot be
        // removed: it stays, dead, and the next start replaces it.
        if ((e as NodeJS.ErrnoException).code !== 'EACCES') throw e;
      }
    }
  }
}

function isAlive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = connect(path);
    c.once('connect', () => { c.destroy(); resolve(true); });
    c.once('error', () => resolve(false));
  });
}

/** What an operator does about a control socket that refused them. */
function unreachableHint(code: string | undefined): string {
  // The socket is root's, mode 0600: the daemon runs, the asker is not root.
  if (code === 'EACCES' || code === 'EPERM') return 'the control socket is root\'s alone: run this as root, e.g. with sudo';
  return 'is the daemon running? --socket PATH';
}

/** One request, one reply (the CLI side). */
export function controlRequest(path: string, req: ControlRequest, timeoutMs = 5000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const c = connect(path);
    // The answer so far, in chunks: searching a growing string for its newline
    // on every chunk made a 38 MB status (10^5 tunnels) take seconds.
    const parts: string[] = [];
    const timer = setTimeout(() => { c.destroy(); reject(new Error(`no answer from ${path} within ${timeoutMs} ms`)); }, timeoutMs);
    c.setEncoding('utf8');
    c.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(Object.assign(new Error(`cannot reach sixtun at ${path}: ${e.code ?? e.message} (${unreachableHint(e.code)})`), { code: e.code }));
    });
    c.on('connect', () => c.write(JSON.stringify(req) + '\n'));
    c.on('data', (chunk: string) => {
      const nl = chunk.indexOf('\n');
      if (nl < 0) {
        parts.push(chunk);
        return;
      }
      parts.push(chunk.slice(0, nl));
      clearTimeout(timer);
      c.end();
      const reply = JSON.parse(parts.join('')) as { ok: boolean; result?: unknown; error?: string; code?: string };
      if (reply.ok) resolve(reply.result);
      else reject(Object.assign(new Error(reply.error ?? 'failed'), { code: reply.code }));
    });
  });
}
