// A client of etcd's v3 API through its JSON gateway (HTTP/1.1 at /v3/…,
// etcd 3.4 and later): ranges, transactions, leases and watches, with no
// dependency (no gRPC). Keys and values travel base64-encoded; revisions are
// int64 as decimal strings (below 2^53 here, as any etcd will reach).
// Endpoints are tried in turn, starting with the last that answered; a
// request fails with EUNAVAILABLE only when none does.
import { request as httpRequest, Agent as HttpAgent, type IncomingMessage } from 'node:http';
import { request as httpsRequest, Agent as HttpsAgent } from 'node:https';
import { readFileSync } from 'node:fs';

export interface EtcdOptions {
  /** e.g. ["http://10.0.0.1:2379", "https://10.0.0.2:2379"] */
  endpoints: string[];
  username?: string;
  password?: string;
  /** PEM files: the CA that signed the servers' certificates, and a client certificate and key. */
  tls?: { ca?: string; cert?: string; key?: string };
  /** Per request (watches excepted). */
  timeoutMs?: number;
}

export interface KeyValue {
  key: string;
  value: string;
  createRevision: number;
  modRevision: number;
  version: number;
  lease: string;
}

export type EtcdErrorCode = 'EUNAVAILABLE' | 'EAUTH' | 'ECOMPACTED' | 'EETCD';

export class EtcdError extends Error {
  constructor(message: string, readonly code: EtcdErrorCode) {
    super(message);
  }
}

/** A condition of a transaction (etcd's Compare). */
export type Compare =
  | { key: string; target: 'create' | 'mod' | 'version'; result: 'equal' | 'greater' | 'less' | 'not_equal'; revision: number }
  | { key: string; target: 'value'; result: 'equal' | 'not_equal'; value: string };

/** An operation of a transaction. */
export type Op =
  | { put: { key: string; value: string; lease?: string } }
  | { delete: { key: string; prefix?: boolean } }
  | { range: { key: string; prefix?: boolean } };

export interface TxnResult {
  succeeded: boolean;
  revision: number;
  /** For each range op, its key-values (in the order of the ops that ran). */
  ranges: KeyValue[][];
}

export interface WatchEvent {
  type: 'put' | 'delete';
  kv: KeyValue;
}

export interface WatchHandler {
  /** Events of one revision or more, in order; revision: the last one seen. */
  events(events: WatchEvent[], revision: number): void;
  /** The revision to continue from was compacted away: read everything again. */
  compacted(revision: number): void;
  /** The connection was lost (true) or is back (false). */
  connection(lost: boolean): void;
}

const PAGE = 5000;
const RETRY_MS = 500;
const AUTH_ERROR = /auth|token|permission/i;
const STALE_TOKEN = /invalid auth token/i;

/** Node's codes for a member certificate that store.etcd.tls.ca does not vouch for. */
const UNTRUSTED_MEMBER = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** A request that got no answer, in the operator's terms where TLS is why
 * (OpenSSL's own text names neither side nor the setting to look at). */
function transportError(e: NodeJS.ErrnoException): EtcdError {
  const code = e.code ?? '';
  if (/^ERR_SSL_.*ALERT_(BAD_CERTIFICATE|CERTIFICATE_REQUIRED|UNKNOWN_CA|CERTIFICATE_UNKNOWN)$/.test(code)) {
    return new EtcdError(`the member refused this client's certificate (store.etcd.tls cert and key; ${code})`, 'EUNAVAILABLE');
  }
  if (UNTRUSTED_MEMBER.has(code)) {
    return new EtcdError(`the member's certificate is not one store.etcd.tls.ca vouches for (${code}: ${e.message})`, 'EUNAVAILABLE');
  }
  return new EtcdError(e.message, 'EUNAVAILABLE');
}

function b64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}

function unb64(text: string | undefined): string {
  return text === undefined ? '' : Buffer.from(text, 'base64').toString('utf8');
}

/** The first key after every key that starts with prefix (etcd's range_end for a prefix), base64. */
export function rangeEndB64(prefix: string): string {
  const bytes = Buffer.from(prefix, 'utf8');
  for (let i = bytes.length - 1; i >= 0; i--) {
    if (bytes[i] < 0xff) {
      const end = Buffer.from(bytes.subarray(0, i + 1));
      end[i]++;
      return end.toString('base64');
    }
  }
  return Buffer.from([0]).toString('base64');
}

interface RawKv {
  key?: string;
  value?: string;
  create_revision?: string;
  mod_revision?: string;
  version?: string;
  lease?: string;
}

function kvOf(raw: RawKv): KeyValue {
  return {
    key: unb64(raw.key),
    value: unb64(raw.value),
    createRevision: Number(raw.create_revision ?? 0),
    modRevision: Number(raw.mod_revision ?? 0),
    version: Number(raw.version ?? 0),
    lease: raw.lease ?? '0',
  };
}

function compareJson(c: Compare): Record<string, unknown> {
  const common = { key: b64(c.key), result: c.result.toUpperCase() };
  if (c.target === 'value') return { ...common, target: 'VALUE', value: b64(c.value) };
  const field = { create: 'create_revision', mod: 'mod_revision', version: 'version' }[c.target];
  return { ...common, target: c.target.toUpperCase(), [field]: String(c.revision) };
}

function opJson(op: Op): Record<string, unknown> {
  if ('put' in op) return { request_put: { key: b64(op.put.key), value: b64(op.put.value), ...(op.put.lease ? { lease: op.put.lease } : {}) } };
  if ('delete' in op) return { request_delete_range: { key: b64(op.delete.key), ...(op.delete.prefix ? { range_end: rangeEndB64(op.delete.key) } : {}) } };
  return { request_range: { key: b64(op.range.key), ...(op.range.prefix ? { range_end: rangeEndB64(op.range.key) } : {}) } };
}

export class EtcdClient {
  private readonly endpoints: URL[];
  private current = 0;
  private token: string | null = null;
  private readonly httpAgent = new HttpAgent({ keepAlive: true });
  private readonly httpsAgent: HttpsAgent;
  /** Watches on connections of their own, never a pooled one that a
   * partition may have left dead without a word. */
  private readonly streamHttpAgent = new HttpAgent({ keepAlive: false });
  private readonly streamHttpsAgent: HttpsAgent;
  private readonly timeoutMs: number;
  private closed = false;

  constructor(private readonly opts: EtcdOptions) {
    if (opts.endpoints.length === 0) throw new EtcdError('no etcd endpoints', 'EETCD');
    this.endpoints = opts.endpoints.map((e) => new URL(e));
    const tls = opts.tls ?? {};
    const pem = {
      ca: tls.ca ? readFileSync(tls.ca) : undefined,
      cert: tls.cert ? readFileSync(tls.cert) : undefined,
      key: tls.key ? readFileSync(tls.key) : undefined,
    };
    this.httpsAgent = new HttpsAgent({ keepAlive: true, ...pem });
    this.streamHttpsAgent = new HttpsAgent({ keepAlive: false, ...pem });
    this.timeoutMs = opts.timeoutMs ?? 5000;
  }

  close(): void {
    this.closed = true;
    for (const a of [this.httpAgent, this.httpsAgent, this.streamHttpAgent, this.streamHttpsAgent]) a.destroy();
  }

  /** Every key under prefix, read a page at a time, all pages at the
   * revision of the first. */
  async rangePrefix(prefix: string): Promise<{ kvs: KeyValue[]; revision: number }> {
    const end = rangeEndB64(prefix);
    const kvs: KeyValue[] = [];
    let from = b64(prefix);
    let rev = 0;
    for (;;) {
      const r = await this.call<{ header: { revision: string }; kvs?: RawKv[]; more?: boolean }>('/v3/kv/range', {
        key: from, range_end: end, limit: String(PAGE), ...(rev > 0 ? { revision: String(rev) } : {}),
      });
      if (rev === 0) rev = Number(r.header.revision);
      const page = (r.kvs ?? []).map(kvOf);
      kvs.push(...page);
      if (!r.more || page.length === 0) break;
      // The next page starts just after the last key (the key with a 0 byte appended).
      from = Buffer.concat([Buffer.from(page[page.length - 1].key, 'utf8'), Buffer.from([0])]).toString('base64');
    }
    return { kvs, revision: rev };
  }

  /** One key, now or at revision. */
  async get(key: string, revision = 0): Promise<KeyValue | null> {
    const r = await this.call<{ kvs?: RawKv[] }>('/v3/kv/range', { key: b64(key), ...(revision > 0 ? { revision: String(revision) } : {}) });
    return r.kvs && r.kvs.length > 0 ? kvOf(r.kvs[0]) : null;
  }

  async put(key: string, value: string, lease?: string): Promise<number> {
    const r = await this.call<{ header: { revision: string } }>('/v3/kv/put', { key: b64(key), value: b64(value), ...(lease ? { lease } : {}) });
    return Number(r.header.revision);
  }

  async txn(compare: Compare[], success: Op[], failure: Op[] = []): Promise<TxnResult> {
    const r = await this.call<{ header: { revision: string }; succeeded?: boolean; responses?: Array<{ response_range?: { kvs?: RawKv[] } }> }>('/v3/kv/txn', {
      compare: compare.map(compareJson), success: success.map(opJson), failure: failure.map(opJson),
    });
    const ranges = (r.responses ?? []).filter((x) => x.response_range !== undefined).map((x) => (x.response_range!.kvs ?? []).map(kvOf));
    return { succeeded: r.succeeded === true, revision: Number(r.header.revision), ranges };
  }

  /** A lease of ttl seconds; its id (a decimal string). */
  async leaseGrant(ttlSeconds: number): Promise<string> {
    const r = await this.call<{ ID: string }>('/v3/lease/grant', { TTL: String(ttlSeconds) });
    return r.ID;
  }

  /** Renews a lease; false if it is gone (expired or revoked). */
  async leaseKeepAlive(id: string): Promise<boolean> {
    const r = await this.call<{ result?: { TTL?: string } }>('/v3/lease/keepalive', { ID: id });
    return Number(r.result?.TTL ?? 0) > 0;
  }

  async leaseRevoke(id: string): Promise<void> {
    await this.call('/v3/lease/revoke', { ID: id });
  }

  /** Follows every change under prefix from revision on, until stop() is
   * called: reconnects (to the next endpoint) when the stream ends, or is
   * silent for idleMs (a member cut off by the network sends nothing, not
   * even a reset: give the prefix a key written more often than that), from
   * the revision after the last event seen. */
  watch(prefix: string, fromRevision: number, handler: WatchHandler, idleMs = 0): { stop(): void } {
    let stopped = false;
    let next = fromRevision;
    let lost = false;
    let res: IncomingMessage | null = null;
    // An endpoint of its own: a failover here must not move a unary call
    // along the list in the middle of its round (it would skip a member).
    let at = this.current;
    let signedInAgain = false;
    const open = async (): Promise<void> => {
      while (!stopped && !this.closed) {
        try {
          await this.authenticated(at);
          res = await this.stream(at, '/v3/watch', { create_request: { key: b64(prefix), range_end: rangeEndB64(prefix), start_revision: String(next), progress_notify: true } });
          if (idleMs > 0) {
            const r = res;
            r.socket.setTimeout(idleMs, () => r.destroy());
          }
          if (lost) {
            lost = false;
            handler.connection(false);
          }
          const compacted = await this.follow(res, (events, revision) => {
            signedInAgain = false;
            next = revision + 1;
            if (events.length > 0) handler.events(events, revision);
          });
          if (compacted > 0) {
            stopped = true;
            handler.compacted(compacted);
            return;
          }
        } catch (e) {
          // etcd forgot the token: at once, signed in anew (once in a row), nothing lost.
          if (!signedInAgain && e instanceof EtcdError && STALE_TOKEN.test(e.message)) {
            signedInAgain = true;
            continue;
          }
          // Connection refused, reset or timed out, or cancelled: the next endpoint, after a pause.
        }
        if (stopped || this.closed) return;
        if (!lost) {
          lost = true;
          handler.connection(true);
        }
        at = (at + 1) % this.endpoints.length;
        await new Promise((r) => setTimeout(r, RETRY_MS));
      }
    };
    void open();
    return {
      stop: () => {
        stopped = true;
        res?.destroy();
      },
    };
  }

  /** Reads a watch stream (one JSON message per line) until it ends.
   * Returns the compact revision if the watch was cancelled by compaction, else 0. */
  private follow(res: IncomingMessage, onEvents: (events: WatchEvent[], revision: number) => void): Promise<number> {
    return new Promise((resolve, reject) => {
      let buffered = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffered += chunk;
        let nl: number;
        while ((nl = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, nl).trim();
          buffered = buffered.slice(nl + 1);
          if (line === '') continue;
          let msg: { result?: { header?: { revision?: string }; events?: Array<{ type?: string; kv: RawKv }>; created?: boolean; canceled?: boolean; compact_revision?: string; cancel_reason?: string }; error?: unknown };
          try {
            msg = JSON.parse(line);
          } catch {
            res.destroy();
            reject(new EtcdError('etcd sent a watch message that is not JSON', 'EETCD'));
            return;
          }
          const r = msg.result;
          if (!r) {
            res.destroy();
            reject(new EtcdError(`etcd watch failed: ${JSON.stringify(msg.error)}`, 'EETCD'));
            return;
          }
          if (r.canceled) {
            res.destroy();
            const compacted = Number(r.compact_revision ?? 0);
            if (compacted > 0) {
              resolve(compacted);
              return;
            }
            // Refused at creation (an expired token: etcd answers "created" and "canceled" at
            // once and keeps the stream open), or ended by etcd: open it again, signed in anew.
            const reason = r.cancel_reason ?? 'no reason given';
            const auth = AUTH_ERROR.test(reason);
            if (auth) this.token = null;
            reject(new EtcdError(`etcd cancelled the watch: ${reason}`, auth ? 'EAUTH' : 'EETCD'));
            return;
          }
          // The "created" answer carries the store's revision, not how far this
          // watch has come: events before it may still follow.
          if (r.created) continue;
          const events = (r.events ?? []).map((e): WatchEvent => ({ type: e.type === 'DELETE' ? 'delete' : 'put', kv: kvOf(e.kv) }));
          const revision = events.length > 0 ? events[events.length - 1].kv.modRevision : Number(r.header?.revision ?? 0);
          if (revision > 0) onEvents(events, revision);
        }
      });
      res.on('end', () => resolve(0));
      res.on('error', reject);
      res.on('close', () => resolve(0));
    });
  }

  private async authenticated(at: number): Promise<void> {
    if (this.opts.username === undefined || this.token !== null) return;
    const r = await this.send<{ token: string }>(at, '/v3/auth/authenticate', { name: this.opts.username, password: this.opts.password ?? '' }, false);
    this.token = r.token;
  }

  /** request(), signed in first; once more, signed in anew, if etcd no
   * longer knows the token (a simple token unused for its TTL is gone). */
  private async signedIn<T>(request: () => Promise<T>, at: number): Promise<T> {
    await this.authenticated(at);
    try {
      return await request();
    } catch (e) {
      if (!(e instanceof EtcdError && e.code === 'EAUTH' && STALE_TOKEN.test(e.message))) throw e;
      await this.authenticated(at);
      return await request();
    }
  }

  /** A unary call, on each endpoint in turn from the last one that
   * answered (which the next call starts from). */
  private async call<T>(path: string, body: unknown): Promise<T> {
    if (this.closed) throw new EtcdError('etcd client closed', 'EUNAVAILABLE');
    let last: Error | null = null;
    const first = this.current;
    for (let tried = 0; tried < this.endpoints.length; tried++) {
      const at = (first + tried) % this.endpoints.length;
      try {
        const answer = await this.signedIn(() => this.send<T>(at, path, body, true), at);
        this.current = at;
        return answer;
      } catch (e) {
        if (e instanceof EtcdError && e.code !== 'EUNAVAILABLE') throw e;
        last = e as Error;
      }
    }
    throw new EtcdError(`no etcd endpoint answers (${this.opts.endpoints.join(', ')}): ${last?.message}`, 'EUNAVAILABLE');
  }

  private send<T>(at: number, path: string, body: unknown, withToken: boolean): Promise<T> {
    return new Promise((resolve, reject) => {
      const req = this.open(at, path, withToken, false, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => { text += d; });
        res.on('end', () => {
          let json: Record<string, unknown>;
          try {
            json = JSON.parse(text) as Record<string, unknown>;
          } catch {
            reject(new EtcdError(`etcd answered ${path} with ${res.statusCode}: ${text.slice(0, 200)}`, 'EUNAVAILABLE'));
            return;
          }
          if (res.statusCode === 200) {
            resolve(json as T);
            return;
          }
          const message = String(json.error ?? json.message ?? text);
          if (AUTH_ERROR.test(message)) {
            this.token = null;
            reject(new EtcdError(`etcd refused ${path}: ${message}`, 'EAUTH'));
          } else if (/compacted/i.test(message)) {
            reject(new EtcdError(`etcd: ${message}`, 'ECOMPACTED'));
          } else if (/leader|unavailable|timed out|stopped/i.test(message)) {
            reject(new EtcdError(`etcd: ${message}`, 'EUNAVAILABLE'));
          } else {
            reject(new EtcdError(`etcd refused ${path}: ${message}`, 'EETCD'));
          }
        });
        res.on('error', (e) => reject(transportError(e)));
      });
      req.on('error', (e) => reject(transportError(e)));
      req.end(JSON.stringify(body));
    });
  }

  /** A streaming call: resolves with the response once its headers came
   * (within the request timeout: a member without a leader, or cut off,
   * may never answer), which then streams as long as it likes. */
  private stream(at: number, path: string, body: unknown): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const req = this.open(at, path, true, true, (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          reject(new EtcdError(`etcd answered ${path} with ${res.statusCode}`, 'EUNAVAILABLE'));
          return;
        }
        resolve(res);
      });
      req.on('error', (e) => reject(transportError(e)));
      req.end(JSON.stringify(body));
    });
  }

  private open(at: number, path: string, withToken: boolean, streaming: boolean, onResponse: (res: IncomingMessage) => void) {
    const url = new URL(path, this.endpoints[at]);
    const https = url.protocol === 'https:';
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (withToken && this.token !== null) headers.authorization = this.token;
    const agent = https ? (streaming ? this.streamHttpsAgent : this.httpsAgent) : (streaming ? this.streamHttpAgent : this.httpAgent);
    // A timer of its own, not the socket's: that one starts only once connected, and a
    // connect sent where the network is cut keeps retrying its SYN for minutes.
    const req = (https ? httpsRequest : httpRequest)(url, { method: 'POST', headers, agent }, (res) => {
      clearTimeout(timer);
      onResponse(res);
    });
    const timer = setTimeout(() => req.destroy(new Error(`no answer from ${url.host} within ${this.timeoutMs} ms`)), this.timeoutMs);
    req.on('close', () => clearTimeout(timer));
    return req;
  }
}
