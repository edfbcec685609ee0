// The dynamic-endpoint API, compatible with Tunnel Broker's update URL
// (Dyn protocol answers), so routers, ddclient and curl scripts work as is:
//   GET /nic/update?hostname=<tunnel>&myip=<ipv4>   (HTTP Basic: user + update key)
//   GET /nic/update?username=<user>&password=<key>&hostname=<tunnel>&myip=<ipv4>
// Answers: "good <ip>", "nochg <ip>", "badauth", "nohost", "notfqdn", "abuse",
// "badip <ip>" (an address no tunnel may use), "911" (server-side failure).
// TLS belongs to a reverse proxy in front (docs/operations.md).
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { parseIp, formatIp } from '../wire/address.js';
import { endpointProblem, type EndpointRangeClass } from '../config/endpoint.js';
import { verifyUpdateKey } from './update-keys.js';

export interface UpdateTarget {
  user: string;
  keyHash: string | null;
  currentIpv4: string;
}

export interface UpdateBackend {
  /** The tunnel's credentials and endpoint, or null if there is no such tunnel. */
  lookup(tunnel: string): UpdateTarget | null;
  /** Why an address may not be an endpoint (the server's own, on its
   * connected subnets, another tunnel's), or null if it may. */
  refuse(ipv4: string, tunnel: string): Promise<string | null>;
  /** Whether a new endpoint answers ICMP echo (absent: not asked). */
  reachable?(ipv4: string): Promise<boolean>;
  /** Moves the tunnel to the new endpoint (and records it). */
  apply(tunnel: string, ipv4: string, from: string): Promise<void>;
  log(msg: string, fields: Record<string, unknown>): void;
}

/** The user and key of an update: HTTP Basic, or (Tunnel Broker's second
 * form, for routers that put them in the URL) `username=` and `password=`. */
function credentials(authorization: string | undefined, query: URLSearchParams): { user: string; key: string } | null {
  const basic = /^Basic ([A-Za-z0-9+/=]+)$/.exec(authorization ?? '');
  if (basic) {
    const [user, ...rest] = Buffer.from(basic[1], 'base64').toString('utf8').split(':');
    return { user, key: rest.join(':') };
  }
  const user = query.get('username');
  const key = query.get('password');
  return user !== null && key !== null ? { user, key } : null;
}

/** A well-formed hash that no key matches: checked for an unknown tunnel or
 * user, so that such a request costs what a wrong key costs (no timing
 * difference tells which tunnels exist). */
const NO_KEY = 'scrypt$16384$8$1$JJ1OZJHvcr1_M0sH4iOLOw$DRW-B0EqdmyvLeRtmv1xMeAFE6lXGRe2sHDVjNHwLkQ';
/** Key checks (scrypt, ~16 MiB and tens of ms each) running at once: past
 * this a request is answered 911 (try later) instead of queuing more work. */
export const MAX_CHECKS = 4;
/** Connections per source address, and in all: one address cannot hold the listener. */
export const MAX_CONNECTIONS_PER_SOURCE = 16;
const MAX_CONNECTIONS = 1024;
/** Headers must arrive within this, the whole request within the next (slow senders). */
const HEADERS_TIMEOUT_MS = 10_000;
const REQUEST_TIMEOUT_MS = 15_000;

interface Bucket { tokens: number; last: number }

/** Token buckets by key, bounded in number (a flood of keys clears them rather than growing). */
class Buckets {
  private readonly map = new Map<string, Bucket>();

  constructor(private readonly burst: number, private readonly perSecond: number) {}

  /** Whether key has a token left now (without taking it). */
  has(key: string, now: number): boolean {
    return this.refill(key, now).tokens >= 1;
  }

  take(key: string, now: number): boolean {
    const b = this.refill(key, now);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  private refill(key: string, now: number): Bucket {
    let b = this.map.get(key);
    if (!b) {
      if (this.map.size > 10_000) this.map.clear();
      b = { tokens: this.burst, last: now };
      this.map.set(key, b);
    }
    b.tokens = Math.min(this.burst, b.tokens + ((now - b.last) / 1000) * this.perSecond);
    b.last = now;
    return b;
  }
}

export interface UpdateApiOptions {
  /** Updates a tunnel may make at once, and failed checks per tunnel and source address. */
  burst?: number;
  /** Refill per second of both. */
  perSecond?: number;
  /** Accept the documentation ranges (RFC 5737) as endpoints: tests and the demo. */
  endpointRanges?: readonly EndpointRangeClass[];
  /** The key check (scrypt); replaceable for tests that count or slow it. */
  verify?: (key: string, hash: string) => Promise<boolean>;
}

export class UpdateApi {
  private server: Server | null = null;
  /** Successful updates per tunnel: only the owner spends these. */
  private readonly updates: Buckets;
  /** Failed checks per (tunnel, source address): a stranger's guesses cost the stranger alone. */
  private readonly failures: Buckets;
  private readonly verify: (key: string, hash: string) => Promise<boolean>;
  private checking = 0;
  private readonly endpointRanges: readonly EndpointRangeClass[];
  private readonly perSource = new Map<string, number>();

  constructor(private readonly backend: UpdateBackend, opts: UpdateApiOptions = {}) {
    const burst = opts.burst ?? 5;
    const perSecond = opts.perSecond ?? 0.5;
    this.updates = new Buckets(burst, perSecond);
    this.failures = new Buckets(burst, perSecond);
    this.verify = opts.verify ?? verifyUpdateKey;
    this.endpointRanges = opts.endpointRanges ?? [];
  }

  async listen(host: string, port: number): Promise<void> {
    const server = createServer({ headersTimeout: HEADERS_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS }, (req, res) => {
      this.answer(req).then(
        (text) => res.writeHead(200, { 'content-type': 'text/plain' }).end(text + '\n'),
        (e: Error) => {
          this.backend.log('update failed', { error: e.message });
          res.writeHead(200, { 'content-type': 'text/plain' }).end('911\n');
        },
      );
    });
    server.maxConnections = MAX_CONNECTIONS;
    server.on('connection', (socket: Socket) => {
      const from = socket.remoteAddress ?? '';
      const n = (this.perSource.get(from) ?? 0) + 1;
      if (n > MAX_CONNECTIONS_PER_SOURCE) {
        socket.destroy();
        return;
      }
      this.perSource.set(from, n);
      socket.once('close', () => {
        const left = (this.perSource.get(from) ?? 1) - 1;
        if (left > 0) this.perSource.set(from, left);
        else this.perSource.delete(from);
      });
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

  /** The key check, at most MAX_CHECKS at once; null when that many are running. */
  private async check(key: string, hash: string): Promise<boolean | null> {
    if (this.checking >= MAX_CHECKS) return null;
    this.checking++;
    try {
      return await this.verify(key, hash);
    } finally {
      this.checking--;
    }
  }

  async answer(req: IncomingMessage): Promise<string> {
    const url = new URL(req.url ?? '/', 'http://sixtun');
    if (req.method !== 'GET' || url.pathname !== '/nic/update') return '911';
    const hostname = url.searchParams.get('hostname');
    if (!hostname) return 'notfqdn';
    const from = req.socket.remoteAddress ?? '';
    const target = this.backend.lookup(hostname);
    // Failures are counted per (tunnel, source); unknown tunnels share one count per source.
    const failKey = `${target ? hostname : ''}\u0000${from}`;
    const now = Date.now();
    // Before any expensive check: guessing keys is abuse too.
    if (!this.failures.has(failKey, now)) return 'abuse';
    const auth = credentials(req.headers.authorization, url.searchParams);
    const known = target !== null && target.keyHash !== null && auth !== null && auth.user === target.user;
    const ok = await this.check(auth?.key ?? '', known ? target.keyHash! : NO_KEY);
    if (ok === null) {
      this.backend.log('update refused: too many key checks at once', { tunnel: hostname, from });
      return '911';
    }
    if (!target || !known || !ok || !auth) {
      this.failures.take(failKey, now);
      if (!target) return 'nohost';
      this.backend.log('update refused: bad credentials', { tunnel: hostname, from });
      return 'badauth';
    }
    if (!this.updates.take(hostname, Date.now())) return 'abuse';
    let ip = url.searchParams.get('myip') ?? req.socket.remoteAddress ?? '';
    if (ip.startsWith('::ffff:')) ip = ip.slice(7);
    try {
      const parsed = parseIp(ip);
      if (parsed.family !== 4) return `badip ${ip}`;
      ip = formatIp(parsed.bytes);
    } catch {
      return `badip ${ip}`;
    }
    const why = endpointProblem(ip, this.endpointRanges) ?? (await this.backend.refuse(ip, hostname));
    if (why) {
      this.backend.log('update refused', { tunnel: hostname, ip, reason: why });
      return `badip ${ip}`;
    }
    if (ip === target.currentIpv4) return `nochg ${ip}`;
    if (this.backend.reachable && !(await this.backend.reachable(ip))) {
      this.backend.log('update refused', { tunnel: hostname, ip, reason: 'no answer to ICMP echo' });
      return `badip ${ip}`;
    }
    await this.backend.apply(hostname, ip, from);
    return `good ${ip}`;
  }
}
