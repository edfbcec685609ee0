// Changes to a server's tunnels while it runs — `sixtun tunnel add|set|
// remove|key`, `/nic/update`, SIGHUP, another server's write to a shared
// registry — one at a time: checked, made durable (the configuration file, a
// line of the tunnel journal, or a transaction in etcd), then applied to the
// tunnels they touch and no others.
import { readFileSync } from 'node:fs';
import { ConfigError, carries, loadConfig, tunnelFromRecord, tunnelRecord, type Config, type ServerConfig, type TunnelConfig } from '../config/config.js';
import { EditError, editTunnels, flagError, flagOf, type TunnelEdit, type TunnelFields } from '../config/edit.js';
import { TunnelIndex } from '../config/tunnel-index.js';
import { TunnelJournal, positionOf, readJournal, type JournalTail, type TunnelRecord } from '../store/journal.js';
import { writeAtomically } from '../sys/durable.js';
import type { EtcdRegistry, RegistryChange } from '../store/registry.js';
import { formatIp, formatPrefix, type IpPrefix } from '../wire/address.js';
import { parseIpv4Address } from '../wire/ipv4.js';
import { sameExceptEndpoint, sameTunnel } from './tunnel-diff.js';
import { makeUpdateKey } from './update-keys.js';
import type { ControlRequest } from './control-server.js';
import type { UpdateBackend } from './update-api.js';
import type { Logger } from './log.js';

/** What changes are applied to: the running daemon. */
export interface TunnelHost {
  readonly log: Logger;
  readonly localIpv4: string;
  /** The running configuration; a reload replaces it. */
  cfg: Config;
  /** Datapath, NDP targets, then kernel routes and proxies, in batches. */
  addTunnels(cfg: ServerConfig, list: TunnelConfig[]): Promise<void>;
  removeTunnels(cfg: ServerConfig, list: TunnelConfig[]): Promise<void>;
  /** Only the endpoint changed: moved in place, traffic and counters untouched. */
  moveTunnel(name: string, clientIpv4: string): void;
  /** The fields other than tunnels of a reloaded configuration (log level, warnings). */
  takeSettings(next: Config): void;
  /** After a whole reload: every NDP target anew. */
  refreshNdpTargets(): void;
  /** After any change: the crash record. */
  persistOwned(): void;
  /** The server's IPv4 addresses with their prefix lengths (its connected subnets). */
  ipv4Networks(): Promise<Array<{ address: string; prefixLength: number }>>;
}

export interface ChangeResult {
  added: string[];
  removed: string[];
  changed: string[];
}

/** One tunnel before and after a change (undefined: absent). */
interface Change {
  name: string;
  before: TunnelConfig | undefined;
  after: TunnelConfig | undefined;
}

export type TunnelSummary = { name: string; client_ipv4: string; server_ipv6: string; client_ipv6: string; routed_prefixes: string[] };

export class TunnelChanges {
  /** With `tunnel_journal`: where changes go, and the index they are checked against. */
  private journal: TunnelJournal | null = null;
  /** With store.etcd: where changes go; the index then holds every server's tunnels. */
  private registry: EtcdRegistry | null = null;
  private index: TunnelIndex | null = null;
  /** The configuration file's own tunnels (not the journal's), as last read. */
  private fileTunnels = '';
  /** Changes run one at a time. */
  private queue: Promise<unknown> = Promise.resolve();
  /** Endpoint changes through the update API, per tunnel, for status. */
  readonly endpointChanges = new Map<string, { count: number; last: number; from: string }>();

  constructor(private readonly host: TunnelHost) {
    const cfg = host.cfg;
    if (cfg.mode === 'server' && cfg.tunnelJournal !== null) this.openJournal(cfg, cfg.tunnelJournal);
  }

  close(): void {
    this.journal?.close();
  }

  private serialized<T>(run: () => Promise<T>): Promise<T> {
    const next = this.queue.then(run, run);
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** With a journal: opens it where the configuration's read of it ended,
   * and indexes the tunnels; remembers the file's own tunnels (those a
   * reload compares to know whether the journal's tail is all that changed). */
  private openJournal(cfg: ServerConfig, path: string): void {
    this.journal?.close();
    this.journal = new TunnelJournal(path, cfg.journalRead ?? positionOf(readJournal(path)));
    this.index = new TunnelIndex(cfg.tunnels);
    this.fileTunnels = fileTunnelsKey(loadConfig(cfg.file, { journal: false }));
  }

  /** With store.etcd, once this server's tunnels are up: every tunnel of
   * the registry is indexed (names, endpoints and prefixes are unique across
   * servers), and the registry followed from the revision it was read at. */
  followRegistry(registry: EtcdRegistry, all: TunnelConfig[], revision: number): void {
    this.registry = registry;
    this.index = new TunnelIndex(all);
    const log = this.host.log;
    registry.follow(revision + 1, {
      // The index at once (an edit waiting to catch up checks against it), the tunnels in turn.
      changes: (list) => this.queueApply(this.noteRegistry(list)),
      resync: (records) => {
        log.warn('the registry watch fell behind etcd\'s compaction: read whole again, the difference applied', { tunnels: records.size });
        this.queueApply(this.noteRegistry(this.registryDiff(records)));
      },
      connection: (lost) => (lost
        ? log.warn('etcd unreachable: forwarding goes on with the registry as last read; changes are refused until it is back')
        : log.info('etcd reachable again: catching up from the last revision seen')),
    });
  }

  private queueApply(own: Change[]): void {
    if (own.length === 0) return;
    void this.serialized(() => this.applyOwn(own)).catch((e: Error) => this.host.log.error('applying registry changes failed', { error: (e as Error).message }));
  }

  /** The changes that turn the index into records (after compaction: a whole read). */
  private registryDiff(records: Map<string, TunnelRecord>): RegistryChange[] {
    const out: RegistryChange[] = [];
    for (const [name, record] of records) out.push({ name, record });
    for (const t of this.index!.all()) if (!records.has(t.name)) out.push({ name: t.name, record: null });
    return out;
  }

  /** Registry changes, another server's or this one's own, into the index
   * and this server's list of tunnels (a tunnel moving to or from this server
   * is added or removed here); returns what the datapath and kernel must do.
   * A record seen before changes nothing. */
  private noteRegistry(changes: RegistryChange[]): Change[] {
    const cfg = this.host.cfg as ServerConfig;
    const index = this.index!;
    const own: Change[] = [];
    for (const { name, record } of changes) {
      let next: TunnelConfig | undefined;
      if (record !== null) {
        try {
          next = tunnelFromRecord(record, `etcd ${cfg.etcd!.prefix}tunnels/${name}`, null);
        } catch (e) {
          this.host.log.error('ignoring a registry record that is not a tunnel', { tunnel: name, error: (e as Error).message });
          continue;
        }
      }
      const current = index.get(name);
      if (current && next && sameTunnel(current, next) && current.server === next.server) continue;
      if (!current && !next) continue;
      if (next) index.put(next);
      else index.remove(name);
      const before = current && carries(cfg, current) ? current : undefined;
      const after = next && carries(cfg, next) ? next : undefined;
      if (!before && !after) continue;
      if (before && after) cfg.tunnels[cfg.tunnels.indexOf(before)] = after;
      else if (before) cfg.tunnels.splice(cfg.tunnels.indexOf(before), 1);
      else cfg.tunnels.push(after!);
      own.push({ name, before, after });
    }
    return own;
  }

  private async applyOwn(own: Change[]): Promise<void> {
    const cfg = this.host.cfg as ServerConfig;
    const result = await this.apply(cfg, cfg, own);
    this.host.persistOwned();
    this.host.log.info('registry changes applied', { added: result.added.length, removed: result.removed.length, changed: result.changed.length });
  }

  /** One change with store.etcd: built from every server's tunnels as this
   * server knows them, written as a compare-and-set transaction (after
   * another server's write: caught up, built and checked again, a pool
   * prefix taken anew), then applied here if this server carries it. */
  private async editRegistry(cfg: ServerConfig, registry: EtcdRegistry, e: TunnelEdit): Promise<ChangeResult> {
    const index = this.index!;
    await registry.write(() => {
      const current = index.get(e.name);
      if (e.op === 'add' && current) throw new EditError(`a tunnel named ${e.name} exists already (in the registry)`, 'EEXIST');
      if (e.op !== 'add' && !current) throw new EditError(`no tunnel named ${e.name}`, 'ENOENT');
      if (e.op === 'remove') return { name: e.name, record: null };
      const fields = e.op === 'add' && e.allocate ? this.allocate(cfg, e.fields, e.allocate.routed48) : e.fields;
      const given = Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) as Record<string, unknown>;
      const record = { ...(current ? tunnelRecord(current) : {}), ...given, name: e.name } as TunnelRecord;
      let next: TunnelConfig;
      try {
        next = tunnelFromRecord(record, 'the registry', null);
      } catch (err) {
        throw err instanceof ConfigError ? flagError(err, given) : err;
      }
      const conflict = index.conflict(next, this.host.localIpv4, cfg);
      if (conflict) throw new EditError(`${flagOf(conflict.field)}: ${conflict.message}`);
      return { name: e.name, record: tunnelRecord(next) };
    }).catch((err: Error) => {
      if (err instanceof EditError || err instanceof ConfigError) throw err;
      throw new EditError(`the registry in etcd cannot be changed now, nothing changed: ${err.message}`, (err as { code?: string }).code ?? 'EIO');
    }).then(async ({ change }) => {
      const own = this.noteRegistry([change]);
      if (own.length > 0) await this.applyOwn(own);
    });
    return { added: e.op === 'add' ? [e.name] : [], removed: e.op === 'remove' ? [e.name] : [], changed: e.op === 'set' ? [e.name] : [] };
  }

  /** Before the drop to `user:`: the journal becomes that user's. */
  giveJournalTo(uid: number, gid: number): void {
    this.journal?.giveTo(uid, gid);
  }

  /** A tunnel by name (indexed with a journal). */
  get(name: string): TunnelConfig | undefined {
    const cfg = this.host.cfg;
    return this.index?.get(name) ?? (cfg.mode === 'server' ? cfg.tunnels.find((x) => x.name === name) : undefined);
  }

  /** Applies changes to the datapath and the kernel: removals, moves in
   * place, re-adds (any other change), additions. */
  private async apply(before: ServerConfig, after: ServerConfig, changes: Change[]): Promise<ChangeResult> {
    const result: ChangeResult = { added: [], removed: [], changed: [] };
    const remove: TunnelConfig[] = [];
    const add: TunnelConfig[] = [];
    for (const { name, before: b, after: a } of changes) {
      if (b === a || (b && a && sameTunnel(a, b))) continue;
      if (!a) {
        remove.push(b!);
        result.removed.push(name);
      } else if (!b) {
        add.push(a);
        result.added.push(name);
      } else {
        result.changed.push(name);
        if (!sameExceptEndpoint(a, b)) {
          remove.push(b);
          add.push(a);
        } else if (a.clientIpv4 !== b.clientIpv4) this.host.moveTunnel(name, a.clientIpv4);
      }
    }
    await this.host.removeTunnels(before, remove);
    await this.host.addTunnels(after, add);
    return result;
  }

  /** SIGHUP: re-reads the configuration and applies the difference. With a
   * tunnel journal whose file tunnels did not change, only the journal's
   * lines appended since (by another writer) are read and applied: the cost
   * of the change, not of the 10^5 tunnels. */
  reloadFromDisk(): Promise<ChangeResult> {
    return this.serialized(async () => {
      const { journal } = this;
      const file = this.host.cfg.file;
      if (this.registry) {
        // The tunnels are the registry's: the file gives the settings (server_groups among them).
        const next = loadConfig(file) as ServerConfig;
        next.tunnels = [...this.index!.all()].filter((t) => carries(next, t));
        return this.reload(next);
      }
      if (journal === null || this.host.cfg.mode !== 'server') return this.reload(loadConfig(file));
      const fileOnly = loadConfig(file, { journal: false });
      const tail = fileOnly.mode === 'server' && fileOnly.tunnelJournal === journal.path && fileTunnelsKey(fileOnly) === this.fileTunnels ? journal.readAppended() : null;
      if (tail === null) {
        const next = loadConfig(file);
        const diff = await this.reload(next);
        if (next.mode === 'server' && next.tunnelJournal !== null) this.openJournal(next, next.tunnelJournal);
        return diff;
      }
      this.host.takeSettings(fileOnly);
      this.host.cfg = { ...(fileOnly as ServerConfig), tunnels: (this.host.cfg as ServerConfig).tunnels };
      return this.applyJournalTail(this.host.cfg as ServerConfig, journal, tail);
    });
  }

  /** Lines another writer appended to the journal, checked one by one
   * against the index as the earlier ones leave it; all or nothing. A put
   * makes the tunnel what the line says, a del removes it (so that reading a
   * line twice changes nothing). */
  private async applyJournalTail(cfg: ServerConfig, journal: TunnelJournal, tail: JournalTail): Promise<ChangeResult> {
    const index = this.index!;
    const undo: Array<() => void> = [];
    const changes = new Map<string, Change>();
    try {
      for (const { line, number } of tail.lines) {
        const name = line.op === 'put' ? line.tunnel.name : line.name;
        const current = index.get(name);
        if (!changes.has(name)) changes.set(name, { name, before: current, after: current });
        if (line.op === 'del') {
          if (!current) continue;
          index.remove(name);
          undo.push(() => index.put(current));
          changes.get(name)!.after = undefined;
          continue;
        }
        const next = tunnelFromRecord(line.tunnel, journal.path, number);
        if (current && sameTunnel(next, current)) continue;
        const conflict = index.conflict(next, this.host.localIpv4, cfg);
        if (conflict) throw new ConfigError(journal.path, number, `tunnels.${name}.${conflict.field}`, conflict.message);
        index.put(next);
        undo.push(() => (current ? index.put(current) : index.remove(name)));
        changes.get(name)!.after = next;
      }
    } catch (e) {
      for (const u of undo.reverse()) u();
      throw e;
    }
    let liveChange = 0;
    for (const { before, after } of changes.values()) {
      if (before === after) continue;
      if (!after) {
        cfg.tunnels.splice(cfg.tunnels.indexOf(before!), 1);
        liveChange--;
      } else if (!before) {
        cfg.tunnels.push(after);
        liveChange++;
      } else cfg.tunnels[cfg.tunnels.indexOf(before)] = after;
    }
    journal.advance(tail, liveChange);
    const result = await this.apply(cfg, cfg, [...changes.values()]);
    this.host.persistOwned();
    return result;
  }

  /** Applies the difference in tunnels between the running configuration and next. */
  async reload(next: Config): Promise<ChangeResult> {
    this.host.takeSettings(next);
    const current = this.host.cfg;
    let result: ChangeResult = { added: [], removed: [], changed: [] };
    if (next.mode === 'server' && current.mode === 'server') {
      const before = new Map(current.tunnels.map((t) => [t.name, t]));
      const after = new Map(next.tunnels.map((t) => [t.name, t]));
      const names = new Set([...before.keys(), ...after.keys()]);
      result = await this.apply(current, next, [...names].map((name) => ({ name, before: before.get(name), after: after.get(name) })));
    }
    this.host.cfg = next;
    if (this.index && !this.registry && next.mode === 'server') this.index = new TunnelIndex(next.tunnels);
    this.host.refreshNdpTargets();
    this.host.persistOwned();
    return result;
  }

  /** Runs configuration edits one at a time: validate, write the file, then
   * apply (or, with a tunnel journal, validate, append, apply; with a shared
   * registry, validate, write in etcd, apply). */
  edit(edits: TunnelEdit[], fromFlags = false): Promise<ChangeResult> {
    return this.serialized(async () => {
      const cfg = this.host.cfg;
      if (cfg.mode !== 'server') throw Object.assign(new Error('tunnels can only be changed on a server'), { code: 'EINVAL' });
      // A shared registry allocates inside each attempt of its write: another server may take a prefix first.
      const { registry } = this;
      if (registry) return eachEdit(edits, (e) => this.editRegistry(cfg, registry, e));
      // Allocation inside the serialized edit: two adds cannot take the same prefix.
      edits = edits.map((e) => (e.op === 'add' && e.allocate ? { ...e, fields: this.allocate(cfg, e.fields, e.allocate.routed48) } : e));
      const { journal } = this;
      if (journal) return eachEdit(edits, (e) => this.editJournal(cfg, journal, e));
      const { text, config } = editTunnels(readFileSync(cfg.file, 'utf8'), cfg.file, edits, fromFlags);
      // Written first: a change that cannot be kept (a read-only file
      // system, a file the dropped user may not replace) is not made at all.
      try {
        writeAtomically(cfg.file, text);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        throw new EditError(`cannot write ${cfg.file}, nothing changed: ${(e as Error).message}${cfg.user !== null ? ` (running as ${cfg.user}: keep tunnels in a tunnel_journal that user may write)` : ''}`, code ?? 'EIO');
      }
      const diff = await this.reload(config);
      this.host.log.info('configuration changed', { file: cfg.file, ...diff });
      return diff;
    });
  }

  /** Fills what `tunnel add` left out from the pools (as Tunnel Broker gives a
   * new tunnel its pair and a /64): the first free prefix of each pool. */
  private allocate(cfg: ServerConfig, fields: TunnelFields, routed48: boolean): TunnelFields {
    const pools = cfg.pools;
    const index = this.index ?? new TunnelIndex(cfg.tunnels);
    const out: TunnelFields = { ...fields };
    const take = (pool: IpPrefix | null, length: number, name: string): IpPrefix => {
      if (pool === null) throw new EditError(`no pools.${name} in ${cfg.file} to take a /${length} from: give it with its flag, or configure the pool`);
      const p = index.allocate(pool, length);
      if (p === null) throw new EditError(`pools.${name} ${formatPrefix(pool)} is full`, 'ENOSPC');
      return p;
    };
    if (out.server_ipv6 === undefined && out.client_ipv6 === undefined) {
      const pair = take(pools.pairs, pools.pairLength, 'pairs');
      // A /127: the server the even address, the client the odd one; a /64: ::1 and ::2 (as Tunnel Broker).
      const server = pair.bytes.slice();
      const client = pair.bytes.slice();
      if (pools.pairLength === 64) server[15] = 1;
      client[15] = pools.pairLength === 64 ? 2 : client[15] | 1;
      out.server_ipv6 = `${formatIp(server)}/${pools.pairLength}`;
      out.client_ipv6 = formatIp(client);
    }
    if (out.routed_prefixes === undefined && pools.routed64 !== null) out.routed_prefixes = [formatPrefix(take(pools.routed64, 64, 'routed64'))];
    if (routed48) out.routed_prefixes = [...(out.routed_prefixes ?? []), formatPrefix(take(pools.routed48, 48, 'routed48'))];
    return out;
  }

  /** One change with a tunnel journal: checked against the index of the
   * other tunnels (no pass over them), appended and synced, then applied to
   * this tunnel alone. Costs the same with 10 or 10^5 tunnels. */
  private async editJournal(cfg: ServerConfig, journal: TunnelJournal, e: TunnelEdit): Promise<ChangeResult> {
    const index = this.index!;
    const current = index.get(e.name);
    if (e.op === 'add' && current) throw new EditError(`a tunnel named ${e.name} exists already (in ${journal.path})`, 'EEXIST');
    if (e.op !== 'add' && !current) throw new EditError(`no tunnel named ${e.name}`, 'ENOENT');
    let next: TunnelConfig | undefined;
    if (e.op === 'remove') {
      journal.remove(e.name);
      index.remove(e.name);
      cfg.tunnels.splice(cfg.tunnels.indexOf(current!), 1);
    } else {
      const given = Object.fromEntries(Object.entries(e.fields).filter(([, v]) => v !== undefined)) as Record<string, unknown>;
      const record = { ...(current ? tunnelRecord(current) : {}), ...given, name: e.name } as TunnelRecord;
      try {
        next = tunnelFromRecord(record, journal.path, null);
      } catch (err) {
        throw err instanceof ConfigError ? flagError(err, given) : err;
      }
      const conflict = index.conflict(next, this.host.localIpv4, cfg);
      if (conflict) throw new EditError(`${flagOf(conflict.field)}: ${conflict.message}`);
      journal.put(record, current === undefined);
      index.put(next);
      if (current) cfg.tunnels[cfg.tunnels.indexOf(current)] = next;
      else cfg.tunnels.push(next);
    }
    const result = await this.apply(cfg, cfg, [{ name: e.name, before: current, after: next }]);
    // A set that changed nothing is still reported as the change it was asked for.
    if (e.op === 'set' && result.changed.length === 0) result.changed.push(e.name);
    this.host.persistOwned();
    if (journal.needsCompaction) this.compact(cfg, journal);
    return result;
  }

  /** Queued behind the change that made it due, like any other: no append runs meanwhile. */
  private compact(cfg: ServerConfig, journal: TunnelJournal): void {
    void this.serialized(() => journal.compact(cfg.tunnels.map(tunnelRecord)).then(
      (done) => {
        if (done) this.host.log.info('tunnel journal compacted', { file: journal.path, tunnels: cfg.tunnels.length });
      },
      (err: Error) => this.host.log.error('tunnel journal compaction failed', { file: journal.path, error: err.message }),
    ));
  }

  /** `sixtun tunnel add|remove|set|key NAME …` */
  async command(req: ControlRequest): Promise<unknown> {
    const name = String(req.name ?? '');
    const fields = (req.fields ?? {}) as TunnelFields;
    switch (req.op) {
      case 'add': {
        const allocate = req.allocate === true || req.routed48 === true ? { routed48: req.routed48 === true } : undefined;
        return { ...(await this.edit([{ op: 'add', name, fields, allocate }], true)), tunnel: this.summary(name) };
      }
      case 'remove': {
        const before = this.summary(name);
        return { ...(await this.edit([{ op: 'remove', name }], true)), tunnel: before };
      }
      case 'set':
        return { ...(await this.edit([{ op: 'set', name, fields }], true)), tunnel: this.summary(name) };
      case 'key': {
        const { key, hash } = await makeUpdateKey();
        await this.edit([{ op: 'set', name, fields: { update_key_hash: hash } }], true);
        return { tunnel: name, key };
      }
      default:
        throw Object.assign(new Error(`unknown tunnel operation ${JSON.stringify(req.op)}: add, remove, set or key`), { code: 'EINVAL' });
    }
  }

  /** The tunnel as the CLI reports a change: its endpoint, pair and routes. */
  private summary(name: string): TunnelSummary | null {
    const t = this.get(name);
    return t ? { name, client_ipv4: t.clientIpv4, server_ipv6: formatPrefix(t.serverIpv6), client_ipv6: t.clientIpv6, routed_prefixes: t.routedPrefixes.map(formatPrefix) } : null;
  }

  /** The update API's view of the tunnels; reachable, if given, is asked of every new endpoint. */
  updateBackend(reachable?: (ipv4: string) => Promise<boolean>): UpdateBackend {
    return {
      reachable,
      lookup: (name) => {
        const t = this.get(name);
        return t ? { user: t.user, keyHash: t.updateKeyHash, currentIpv4: t.clientIpv4 } : null;
      },
      refuse: async (ip, name) => {
        if (ip === this.host.localIpv4) return 'the server’s own address';
        const v = parseIpv4Address(ip);
        for (const n of await this.host.ipv4Networks()) {
          if (n.address === ip) return 'an address of the server';
          const mask = n.prefixLength === 0 ? 0 : (0xffffffff << (32 - n.prefixLength)) >>> 0;
          // The server's own subnets (its gateway among them) are its neighbours, not tunnel clients.
          if (n.prefixLength < 32 && ((v & mask) >>> 0) === ((parseIpv4Address(n.address) & mask) >>> 0)) return `on the server’s connected subnet ${n.address}/${n.prefixLength}`;
        }
        const cfg = this.host.cfg;
        const other = this.index ? this.index.holderOf(ip) : cfg.mode === 'server' ? cfg.tunnels.find((x) => x.clientIpv4 === ip)?.name : undefined;
        return other !== undefined && other !== name ? `in use by tunnel ${other}` : null;
      },
      apply: async (name, ip, requestFrom) => {
        const was = this.get(name)?.clientIpv4 ?? null;
        await this.edit([{ op: 'set', name, fields: { client_ipv4: ip } }]);
        const c = this.endpointChanges.get(name) ?? { count: 0, last: 0, from: '' };
        this.endpointChanges.set(name, { count: c.count + 1, last: Date.now(), from: requestFrom });
        // from/to: the endpoint before and after; by: where the update came from (often the new endpoint).
        this.host.log.info('endpoint changed', { tunnel: name, from: was, to: ip, by: requestFrom });
      },
      log: (msg, fields) => this.host.log.warn(msg, fields),
    };
  }
}

/** Edits one after another, their results together. */
async function eachEdit(edits: TunnelEdit[], one: (e: TunnelEdit) => Promise<ChangeResult>): Promise<ChangeResult> {
  const result: ChangeResult = { added: [], removed: [], changed: [] };
  for (const e of edits) {
    const r = await one(e);
    result.added.push(...r.added);
    result.removed.push(...r.removed);
    result.changed.push(...r.changed);
  }
  return result;
}

function fileTunnelsKey(cfg: Config): string {
  return cfg.mode === 'server' ? JSON.stringify(cfg.tunnels.map(tunnelRecord)) : '';
}
