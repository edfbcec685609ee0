// The tunnel registry in etcd, shared by several servers. Keys under the
// configured prefix:
//   tunnels/NAME   one tunnel, a record as the journal writes it (+ server)
//   registry       bumped by every write: the compare-and-set token
//   servers/NAME   each server's last report (kept after it dies)
//   alive/NAME     the same server's liveness, under a lease
// A write is one transaction that succeeds only if the registry key has not
// changed since this server last saw it: two servers changing the registry at
// once (the same tunnel, or taking the same prefix from a pool) cannot both
// win; the loser catches up through its watch, checks again and retries.
import { EtcdClient, EtcdError, type KeyValue, type WatchEvent } from './etcd.js';
import { carries, tunnelFromRecord, type EtcdStoreConfig, type ServerConfig, type TunnelConfig } from '../config/config.js';
import type { Logger } from '../control/log.js';
import type { TunnelRecord } from './journal.js';

export interface ServerReport {
  name: string;
  groups: string[];
  pid: number;
  started: string;
  tunnels: number;
  reported: string;
}

export interface RegistryChange {
  name: string;
  /** The tunnel's record now, or null when it was deleted. */
  record: TunnelRecord | null;
}

export interface RegistryFollower {
  /** Changes of one or more revisions, in order. */
  changes(changes: RegistryChange[]): void;
  /** The watch fell behind compaction: here is everything, to diff against. */
  resync(records: Map<string, TunnelRecord>): void;
  /** Lost (true) or regained (false) contact with etcd. */
  connection(lost: boolean): void;
}

/** How long a dead server stays "alive" in status (the lease's TTL). */
export const LIVENESS_TTL_S = 10;
const REPORT_EVERY_MS = 3000;
/** Every server reports into the watched prefix every REPORT_EVERY_MS: a
 * watch silent this long is cut off (a partition sends no reset). */
const WATCH_IDLE_MS = 4 * REPORT_EVERY_MS;
const WRITE_ATTEMPTS = 100;
const CLOSE_WAIT_MS = 1000;

export class EtcdRegistry {
  readonly etcd: EtcdClient;
  /** The registry key's revision as of what this server has applied. */
  private seen = 0;
  private readonly waiters: Array<{ revision: number; done: () => void }> = [];
  private watch: { stop(): void } | null = null;
  private lease: string | null = null;
  private reportTimer: NodeJS.Timeout | null = null;

  constructor(readonly cfg: EtcdStoreConfig, readonly serverName: string) {
    this.etcd = new EtcdClient({
      endpoints: cfg.endpoints,
      username: cfg.username ?? undefined,
      password: cfg.password ?? undefined,
      tls: cfg.tls ? { ca: cfg.tls.ca ?? undefined, cert: cfg.tls.cert ?? undefined, key: cfg.tls.key ?? undefined } : undefined,
    });
  }

  /** With store.etcd: connects and reads the registry whole. This server's
   * tunnels become cfg.tunnels; every tunnel is returned for the index. A
   * record that is not a tunnel is logged and left out (another server
   * wrote it); etcd unreachable fails the start, naming the endpoints. */
  static async open(cfg: ServerConfig, log: Logger): Promise<{ registry: EtcdRegistry; all: TunnelConfig[]; revision: number }> {
    const registry = new EtcdRegistry(cfg.etcd!, cfg.serverName);
    const t0 = Date.now();
    try {
      const { records, revision } = await registry.load();
      const all: TunnelConfig[] = [];
      for (const [name, record] of records) {
        try {
          all.push(tunnelFromRecord(record, `etcd ${cfg.etcd!.prefix}tunnels/${name}`, null));
        } catch (e) {
          log.error('ignoring a registry record that is not a tunnel', { tunnel: name, error: (e as Error).message });
        }
      }
      cfg.tunnels = all.filter((t) => carries(cfg, t));
      log.info('registry read from etcd', { revision, tunnels: all.length, here: cfg.tunnels.length, server: cfg.serverName, ms: Date.now() - t0 });
      return { registry, all, revision };
    } catch (e) {
      await registry.close();
      throw Object.assign(new Error(`cannot read the tunnel registry from etcd (${cfg.etcd!.endpoints.join(', ')}): ${(e as Error).message}`), { code: (e as { code?: string }).code });
    }
  }

  private key(kind: 'tunnels' | 'servers' | 'alive', name: string): string {
    return `${this.cfg.prefix}${kind}/${name}`;
  }

  private get registryKey(): string {
    return `${this.cfg.prefix}registry`;
  }

  /** Every tunnel record, and the revision they were read at (not parsed
   * beyond JSON: the caller checks them as tunnels). */
  async load(): Promise<{ records: Map<string, TunnelRecord>; revision: number }> {
    const { kvs, revision } = await this.etcd.rangePrefix(`${this.cfg.prefix}tunnels/`);
    const records = new Map<string, TunnelRecord>();
    for (const kv of kvs) records.set(kv.key.slice(`${this.cfg.prefix}tunnels/`.length), parseRecord(kv));
    this.seen = (await this.etcd.get(this.registryKey, revision))?.modRevision ?? 0;
    return { records, revision };
  }

  /** Follows the registry from revision on (the one after load's). */
  follow(fromRevision: number, follower: RegistryFollower): void {
    const tunnels = `${this.cfg.prefix}tunnels/`;
    const onEvents = (events: WatchEvent[]): void => {
      const changes: RegistryChange[] = [];
      let registry = 0;
      for (const e of events) {
        if (e.kv.key === this.registryKey) registry = e.kv.modRevision;
        else if (e.kv.key.startsWith(tunnels)) {
          changes.push({ name: e.kv.key.slice(tunnels.length), record: e.type === 'delete' ? null : parseRecord(e.kv) });
        }
      }
      if (changes.length > 0) follower.changes(changes);
      if (registry > 0) this.advance(registry);
    };
    const start = (from: number): void => {
      this.watch = this.etcd.watch(this.cfg.prefix, from, {
        events: onEvents,
        compacted: () => {
          void this.load().then(({ records, revision }) => {
            follower.resync(records);
            this.advance(this.seen);
            start(revision + 1);
          }, () => setTimeout(() => start(from), 1000));
        },
        connection: (lost) => follower.connection(lost),
      }, WATCH_IDLE_MS);
    };
    start(fromRevision);
  }

  private advance(revision: number): void {
    if (revision > this.seen) this.seen = revision;
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      if (this.waiters[i].revision <= this.seen) this.waiters.splice(i, 1)[0].done();
    }
  }

  /** Until this server has applied the registry up to revision (or timeoutMs passed). */
  private caughtUp(revision: number, timeoutMs = 5000): Promise<void> {
    if (revision <= this.seen) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new EtcdError(`this server has not seen registry revision ${revision} after ${timeoutMs} ms`, 'EUNAVAILABLE')), timeoutMs);
      this.waiters.push({ revision, done: () => { clearTimeout(timer); resolve(); } });
    });
  }

  /** Writes the change built by make() (from the tunnels as this server
   * knows them; it throws to refuse) as one compare-and-set transaction;
   * after another server's write, catches up and builds it again. Returns
   * the change as written and its revision. */
  async write(make: () => RegistryChange): Promise<{ change: RegistryChange; revision: number }> {
    for (let attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
      const change = make();
      const key = this.key('tunnels', change.name);
      const r = await this.etcd.txn(
        [{ key: this.registryKey, target: 'mod', result: 'equal', revision: this.seen }],
        [change.record === null ? { delete: { key } } : { put: { key, value: JSON.stringify(change.record) } }, { put: { key: this.registryKey, value: `${this.serverName} ${change.name}` } }],
        [{ range: { key: this.registryKey } }],
      );
      if (r.succeeded) {
        this.advance(r.revision);
        return { change, revision: r.revision };
      }
      await this.caughtUp(r.ranges[0]?.[0]?.modRevision ?? 0);
      // Two busy writers would otherwise keep colliding in step: a random pause, longer each time.
      await new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(50, 2 * attempt)));
    }
    throw new EtcdError(`the registry changed under ${WRITE_ATTEMPTS} attempts in a row`, 'EETCD');
  }

  /** Puts many records in transactions of 100 (a migration), bumping the registry key. */
  async putAll(records: TunnelRecord[]): Promise<void> {
    for (let i = 0; i < records.length; i += 100) {
      const ops = records.slice(i, i + 100).map((rec) => ({ put: { key: this.key('tunnels', rec.name), value: JSON.stringify(rec) } }));
      await this.etcd.txn([], [...ops, { put: { key: this.registryKey, value: `${this.serverName} migrate` } }]);
    }
  }

  /** Reports this server (and keeps its liveness key alive) every few seconds. */
  startReporting(report: () => Omit<ServerReport, 'reported'>): void {
    let busy = false;
    const tick = async (): Promise<void> => {
      // With etcd away a tick waits for timeouts: the next one does not pile up behind it.
      if (busy) return;
      busy = true;
      try {
        if (this.lease === null || !(await this.etcd.leaseKeepAlive(this.lease))) {
          this.lease = await this.etcd.leaseGrant(LIVENESS_TTL_S);
          await this.etcd.put(this.key('alive', this.serverName), String(process.pid), this.lease);
        }
        await this.etcd.put(this.key('servers', this.serverName), JSON.stringify({ ...report(), reported: new Date().toISOString() }));
      } catch {
        // etcd away: the next tick tries again (a lease that expired meanwhile is granted anew).
      } finally {
        busy = false;
      }
    };
    void tick();
    this.reportTimer = setInterval(() => void tick(), REPORT_EVERY_MS);
  }

  /** Every server that ever reported, and whether its liveness lease holds. */
  async cluster(): Promise<Array<ServerReport & { alive: boolean }>> {
    const servers = await this.etcd.rangePrefix(`${this.cfg.prefix}servers/`);
    const alive = new Set((await this.etcd.rangePrefix(`${this.cfg.prefix}alive/`)).kvs.map((k) => k.key.slice(`${this.cfg.prefix}alive/`.length)));
    return servers.kvs.map((kv) => {
      const r = JSON.parse(kv.value) as ServerReport;
      return { ...r, alive: alive.has(r.name) };
    });
  }

  async close(): Promise<void> {
    this.watch?.stop();
    if (this.reportTimer) clearInterval(this.reportTimer);
    // The others see this server gone at once; with etcd away, the lease runs out by itself
    // (a stop does not wait on timeouts).
    if (this.lease !== null) {
      await Promise.race([this.etcd.leaseRevoke(this.lease).catch(() => undefined), new Promise((r) => setTimeout(r, CLOSE_WAIT_MS).unref())]);
    }
    this.etcd.close();
  }
}

function parseRecord(kv: KeyValue): TunnelRecord {
  try {
    return JSON.parse(kv.value) as TunnelRecord;
  } catch {
    // Checked as a tunnel by the caller: a record of no fields names what is missing.
    return { name: kv.key.slice(kv.key.lastIndexOf('/') + 1) } as TunnelRecord;
  }
}
