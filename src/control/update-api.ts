// The dynamic-endpoint API, compatible with Tunnel Broker's update URL
// (Dyn protocol answers), so routers, ddclient and curl scripts work as is:
//   GET /nic/update?hostname=<tunnel>&myip=<ipv4>   (HTTP Basic: user + update key)
// Answers: "good <ip>", "nochg <ip>", "badauth", "nohost", "notfqdn", "abuse",
// "badip <ip>" (an address no tunnel may use), "911" (server-side failure).
// TLS belongs to a reverse proxy in front (docs/operations.md).
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { parseIp, formatIp } from '../wire/address.js';
import { verifyUpdateKey } from './update-keys.js';

export interface UpdateTarget {
  user: string;
  keyHash: string | null;
  currentIpv4: string;
}

export interface UpdateBackend {
  /** The tunnel's credentials and endpoint, or null if there is no such tunnel. */
  lookup(tunnel: string): UpdateTarget | null;
  /** Why an address may not be an endpoint, or null if it may. */
  refuse(ipv4: string, tunnel: string): string | null;
  /** Moves the tunnel to the new endpoint (and records it). */
  apply(tunnel: string, ipv4: string, from: string): Promise<void>;
  log(msg: string, fields: Record<string, unknown>): void;
}

/** Refused as endpoints: private (RFC 1918), shared (RFC 6598), loopback,
 * link-local, multicast, reserved, unspecified and broadcast addresses. The
 * documentation ranges stay allowed (tests and the demo use them). */
export function unusableIpv4(ip: string): string | null {
  const [a, b] = ip.split('.').map(Number);
  if (a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168)) return 'private';
  if (a === 100 && b >= 64 && b <= 127) return 'shared address space';
  if (a === 127) return 'loopback';
  if (a === 169 && b === 254) return 'link-local';
  if (a >= 224 && a <= 239) return 'multicast';
  if (a === 0) return 'unspecified';
  if (a >= 240) return 'reserved';
  return null;
}

interface Bucket { tokens: number; last: number }

export class UpdateApi {
  private server: Server | null = null;
  private readonly buckets = new Map<string, Bucket>();

  constructor(private readonly backend: UpdateBackend, private readonly burst = 5, private readonly perSecond = 0.5) {}

  async listen(host: string, port: number): Promise<void> {
    const server = createServer((req, res) => {
      this.answer(req).then(
        (text) => res.writeHead(200, { 'content-type': 'text/plain' }).end(text + '\n'),
        (e: Error) => {
          this.backend.log('update failed', { error: e.message });
          res.writeHead(200, { 'content-type': 'text/plain' }).end('911\n');
        },
      );
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    this.server = server;
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (s) await new Promise<void>((r) => { s.closeAllConnections(); s.close(() => r()); });
  }

  private allow(tunnel: string): boolean {
    const now = Date.now();
    let b = this.buckets.get(tunnel);
    if (!b) {
      if (this.buckets.size > 10_000) this.buckets.clear();
      b = { tokens: this.burst, last: now };
      this.buckets.set(tunnel, b);
    }
    b.tokens = Math.min(this.burst, b.tokens + ((now - b.last) / 1000) * this.perSecond);
    b.last = now;
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  async answer(req: IncomingMessage): Promise<string> {
    const url = new URL(req.url ?? '/', 'http://sixtun');
    if (req.method !== 'GET' || url.pathname !== '/nic/update') return '911';
    const hostname = url.searchParams.get('hostname');
    if (!hostname) return 'notfqdn';
    const target = this.backend.lookup(hostname);
    if (!target) return 'nohost';
    // Rate-limit before any expensive check: guessing keys is abuse too.
    if (!this.allow(hostname)) return 'abuse';
    const auth = /^Basic ([A-Za-z0-9+/=]+)$/.exec(req.headers.authorization ?? '');
    const [user, ...rest] = auth ? Buffer.from(auth[1], 'base64').toString('utf8').split(':') : [];
    const key = rest.join(':');
    if (!auth || target.keyHash === null || user !== target.user || !(await verifyUpdateKey(key, target.keyHash))) {
      this.backend.log('update refused: bad credentials', { tunnel: hostname, from: req.socket.remoteAddress });
      return 'badauth';
    }
    let ip = url.searchParams.get('myip') ?? req.socket.remoteAddress ?? '';
    if (ip.startsWith('::ffff:')) ip = ip.slice(7);
    try {
      const parsed = parseIp(ip);
      if (parsed.family !== 4) return `badip ${ip}`;
      ip = formatIp(parsed.bytes);
    } catch {
      return `badip ${ip}`;
    }
    const why = unusableIpv4(ip) ?? this.backend.refuse(ip, hostname);
    if (why) {
      this.backend.log('update refused', { tunnel: hostname, ip, reason: why });
      return `badip ${ip}`;
    }
    if (ip === target.currentIpv4) return `nochg ${ip}`;
    await this.backend.apply(hostname, ip, req.socket.remoteAddress ?? '');
    return `good ${ip}`;
  }
}
