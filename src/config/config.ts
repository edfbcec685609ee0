// Configuration: one YAML file per node. Every error names the file, the
// line, the field and what was expected.
import { readFileSync } from 'node:fs';
import { ENDPOINT_RANGE_CLASSES, endpointProblem, type EndpointRangeClass } from './endpoint.js';
import { LineCounter, parseDocument, isMap, isSeq, type Node as YamlNode, type Document } from 'yaml';
import { formatIp, formatPrefix, hex128, lastAddress, maskBytes, parseIp, parsePrefix, prefixContains, type IpPrefix } from '../wire/address.js';
import type { PerTunnelMetrics } from '../control/metrics.js';
import { isAbsolute } from 'node:path';
import { hostname } from 'node:os';
import { JournalError, positionOf, readJournal, type JournalPosition, type TunnelRecord } from '../store/journal.js';

export const MTU_MIN = 1280;
export const MTU_MAX = 1480;
export const DEFAULT_MTU = 1480;
export const DEFAULT_TTL = 255;
export const DEFAULT_TXQUEUELEN = 5000;

export type NdpMode = 'userspace' | 'kernel' | 'off';

export interface TunnelConfig {
  name: string;
  clientIpv4: string;
  /** The server's end of the pair, with the pair's length. */
  serverIpv6: IpPrefix;
  clientIpv6: string;
  routedPrefixes: IpPrefix[];
  /** HTTP Basic user for the update API (default: the tunnel name). */
  user: string;
  /** scrypt hash of the update key, if one was made. */
  updateKeyHash: string | null;
  /** Which server carries it, by `server_name` or one of `server_groups`
   * (several servers sharing a registry); null: every server. */
  server: string | null;
}

/** A tunnel as the file and the journal write it (the YAML field names). */
export function tunnelRecord(t: TunnelConfig): TunnelRecord {
  const r: TunnelRecord = { name: t.name, client_ipv4: t.clientIpv4, server_ipv6: `${formatIp(t.serverIpv6.bytes)}/${t.serverIpv6.length}`, client_ipv6: t.clientIpv6 };
  if (t.routedPrefixes.length > 0) r.routed_prefixes = t.routedPrefixes.map(formatPrefix);
  if (t.user !== t.name) r.user = t.user;
  if (t.updateKeyHash !== null) r.update_key_hash = t.updateKeyHash;
  if (t.server !== null) r.server = t.server;
  return r;
}

/** Whether this server carries tunnel t. */
export function carries(cfg: ServerConfig, t: TunnelConfig): boolean {
  return t.server === null || t.server === cfg.serverName || cfg.serverGroups.includes(t.server);
}

/** One tunnel from a record (a journal line, or fields given to `sixtun tunnel`),
 * checked like a tunnel of the file; errors name file and line. */
export function tunnelFromRecord(raw: unknown, file: string, line: number | null): TunnelConfig {
  const ctx: ParseContext = { file, lines: new LineCounter(), errors: [], suggested: new Set() };
  const name = raw !== null && typeof raw === 'object' && typeof (raw as { name?: unknown }).name === 'string' ? (raw as { name: string }).name : '?';
  const root = new Fields(ctx, null, '', { tunnel: raw }, line);
  const t = root.collect(() => tunnelConfig(root.child(`tunnels.${name}`, raw, null, line)), null);
  if (ctx.errors.length > 0 || t === null) throw new ConfigErrors(ctx.errors);
  return t;
}

interface CommonConfig {
  file: string;
  interface: string;
  mtu: number;
  /** 0 = inherit the inner hop limit. */
  ttl: number;
  tosInherit: boolean;
  pmtuDiscovery: boolean;
  /** Drive the TUN with IFF_VNET_HDR offloads (TSO, GRO) when the kernel allows. */
  offload: boolean;
  txQueueLen: number;
  controlSocket: string;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  /** Run as this user (name or uid) after opening devices and sockets. */
  user: string | null;
  /** Group that may use the control socket (mode 0660 instead of 0600). */
  controlGroup: string | null;
  /** Prometheus listener, e.g. { host: '::1', port: 9641 }, and which tunnels get series of their own. */
  metrics: { host: string; port: number; perTunnel: PerTunnelMetrics } | null;
}

export interface ServerConfig extends CommonConfig {
  mode: 'server';
  localIpv4: string;
  externalInterface: string | null;
  ndp: NdpMode;
  /** Answer NS for whole routed prefixes too (like ndppd's static rule). */
  ndpRoutedPrefixes: boolean;
  ndpRouterFlag: boolean;
  /** Also answer for each tunnel's server address (when the pair is on-link upstream). */
  ndpServerAddresses: boolean;
  /** Routed prefixes may be unique local (fc00::/7) as well as global unicast. */
  allowUlaRoutes: boolean;
  /** Special IPv4 ranges a tunnel's client_ipv4 may be in (see endpoint.ts). */
  endpointRanges: EndpointRangeClass[];
  /** The longest routed prefix a tunnel may have. */
  maxRoutedLength: number;
  /** Userspace answers per second per solicitor. */
  ndpRate: number;
  /** Tunnels changed at run time go to this journal (JSON lines) instead of the file. */
  tunnelJournal: string | null;
  /** Where reading the journal ended (null: not read). */
  journalRead: JournalPosition | null;
  /** Where `sixtun tunnel add` takes a tunnel's addresses from when none are given. */
  pools: { pairs: IpPrefix | null; pairLength: 64 | 127; routed64: IpPrefix | null; routed48: IpPrefix | null };
  /** Seconds without a received packet after which NDP answers for a tunnel stop (0: never). */
  idleTimeout: number;
  /** Tunnel Broker-compatible /nic/update listener; burst: updates a tunnel may
   * make at once before "abuse" (refilled at one every 2 s). */
  updateApi: { host: string; port: number; burst: number; checkReachable: boolean } | null;
  /** This server's name in a shared registry (default: the host name) and the groups it is in. */
  serverName: string;
  serverGroups: string[];
  /** The tunnels live in etcd, shared with other servers (`store: {etcd: …}`). */
  etcd: EtcdStoreConfig | null;
  tunnels: TunnelConfig[];
}

export interface EtcdStoreConfig {
  endpoints: string[];
  /** Key prefix of this registry, e.g. /sixtun/. */
  prefix: string;
  username: string | null;
  password: string | null;
  tls: { ca: string | null; cert: string | null; key: string | null } | null;
}

export interface ClientConfig extends CommonConfig {
  mode: 'client';
  serverIpv4: string;
  /** null: found with a route lookup towards the server. */
  localIpv4: string | null;
  clientIpv6: IpPrefix;
  serverIpv6: string;
  defaultRoute: boolean;
  routes: IpPrefix[];
  /** Tell the server about a new local IPv4 through its update URL. */
  update: { url: string; user: string; key: string } | null;
  /** Route for a LAN behind the client: IPv6 forwarding on (all.forwarding=1). */
  forwarding: boolean;
  /** The LAN side of a routed prefix: an address put on this interface. */
  lan: { interface: string; address: IpPrefix } | null;
}

export type Config = ServerConfig | ClientConfig;

export class ConfigError extends Error {
  readonly code = 'ECONFIG';
  constructor(readonly file: string, readonly line: number | null, readonly field: string, readonly expected: string) {
    super(`${file}${line !== null ? `:${line}` : ''}: ${field}: ${expected}`);
    this.name = 'ConfigError';
  }
}

/** Every error of one file, reported at once (sorted by line). The first one's
 * file, line, field and expectation stay readable as a single ConfigError. */
export class ConfigErrors extends ConfigError {
  constructor(readonly errors: ConfigError[]) {
    super(errors[0].file, errors[0].line, errors[0].field, errors[0].expected);
    if (errors.length > 1) this.message = `${errors[0].file}: ${errors.length} errors:\n${errors.map((e) => `  ${e.message}`).join('\n')}`;
    this.name = 'ConfigErrors';
  }
}

/** Edit distance, for "did you mean" on unknown keys. */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length];
}

function closest(key: string, known: Iterable<string>): string | null {
  let best: string | null = null;
  let bestD = Infinity;
  for (const k of known) {
    const d = editDistance(key.toLowerCase(), k);
    if (d < bestD) {
      best = k;
      bestD = d;
    }
  }
  return best !== null && bestD <= Math.max(2, Math.floor(key.length / 3)) ? best : null;
}

interface ParseContext {
  file: string;
  lines: LineCounter;
  errors: ConfigError[];
  /** Fields an unknown key was probably meant to be ("local_ipv4" for "local_ipv44"). */
  suggested: Set<string>;
}

/** Reads fields of one YAML mapping with positions for errors. */
class Fields {
  private readonly used = new Set<string>();

  constructor(
    private readonly ctx: ParseContext,
    private readonly node: YamlNode | null,
    private readonly path: string,
    private readonly raw: Record<string, unknown>,
    /** The line of a record that has no YAML node (a journal line). */
    private readonly line: number | null = null,
  ) {}

  private lineOf(key?: string): number | null {
    if (this.node === null && this.line !== null) return this.line;
    let n: YamlNode | null | undefined = this.node;
    if (key !== undefined && isMap(this.node)) {
      // "field[3]" points at the fourth item of the list in field.
      const m = /^(.*)\[(\d+)\]$/.exec(key);
      const name = m ? m[1] : key;
      const pair = this.node.items.find((it) => (it.key as { value?: unknown } | null)?.value === name);
      n = (pair?.value as YamlNode | null | undefined) ?? (pair?.key as YamlNode | undefined) ?? this.node;
      if (m && isSeq(n) && n.items[Number(m[2])]) n = n.items[Number(m[2])] as YamlNode;
    }
    const offset = n?.range?.[0];
    return offset === undefined ? null : this.ctx.lines.linePos(offset).line;
  }

  name(key: string): string {
    return this.path ? `${this.path}.${key}` : key;
  }

  /** For mappings read from elsewhere (journal records) into the same error list. */
  get context(): ParseContext {
    return this.ctx;
  }

  get errorCount(): number {
    return this.ctx.errors.length;
  }

  fail(key: string | undefined, expected: string): never {
    throw new ConfigError(this.ctx.file, this.lineOf(key), key === undefined ? this.path || '(top)' : this.name(key), expected);
  }

  has(key: string): boolean {
    return this.raw[key] !== undefined && this.raw[key] !== null;
  }

  get(key: string): unknown {
    this.used.add(key);
    return this.raw[key];
  }

  string(key: string, def?: string): string {
    const v = this.get(key);
    if (v === undefined || v === null) {
      if (def !== undefined) return def;
      this.fail(key, 'is required');
    }
    if (typeof v !== 'string' || v === '') this.fail(key, 'expected a non-empty string');
    return v;
  }

  bool(key: string, def: boolean): boolean {
    const v = this.get(key);
    if (v === undefined || v === null) return def;
    if (typeof v !== 'boolean') this.fail(key, 'expected true or false');
    return v;
  }

  int(key: string, def: number, min: number, max: number): number {
    const v = this.get(key);
    if (v === undefined || v === null) return def;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) this.fail(key, `expected an integer from ${min} to ${max}, got ${JSON.stringify(v)}`);
    return v;
  }

  choice<T extends string>(key: string, options: readonly T[], def: T): T {
    const v = this.get(key);
    if (v === undefined || v === null) return def;
    if (typeof v !== 'string' || !options.includes(v as T)) this.fail(key, `expected one of ${options.join(', ')}, got ${JSON.stringify(v)}`);
    return v as T;
  }

  ipv4(key: string, required: true): string;
  ipv4(key: string, required: false): string | null;
  ipv4(key: string, required: boolean): string | null {
    const v = this.get(key);
    if (v === undefined || v === null) {
      if (required) this.fail(key, 'is required: an IPv4 address such as 203.0.113.1');
      return null;
    }
    try {
      if (typeof v !== 'string') throw new Error();
      const a = parseIp(v);
      if (a.family !== 4) throw new Error();
      return formatIp(a.bytes);
    } catch {
      return this.fail(key, `expected an IPv4 address such as 203.0.113.1, got ${JSON.stringify(v)}`);
    }
  }

  ipv6(key: string): string {
    const v = this.get(key);
    if (v === undefined || v === null) this.fail(key, 'is required: an IPv6 address such as 2001:db8:ff::3');
    try {
      if (typeof v !== 'string') throw new Error();
      const a = parseIp(v);
      if (a.family !== 6) throw new Error();
      return formatIp(a.bytes);
    } catch {
      return this.fail(key, `expected an IPv6 address such as 2001:db8:ff::3, got ${JSON.stringify(v)}`);
    }
  }

  /** An interface address with its prefix length, e.g. 2001:db8:ff::2/127. */
  ipv6WithLength(key: string, allowed: readonly number[]): IpPrefix {
    const v = this.get(key);
    if (typeof v !== 'string' || !v.includes('/')) this.fail(key, `expected an IPv6 address with its prefix length (/${allowed.join(' or /')}), e.g. 2001:db8:ff::2/127`);
    let p: IpPrefix;
    try {
      p = parsePrefix(v, false);
    } catch (e) {
      return this.fail(key, (e as Error).message);
    }
    if (p.family !== 6 || !allowed.includes(p.length)) this.fail(key, `expected an IPv6 address with prefix length /${allowed.join(' or /')}, got ${JSON.stringify(v)}`);
    return p;
  }

  stringList(key: string): string[] {
    const v = this.get(key);
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) this.fail(key, 'expected a list of strings');
    return v.map((item, i) => {
      if (typeof item !== 'string' || item === '') this.fail(`${key}[${i}]`, 'expected a non-empty string');
      return item;
    });
  }

  prefixList(key: string): IpPrefix[] {
    const v = this.get(key);
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) this.fail(key, 'expected a list of IPv6 prefixes such as [2001:db8:100::/64]');
    return v.map((item, i) => {
      try {
        if (typeof item !== 'string' || !item.includes('/')) throw new Error(`expected an IPv6 prefix such as 2001:db8:100::/64, got ${JSON.stringify(item)}`);
        const p = parsePrefix(item, true);
        if (p.family !== 6) throw new Error(`expected an IPv6 prefix, got ${JSON.stringify(item)}`);
        return p;
      } catch (e) {
        return this.fail(`${key}[${i}]`, (e as Error).message);
      }
    });
  }

  child(key: string, value: unknown, node: YamlNode | null, line: number | null = this.line): Fields {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) this.fail(key, 'expected a mapping of fields');
    // A child named like "tunnels.NAME" is a path of its own (journal records), not a field of this mapping.
    return new Fields(this.ctx, node, key.includes('.') ? key : this.name(key), value as Record<string, unknown>, line);
  }

  /** Runs one field's read; a failure is recorded and fallback used, so that
   * every error of the file is found in one pass. */
  collect<T>(read: () => T, fallback: T): T {
    try {
      return read();
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      this.ctx.errors.push(e);
      return fallback;
    }
  }

  /** Unknown keys are errors: a typo must not silently become a default. */
  done(): void {
    for (const k of Object.keys(this.raw)) {
      if (this.used.has(k)) continue;
      const guess = closest(k, this.used);
      if (guess !== null) this.ctx.suggested.add(this.name(guess));
      this.collect(() => this.fail(k, guess !== null ? `unknown field (did you mean ${guess}?)` : `unknown field (known here: ${[...this.used].sort().join(', ')})`), undefined);
    }
  }
}

const IFNAME = /^[A-Za-z0-9_.:-]{1,15}$/;

/** Per mode and interface, so that a server and a client on one machine (in
 * two namespaces, both on sixtun0) do not meet on one socket. */
/** Accounts sixtun refuses to become: root drops nothing, and nobody is
 * shared by unrelated services (whatever runs as nobody could signal and
 * trace the daemon). */
export function refusedUser(name: string): string | null {
  if (name === 'root' || name === '0') return 'root keeps every privilege: give sixtun a user of its own (useradd --system sixtun)';
  if (name === 'nobody' || name === '65534') return 'nobody is shared by unrelated services, which could then signal sixtun: give it a user of its own (useradd --system sixtun)';
  return null;
}

export function defaultControlSocket(mode: 'server' | 'client', iface: string): string {
  return `/run/sixtun/${mode}-${iface}.sock`;
}

function common(f: Fields, file: string, mode: 'server' | 'client'): CommonConfig {
  const iface = f.collect(() => {
    const name = f.string('interface', 'sixtun0');
    if (!IFNAME.test(name)) f.fail('interface', 'expected an interface name of 1 to 15 letters, digits or _.:-');
    return name;
  }, 'sixtun0');
  const ttl = f.collect(() => {
    const raw = f.get('ttl');
    if (raw === 'inherit') return 0;
    if (raw === undefined || raw === null) return DEFAULT_TTL;
    if (typeof raw !== 'number' || !Number.isInteger(raw) || raw < 1 || raw > 255) f.fail('ttl', `expected 1..255 or inherit, got ${JSON.stringify(raw)}`);
    return raw;
  }, DEFAULT_TTL);
  const tosInherit = f.collect(() => {
    const raw = f.get('tos');
    if (raw !== undefined && raw !== null && raw !== 'inherit' && raw !== 0) f.fail('tos', `expected 0 or inherit, got ${JSON.stringify(raw)}`);
    return raw === 'inherit';
  }, false);
  return {
    file,
    interface: iface,
    mtu: f.collect(() => f.int('mtu', DEFAULT_MTU, MTU_MIN, MTU_MAX), DEFAULT_MTU),
    ttl,
    tosInherit,
    pmtuDiscovery: f.collect(() => f.bool('pmtu_discovery', true), true),
    offload: f.collect(() => f.bool('offload', true), true),
    txQueueLen: f.collect(() => f.int('txqueuelen', DEFAULT_TXQUEUELEN, 1, 1_000_000), DEFAULT_TXQUEUELEN),
    controlSocket: f.collect(() => f.string('control_socket', defaultControlSocket(mode, iface)), ''),
    logLevel: f.collect(() => f.choice('log_level', ['debug', 'info', 'warn', 'error'] as const, 'info'), 'info'),
    metrics: f.collect(() => metricsConfig(f), null),
    user: f.collect(() => {
      if (!f.has('user')) return (f.get('user'), null);
      // A uid may be given as a number (`user: 990`).
      const raw = f.get('user');
      const name = typeof raw === 'number' && Number.isInteger(raw) && raw >= 0 ? String(raw) : f.string('user');
      const refused = refusedUser(name);
      if (refused !== null) f.fail('user', refused);
      return name;
    }, null),
    controlGroup: f.collect(() => (f.has('control_group') ? f.string('control_group') : (f.get('control_group'), null)), null),
  };
}

/** `KEY: {listen: "ADDR:PORT"}` with ADDR an IP literal ("[::1]:9641", "127.0.0.1:9641"). */
export function listenAddress(f: Fields, key: string, more?: (sub: Fields) => void): { host: string; port: number } | null {
  if (!f.has(key)) {
    f.get(key);
    return null;
  }
  const sub = f.child(key, f.get(key), null);
  const listen = sub.string('listen');
  const m = /^\[([0-9a-fA-F:.]+)\]:(\d{1,5})$/.exec(listen) ?? /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/.exec(listen);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) return sub.fail('listen', `expected ADDR:PORT such as "[::1]:9641" or "127.0.0.1:9641", got ${JSON.stringify(listen)}`);
  try {
    parseIp(m[1]);
  } catch {
    sub.fail('listen', `not an IP address: ${m[1]}`);
  }
  more?.(sub);
  sub.done();
  return { host: m[1], port: Number(m[2]) };
}

function tunnelConfig(f: Fields): TunnelConfig | null {
  const before = f.errorCount;
  const name = f.collect(() => {
    const v = f.string('name');
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(v)) f.fail('name', 'expected 1 to 64 letters, digits or _.-');
    return v;
  }, '');
  const serverIpv6 = f.collect(() => f.ipv6WithLength('server_ipv6', [64, 127]), null);
  const clientIpv6 = f.collect(() => {
    const v = f.ipv6('client_ipv6');
    if (serverIpv6 === null) return v;
    const client = parseIp(v);
    const pair = { ...serverIpv6, bytes: maskBytes(serverIpv6.bytes, serverIpv6.length) };
    if (!prefixContains(pair, client.bytes)) f.fail('client_ipv6', `expected an address inside the pair ${formatPrefix(pair)}`);
    if (formatIp(client.bytes) === formatIp(serverIpv6.bytes)) f.fail('client_ipv6', 'must differ from server_ipv6');
    return v;
  }, '');
  const t = {
    name,
    clientIpv4: f.collect(() => f.ipv4('client_ipv4', true), ''),
    serverIpv6,
    clientIpv6,
    routedPrefixes: f.collect(() => f.prefixList('routed_prefixes'), []),
    user: f.collect(() => f.string('user', name), name),
    updateKeyHash: f.collect(() => (f.has('update_key_hash') ? f.string('update_key_hash') : (f.get('update_key_hash'), null)), null),
    server: f.collect(() => (f.has('server') ? serverName(f, 'server') : (f.get('server'), null)), null),
  };
  f.done();
  return f.errorCount === before && serverIpv6 !== null ? { ...t, serverIpv6 } : null;
}


function serverConfig(f: Fields, doc: Document, file: string, readJournalToo: boolean): ServerConfig {
  const base = common(f, file, 'server');
  const ndp = f.collect(() => f.choice('ndp', ['userspace', 'kernel', 'off'] as const, 'userspace'), 'userspace');
  const cfg: ServerConfig = {
    ...base,
    mode: 'server',
    localIpv4: f.collect(() => f.ipv4('local_ipv4', true), ''),
    externalInterface: f.collect(() => (f.has('external_interface') ? f.string('external_interface') : (f.get('external_interface'), null)), null),
    ndp,
    ndpRoutedPrefixes: f.collect(() => f.bool('ndp_routed_prefixes', false), false),
    ndpRouterFlag: f.collect(() => f.bool('ndp_router_flag', true), true),
    ndpServerAddresses: f.collect(() => f.bool('ndp_server_addresses', false), false),
    allowUlaRoutes: f.collect(() => f.bool('allow_ula_routes', false), false),
    endpointRanges: f.collect(() => f.stringList('endpoint_ranges').map((v, i) => {
      if (!(ENDPOINT_RANGE_CLASSES as readonly string[]).includes(v)) f.fail(`endpoint_ranges[${i}]`, `expected one of ${ENDPOINT_RANGE_CLASSES.join(', ')}, got ${JSON.stringify(v)}`);
      return v as EndpointRangeClass;
    }), []),
    maxRoutedLength: f.collect(() => f.int('max_routed_length', 64, 1, 128), 64),
    ndpRate: f.collect(() => f.int('ndp_rate', 20, 1, 100_000), 20),
    idleTimeout: f.collect(() => f.int('idle_timeout', 0, 0, 10 * 365 * 86400), 0),
    updateApi: f.collect(() => updateApiConfig(f), null),
    pools: f.collect(() => poolsConfig(f, doc.get('pools', true) as YamlNode | null), NO_POOLS),
    tunnelJournal: f.collect(() => {
      if (!f.has('tunnel_journal')) return (f.get('tunnel_journal'), null);
      const path = f.string('tunnel_journal');
      if (!isAbsolute(path)) f.fail('tunnel_journal', `expected an absolute path such as /var/lib/sixtun/tunnels.jsonl, got ${JSON.stringify(path)}`);
      return path;
    }, null),
    journalRead: null,
    serverName: f.collect(() => (f.has('server_name') ? serverName(f, 'server_name') : (f.get('server_name'), defaultServerName())), ''),
    serverGroups: f.collect(() => f.stringList('server_groups').map((g, i) => checkServerName(f, `server_groups[${i}]`, g)), []),
    etcd: f.collect(() => etcdStore(f), null),
    tunnels: [],
  };
  if (cfg.etcd !== null && cfg.tunnelJournal !== null) {
    f.collect(() => f.fail('tunnel_journal', 'goes with the file store, not store.etcd: the registry is in etcd'), undefined);
  }
  if (ndp !== 'off' && cfg.externalInterface === null) {
    f.collect(() => f.fail('external_interface', `is required when ndp is ${ndp}: the interface facing the upstream router`), undefined);
  }
  const raw = f.get('tunnels');
  const list = raw === undefined || raw === null ? [] : raw;
  if (!Array.isArray(list)) return f.collect(() => f.fail('tunnels', 'expected a list of tunnels'), cfg);
  const seq = doc.get('tunnels', true);
  const entry = (i: number): Fields => f.child(`tunnels[${i}]`, list[i], isSeq(seq) ? (seq.items[i] as YamlNode) : null);
  const parsed = list.map((_, i) => f.collect(() => tunnelConfig(entry(i)), null));
  // Where each tunnel came from, for errors of the rules across tunnels.
  const fail: Array<(key: string, expected: string) => void> = list.map((_, i) => (key, expected) => f.collect(() => entry(i).fail(key, expected), undefined));
  if (cfg.tunnelJournal !== null && readJournalToo) {
    // The journal's changes on top of the file's tunnels: a put adds or replaces, a del removes.
    const journal = f.collect(() => {
      try {
        return readJournal(cfg.tunnelJournal!);
      } catch (e) {
        if (e instanceof JournalError) return f.fail('tunnel_journal', e.message);
        return f.fail('tunnel_journal', `cannot read ${cfg.tunnelJournal}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
    }, null);
    if (journal === null) return cfg;
    cfg.journalRead = positionOf(journal);
    for (let i = parsed.length - 1; i >= 0; i--) {
      const name = parsed[i]?.name;
      if (name !== undefined && (journal.records.has(name) || journal.deleted.has(name))) {
        parsed.splice(i, 1);
        fail.splice(i, 1);
      }
    }
    const jctx = { ...f.context, file: cfg.tunnelJournal };
    for (const { record, line } of journal.records.values()) {
      const jf = new Fields(jctx, null, `tunnels.${record.name}`, record as unknown as Record<string, unknown>, line);
      parsed.push(f.collect(() => tunnelConfig(jf), null));
      fail.push((key, expected) => f.collect(() => jf.fail(key, expected), undefined));
    }
  }
  if (cfg.etcd !== null && parsed.length > 0) {
    return f.collect(() => f.fail('tunnels', 'with store.etcd the tunnels live in etcd: move them there with `sixtun store migrate`'), cfg);
  }
  // Cross-tunnel rules among the tunnels that are whole: a bad one hides no other's errors.
  const whole = parsed.flatMap((t, i) => (t === null ? [] : [i]));
  cfg.tunnels = whole.map((i) => parsed[i]!);
  // With a journal, list positions mean nothing to the reader: tunnels are named.
  const refer = cfg.tunnelJournal === null ? (k: number): string => `tunnels[${whole[k]}].` : (k: number): string => `tunnel ${cfg.tunnels[k].name}: `;
  checkTunnelSet(cfg, (k, key, expected) => fail[whole[k]](key, expected), refer);
  return cfg;
}

/** Cross-tunnel rules: unique names and remotes, no overlapping inner space.
 * Linear after one sort: prefixes are nested or disjoint, so walking them in
 * address order with a stack of the enclosing ones finds every overlap
 * (each prefix meets at most its innermost encloser), O(n log n) for n prefixes. */
/** What makes p unfit to be routed to a client, or null: only global unicast
 * (2000::/3; unique local fc00::/7 when allowed), no longer than allowed.
 * Link-local, multicast, loopback and the other special prefixes would make
 * the server send a client what is not the Internet's. */
export function routedPrefixProblem(p: IpPrefix, policy: Partial<Pick<ServerConfig, 'allowUlaRoutes' | 'maxRoutedLength'>>): string | null {
  const max = policy.maxRoutedLength ?? 64;
  const ula = p.length >= 7 && (p.bytes[0] & 0xfe) === 0xfc;
  if (ula && !policy.allowUlaRoutes) return `${formatPrefix(p)} is unique local (fc00::/7): set allow_ula_routes: true to route it to a client`;
  if (!ula && !(p.length >= 3 && (p.bytes[0] & 0xe0) === 0x20)) return `${formatPrefix(p)} is not global unicast (2000::/3): link-local, multicast and other special prefixes are never routed to a client`;
  if (p.length > max) return `${formatPrefix(p)} is longer than /${max}: set max_routed_length to allow it`;
  return null;
}

export function checkTunnelSet(
  cfg: ServerConfig, fail: (index: number, key: string, expected: string) => void, refer: (index: number) => string = (i) => `tunnels[${i}].`,
): void {
  const names = new Map<string, number>();
  const remotes = new Map<string, number>();
  interface Space { start: string; end: string; length: number; prefix: IpPrefix; index: number; order: number; what: string }
  const spaces: Space[] = [];
  cfg.tunnels.forEach((t, i) => {
    const dupName = names.get(t.name);
    if (dupName !== undefined) fail(i, 'name', `duplicate tunnel name ${t.name} (also ${refer(dupName).replace(/[.:] ?$/, '')})`);
    else names.set(t.name, i);
    const dupRemote = remotes.get(t.clientIpv4);
    if (dupRemote !== undefined) fail(i, 'client_ipv4', `duplicate remote IPv4 ${t.clientIpv4} (also ${refer(dupRemote)}client_ipv4)`);
    else remotes.set(t.clientIpv4, i);
    if (t.clientIpv4 === cfg.localIpv4) fail(i, 'client_ipv4', 'must not be the server’s own local_ipv4');
    const endpoint = endpointProblem(t.clientIpv4, cfg.endpointRanges);
    if (endpoint) fail(i, 'client_ipv4', `${t.clientIpv4} is ${endpoint}`);
    t.routedPrefixes.forEach((p, k) => {
      const problem = routedPrefixProblem(p, cfg);
      if (problem) fail(i, `routed_prefixes[${k}]`, problem);
    });
    const pair = { ...t.serverIpv6, bytes: maskBytes(t.serverIpv6.bytes, t.serverIpv6.length) };
    const mine = [{ prefix: pair, what: 'server_ipv6' }, ...t.routedPrefixes.map((p, k) => ({ prefix: p, what: `routed_prefixes[${k}]` }))];
    for (const m of mine) {
      spaces.push({ start: hex128(m.prefix.bytes), end: hex128(lastAddress(m.prefix)), length: m.prefix.length, prefix: m.prefix, index: i, order: spaces.length, what: m.what });
    }
  });
  spaces.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : a.length - b.length || a.order - b.order));
  const open: Space[] = [];
  for (const s of spaces) {
    while (open.length > 0 && open[open.length - 1].end < s.start) open.pop();
    const outer = open[open.length - 1];
    if (outer !== undefined) {
      // Reported on the one that comes later in the file, naming the earlier.
      const [later, earlier] = outer.order > s.order ? [outer, s] : [s, outer];
      fail(later.index, later.what, `${formatPrefix(later.prefix)} overlaps ${formatPrefix(earlier.prefix)} (${earlier.index === later.index ? '' : refer(earlier.index)}${earlier.what})`);
    }
    open.push(s);
  }
}

const SERVER_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

function checkServerName(f: Fields, key: string, v: string): string {
  if (!SERVER_NAME.test(v)) f.fail(key, `expected 1 to 64 letters, digits or _.-, got ${JSON.stringify(v)}`);
  return v;
}

function serverName(f: Fields, key: string): string {
  return checkServerName(f, key, f.string(key));
}

/** The host name, as a server name (its first label, characters outside the allowed ones as -). */
function defaultServerName(): string {
  return hostname().split('.')[0].replace(/[^A-Za-z0-9_.-]/g, '-').slice(0, 64) || 'sixtun';
}

/** `store: {etcd: {endpoints: [...], prefix, username, password, tls: {ca, cert, key}}}` */
function etcdStore(f: Fields): EtcdStoreConfig | null {
  if (!f.has('store')) {
    f.get('store');
    return null;
  }
  const store = f.child('store', f.get('store'), null);
  const sub = store.child('etcd', store.get('etcd'), null);
  store.done();
  const endpoints = sub.collect(() => {
    const list = sub.stringList('endpoints');
    if (list.length === 0) sub.fail('endpoints', 'expected at least one URL such as "http://10.0.0.1:2379"');
    list.forEach((u, i) => {
      if (!/^https?:\/\/[^/\s]+\/?$/.test(u)) sub.fail(`endpoints[${i}]`, `expected an http(s) URL such as "https://10.0.0.1:2379", got ${JSON.stringify(u)}`);
    });
    return list;
  }, []);
  const prefix = sub.collect(() => {
    const v = sub.string('prefix', '/sixtun/');
    if (!v.endsWith('/')) sub.fail('prefix', `expected a key prefix ending in /, such as /sixtun/, got ${JSON.stringify(v)}`);
    return v;
  }, '/sixtun/');
  const username = sub.collect(() => (sub.has('username') ? sub.string('username') : (sub.get('username'), null)), null);
  const password = sub.collect(() => (sub.has('password') ? sub.string('password') : (sub.get('password'), null)), null);
  const tls = sub.collect(() => {
    if (!sub.has('tls')) return (sub.get('tls'), null);
    const t = sub.child('tls', sub.get('tls'), null);
    const file = (k: string): string | null => t.collect(() => {
      if (!t.has(k)) return (t.get(k), null);
      const v = t.string(k);
      if (!isAbsolute(v)) t.fail(k, `expected an absolute path to a PEM file, got ${JSON.stringify(v)}`);
      return v;
    }, null);
    const out = { ca: file('ca'), cert: file('cert'), key: file('key') };
    if ((out.cert === null) !== (out.key === null)) t.collect(() => t.fail(out.cert === null ? 'cert' : 'key', 'cert and key go together (a client certificate)'), undefined);
    t.done();
    return out;
  }, null);
  if (username !== null && password === null) sub.collect(() => sub.fail('password', 'is required with username'), undefined);
  // etcd's JSON gateway (what sixtun speaks) answers every request that shows a client certificate
  // while auth is on with "CommonName of client sending a request against gateway will be ignored".
  if (username !== null && tls?.cert) {
    sub.collect(() => sub.fail('tls', 'cert and key do not go with username: etcd refuses a client certificate through its JSON gateway while auth is on; keep username and password over TLS with ca alone, or use client certificates without etcd\'s auth'), undefined);
  }
  sub.done();
  return { endpoints, prefix, username, password, tls };
}

const NO_POOLS: ServerConfig['pools'] = { pairs: null, pairLength: 127, routed64: null, routed48: null };

/** `pools: {pairs: PREFIX, pair_length: 127|64, routed64: PREFIX, routed48: PREFIX}`: prefixes
 * that tunnels are given addresses from, as Tunnel Broker does; none may overlap another. */
function poolsConfig(f: Fields, node: YamlNode | null): ServerConfig['pools'] {
  if (!f.has('pools')) return (f.get('pools'), NO_POOLS);
  const sub = f.child('pools', f.get('pools'), node);
  const one = (key: string, shorterThan: number): IpPrefix | null => sub.collect(() => {
    if (!sub.has(key)) return (sub.get(key), null);
    const text = sub.string(key);
    let p: IpPrefix;
    try {
      p = parsePrefix(text, true);
    } catch (e) {
      return sub.fail(key, (e as Error).message);
    }
    if (p.family !== 6 || !text.includes('/')) sub.fail(key, `expected an IPv6 prefix such as 2001:db8:ff00::/40, got ${JSON.stringify(text)}`);
    if (p.length >= shorterThan) sub.fail(key, `expected a prefix shorter than /${shorterThan}, got /${p.length}`);
    return p;
  }, null);
  const pairLength = sub.collect(() => sub.int('pair_length', 127, 64, 127), 127);
  if (pairLength !== 64 && pairLength !== 127) sub.collect(() => sub.fail('pair_length', `expected 127 or 64, got ${pairLength}`), undefined);
  const pools = { pairs: one('pairs', pairLength), pairLength: pairLength === 64 ? 64 as const : 127 as const, routed64: one('routed64', 64), routed48: one('routed48', 48) };
  const named = (['pairs', 'routed64', 'routed48'] as const).filter((k) => pools[k] !== null);
  for (const [i, a] of named.entries()) {
    for (const b of named.slice(i + 1)) {
      const pa = pools[a]!;
      const pb = pools[b]!;
      if (pa.length <= pb.length ? prefixContains(pa, pb.bytes) : prefixContains(pb, pa.bytes)) sub.collect(() => sub.fail(b, `${formatPrefix(pb)} overlaps pools.${a} ${formatPrefix(pa)}`), undefined);
    }
  }
  sub.done();
  return pools;
}

/** `metrics: {listen: ADDR:PORT, per_tunnel: true|false, top: N}` */
function metricsConfig(f: Fields): CommonConfig['metrics'] {
  let perTunnel: PerTunnelMetrics = { mode: 'all' };
  const listen = listenAddress(f, 'metrics', (sub) => {
    const all = sub.collect(() => sub.bool('per_tunnel', true), true);
    const top = sub.collect(() => sub.int('top', 0, 0, 1_000_000), 0);
    if (top > 0 && !all) sub.collect(() => sub.fail('top', 'goes with per_tunnel: true (the busiest N tunnels get series of their own)'), undefined);
    perTunnel = !all ? { mode: 'none' } : top > 0 ? { mode: 'top', count: top } : { mode: 'all' };
  });
  return listen && { ...listen, perTunnel };
}

function updateApiConfig(f: Fields): ServerConfig['updateApi'] {
  let burst = 5;
  let checkReachable = true;
  const listen = listenAddress(f, 'update_api', (sub) => {
    burst = sub.collect(() => sub.int('burst', 5, 1, 100_000), 5);
    checkReachable = sub.collect(() => sub.bool('check_reachable', true), true);
  });
  return listen && { ...listen, burst, checkReachable };
}

function updateConfig(f: Fields): ClientConfig['update'] {
  if (!f.has('update')) {
    f.get('update');
    return null;
  }
  const sub = f.child('update', f.get('update'), null);
  const url = sub.collect(() => {
    const u = sub.string('url');
    try {
      const parsed = new URL(u);
      if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error();
    } catch {
      sub.fail('url', `expected an http(s) URL such as http://203.0.113.1:8080/nic/update?hostname=home, got ${JSON.stringify(u)}`);
    }
    return u;
  }, '');
  const out = { url, user: sub.collect(() => sub.string('user'), ''), key: sub.collect(() => sub.string('key'), '') };
  sub.done();
  return out;
}

function clientConfig(f: Fields, file: string): ClientConfig {
  const base = common(f, file, 'client');
  const clientIpv6 = f.collect(() => f.ipv6WithLength('client_ipv6', [64, 127]), { family: 6, bytes: new Uint8Array(16), length: 127 } as IpPrefix);
  const serverIpv6 = f.collect(() => {
    const v = f.ipv6('server_ipv6');
    const pair = { ...clientIpv6, bytes: maskBytes(clientIpv6.bytes, clientIpv6.length) };
    if (!prefixContains(pair, parseIp(v).bytes)) f.fail('server_ipv6', `expected an address inside the pair ${formatPrefix(pair)}`);
    return v;
  }, '');
  return {
    ...base,
    mode: 'client',
    serverIpv4: f.collect(() => f.ipv4('server_ipv4', true), ''),
    localIpv4: f.collect(() => f.ipv4('local_ipv4', false), null),
    clientIpv6,
    serverIpv6,
    defaultRoute: f.collect(() => f.bool('default_route', true), true),
    routes: f.collect(() => f.prefixList('routes'), []),
    update: f.collect(() => updateConfig(f), null),
    ...f.collect(() => lanConfig(f), { forwarding: false, lan: null }),
  };
}

/** `forwarding: true`, or `lan_interface` with `lan_address` (which implies forwarding). */
function lanConfig(f: Fields): Pick<ClientConfig, 'forwarding' | 'lan'> {
  const iface = f.has('lan_interface') ? f.string('lan_interface') : (f.get('lan_interface'), null);
  if (iface !== null && !IFNAME.test(iface)) f.fail('lan_interface', 'expected an interface name of 1 to 15 letters, digits or _.:-');
  const address = f.has('lan_address') ? f.ipv6WithLength('lan_address', [48, 52, 56, 60, 64]) : (f.get('lan_address'), null);
  // Said at the one that is there: the missing one has no line.
  if (iface !== null && address === null) f.fail('lan_interface', 'needs lan_address too: the LAN interface’s address in your routed prefix, e.g. 2001:db8:100::1/64');
  if (iface === null && address !== null) f.fail('lan_address', 'needs lan_interface too: the interface of the LAN that gets this address');
  const forwarding = f.bool('forwarding', iface !== null);
  if (iface !== null && !forwarding) f.fail('forwarding', 'must be true with lan_interface: the client forwards between the tunnel and the LAN');
  return { forwarding, lan: iface !== null && address !== null ? { interface: iface, address } : null };
}

/** Parses YAML text; file is only used in error messages. Every error of the
 * file is reported at once (ConfigErrors), ordered by line. */
/** What the YAML error on this line most likely needs: an IPv6 address or
 * prefix with "::" (or ending in ':') is not a plain YAML scalar. */
function yamlHint(line: string): string {
  const m = /^\s*(?:-\s+)?([\w-]+):\s+([^"'\s#][^\s#]*:[^\s#]*)/.exec(line);
  return m ? ` (quote the value: ${m[1]}: "${m[2]}"; YAML reads an unquoted ':' as the start of a mapping)` : '';
}

export interface ParseOptions {
  /** Read the tunnel journal too (default); false: the file's tunnels alone. */
  journal?: boolean;
}

export function parseConfig(text: string, file: string, opts: ParseOptions = {}): Config {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const textLines = text.split('\n');
    throw new ConfigErrors(doc.errors.map((e) => {
      const line = e.linePos?.[0]?.line ?? null;
      const message = e.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
      return new ConfigError(file, line, '(yaml)', message + yamlHint(line === null ? '' : textLines[line - 1] ?? ''));
    }));
  }
  const raw = doc.toJS() as unknown;
  const ctx: ParseContext = { file, lines, errors: [], suggested: new Set() };
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(file, 1, '(top)', 'expected a mapping of fields (mode: server | client, …)');
  const f = new Fields(ctx, doc.contents as YamlNode, '', raw as Record<string, unknown>);
  const mode = f.choice('mode', ['server', 'client'] as const, undefined as unknown as 'server');
  if (mode === undefined) f.fail('mode', 'is required: server or client');
  const cfg = mode === 'server' ? serverConfig(f, doc, file, opts.journal ?? true) : clientConfig(f, file);
  f.done();
  // A missing field that an unknown key was meant to be is said once, by the unknown key.
  const errors = ctx.errors.filter((e) => !(ctx.suggested.has(e.field) && e.expected.startsWith('is required')));
  if (errors.length > 0) throw new ConfigErrors(errors.sort((a, b) => (a.line ?? Infinity) - (b.line ?? Infinity)));
  return cfg;
}

export function loadConfig(file: string, opts: ParseOptions = {}): Config {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(file, null, '(file)', `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return parseConfig(text, file, opts);
}
