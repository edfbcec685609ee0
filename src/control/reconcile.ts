// Idempotent reconcile: make the kernel hold a desired state (links, addresses,
// routes, proxy neighbours, sysctls), remember exactly what sixtun changed,
// and undo exactly that on teardown. Adds treat EEXIST as done (after checking
// the existing object matches), deletes tolerate ENOENT/ESRCH/EADDRNOTAVAIL.
import { NetlinkClient } from '../netlink/client.js';
import { NetlinkError } from '../netlink/errors.js';
import { getLink, setLinkMtu, setLinkTxQueueLen, setLinkUp } from '../netlink/link.js';
import { addAddress, deleteAddress, dumpAddresses } from '../netlink/addr.js';
import { addRoute, deleteRoute, dumpRoutes, replaceRoute, type Route, type RouteSpec } from '../netlink/route.js';
import { addProxyNeighbour, deleteProxyNeighbour } from '../netlink/neigh.js';
import { IFF_UP, RTPROT_SIXTUN, RT_TABLE_MAIN } from '../netlink/constants.js';
import { formatIp, parseIp, parsePrefix } from '../wire/address.js';
import { readSysctl, writeSysctl } from '../sys/sysctl.js';

export interface DesiredLink {
  name: string;
  up?: boolean;
  mtu?: number;
  txQueueLen?: number;
}

export interface DesiredAddress {
  link: string;
  /** "ADDR/LEN": the interface address and its on-link prefix length. */
  cidr: string;
  nodad?: boolean;
}

export interface DesiredRoute {
  /** "PREFIX/LEN" */
  dst: string;
  link?: string;
  gateway?: string;
  metric?: number;
  table?: number;
}

export interface DesiredProxy {
  link: string;
  address: string;
  /** NTF_ROUTER: the kernel's proxy NAs carry the R flag. */
  router?: boolean;
}

export interface DesiredSysctl {
  /** Slash-separated path under /proc/sys, e.g. net/ipv6/conf/eth0/forwarding. */
  key: string;
  value: string;
}

export interface DesiredState {
  links?: DesiredLink[];
  addresses?: DesiredAddress[];
  routes?: DesiredRoute[];
  proxies?: DesiredProxy[];
  sysctls?: DesiredSysctl[];
}

export interface OwnedRecord {
  links: Array<[string, { up?: boolean; mtu?: number; txQueueLen?: number }]>;
  addresses: DesiredAddress[];
  routes: DesiredRoute[];
  proxies: DesiredProxy[];
  sysctls: Array<[string, string]>;
}

/** Everything sixtun changed, so teardown can undo exactly that. */
interface Owned {
  links: Map<string, { up?: boolean; mtu?: number; txQueueLen?: number }>;
  addresses: Map<string, DesiredAddress>;
  routes: Map<string, DesiredRoute>;
  proxies: Map<string, DesiredProxy>;
  sysctls: Map<string, string>;
}

export interface ReconcileLogger {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
}

const quiet: ReconcileLogger = { info() {}, warn() {} };

const GONE = new Set(['ENOENT', 'ESRCH', 'EADDRNOTAVAIL', 'ENODEV']);

function isCode(e: unknown, ...codes: string[]): e is NetlinkError {
  return e instanceof NetlinkError && codes.includes(e.code);
}

export function routeKey(r: DesiredRoute): string {
  const dst = parsePrefix(r.dst, false);
  return `${formatIp(dst.bytes)}/${dst.length} table ${r.table ?? RT_TABLE_MAIN} metric ${r.metric ?? 'default'}`;
}

function addressKey(a: DesiredAddress): string {
  const p = parsePrefix(a.cidr, false);
  return `${formatIp(p.bytes)}/${p.length} dev ${a.link}`;
}

function proxyKey(p: DesiredProxy): string {
  return `${formatIp(parseIp(p.address).bytes)} dev ${p.link}`;
}

export class Reconciler {
  private readonly owned: Owned = {
    links: new Map(), addresses: new Map(), routes: new Map(), proxies: new Map(), sysctls: new Map(),
  };
  private readonly indexCache = new Map<string, number>();

  constructor(private readonly nl: NetlinkClient, private readonly log: ReconcileLogger = quiet) {}

  private async index(name: string): Promise<number> {
    const link = await getLink(this.nl, name);
    this.indexCache.set(name, link.index);
    return link.index;
  }

  /** Applies the whole desired state; safe to call again at any time. */
  async apply(state: DesiredState): Promise<void> {
    for (const s of state.sysctls ?? []) this.ensureSysctl(s);
    for (const l of state.links ?? []) await this.ensureLink(l);
    for (const a of state.addresses ?? []) await this.ensureAddress(a);
    for (const r of state.routes ?? []) await this.ensureRoute(r);
    for (const p of state.proxies ?? []) await this.ensureProxy(p);
  }

  ensureSysctl(s: DesiredSysctl): void {
    const current = readSysctl(s.key);
    if (current === s.value) return;
    if (!this.owned.sysctls.has(s.key)) this.owned.sysctls.set(s.key, current);
    writeSysctl(s.key, s.value);
    this.log.info('sysctl set', { key: s.key, from: current, to: s.value });
  }

  async ensureLink(l: DesiredLink): Promise<void> {
    const link = await getLink(this.nl, l.name);
    this.indexCache.set(l.name, link.index);
    const before = this.owned.links.get(l.name) ?? {};
    if (l.mtu !== undefined && link.mtu !== l.mtu) {
      before.mtu ??= link.mtu;
      await setLinkMtu(this.nl, link.index, l.mtu);
    }
    if (l.txQueueLen !== undefined && link.txQueueLen !== l.txQueueLen) {
      before.txQueueLen ??= link.txQueueLen;
      await setLinkTxQueueLen(this.nl, link.index, l.txQueueLen);
    }
    const isUp = (link.flags & IFF_UP) !== 0;
    if (l.up !== undefined && isUp !== l.up) {
      before.up ??= isUp;
      await setLinkUp(this.nl, link.index, l.up);
    }
    if (Object.keys(before).length > 0) this.owned.links.set(l.name, before);
  }

  async ensureAddress(a: DesiredAddress): Promise<void> {
    const index = await this.index(a.link);
    const prefix = parsePrefix(a.cidr, false);
    try {
      await addAddress(this.nl, { index, prefix, nodad: a.nodad });
      this.owned.addresses.set(addressKey(a), a);
      this.log.info('address added', { address: a.cidr, link: a.link });
    } catch (e) {
      if (!isCode(e, 'EEXIST')) throw e;
    }
  }

  private routeSpec(r: DesiredRoute, oif: number | undefined): RouteSpec {
    return {
      dst: parsePrefix(r.dst, true), oif, gateway: r.gateway, metric: r.metric, table: r.table, protocol: RTPROT_SIXTUN,
    };
  }

  async ensureRoute(r: DesiredRoute): Promise<void> {
    const oif = r.link !== undefined ? await this.index(r.link) : undefined;
    const spec = this.routeSpec(r, oif);
    const key = routeKey(r);
    try {
      await addRoute(this.nl, spec);
      this.owned.routes.set(key, r);
      this.log.info('route added', { route: key });
      return;
    } catch (e) {
      if (!isCode(e, 'EEXIST')) throw e;
    }
    const existing = await this.findRoute(spec);
    if (existing && sameTarget(existing, spec)) {
      // Ours from an earlier apply, or the operator's own identical route (left alone).
      if (existing.protocol === RTPROT_SIXTUN) this.owned.routes.set(key, r);
      return;
    }
    await replaceRoute(this.nl, spec);
    this.owned.routes.set(key, r);
    this.log.warn('route replaced', { route: key, was: existing });
  }

  private async findRoute(spec: RouteSpec): Promise<Route | undefined> {
    const want = formatIp(spec.dst.bytes);
    const table = spec.table ?? RT_TABLE_MAIN;
    return (await dumpRoutes(this.nl, spec.dst.family)).find((r) =>
      r.dst === want && r.dstLength === spec.dst.length && r.table === table &&
      (spec.metric === undefined || r.metric === spec.metric));
  }

  async ensureProxy(p: DesiredProxy): Promise<void> {
    const index = await this.index(p.link);
    try {
      await addProxyNeighbour(this.nl, index, p.address, p.router === true);
      this.owned.proxies.set(proxyKey(p), p);
      this.log.info('proxy neighbour added', { address: p.address, link: p.link });
    } catch (e) {
      if (!isCode(e, 'EEXIST')) throw e;
    }
  }

  /** A link's index, or null when the link is gone (nothing left to undo on it). */
  private async indexOrNull(name: string): Promise<number | null> {
    const cached = this.indexCache.get(name);
    if (cached !== undefined) return cached;
    try {
      return await this.index(name);
    } catch (e) {
      if (e instanceof NetlinkError && GONE.has(e.code)) return null;
      throw e;
    }
  }

  /** Removes one route this reconciler added (live tunnel removal). */
  async removeRoute(r: DesiredRoute): Promise<void> {
    const key = routeKey(r);
    if (!this.owned.routes.has(key)) return;
    this.owned.routes.delete(key);
    const oif = r.link !== undefined ? await this.indexOrNull(r.link) : undefined;
    if (oif === null) return;
    await this.tolerateGone(() => deleteRoute(this.nl, this.routeSpec(r, oif)));
  }

  async removeProxy(p: DesiredProxy): Promise<void> {
    const key = proxyKey(p);
    if (!this.owned.proxies.has(key)) return;
    this.owned.proxies.delete(key);
    const index = await this.indexOrNull(p.link);
    if (index !== null) await this.tolerateGone(() => deleteProxyNeighbour(this.nl, index, p.address));
  }

  async removeAddress(a: DesiredAddress): Promise<void> {
    const key = addressKey(a);
    if (!this.owned.addresses.has(key)) return;
    this.owned.addresses.delete(key);
    const index = await this.indexOrNull(a.link);
    if (index !== null) {
      await this.tolerateGone(() => deleteAddress(this.nl, { index, prefix: parsePrefix(a.cidr, false) }));
    }
  }

  /** What teardown would undo, as JSON: written to disk so that the next
   * start can undo it after a SIGKILL. */
  exportOwned(): OwnedRecord {
    return {
      links: [...this.owned.links.entries()],
      addresses: [...this.owned.addresses.values()],
      routes: [...this.owned.routes.values()],
      proxies: [...this.owned.proxies.values()],
      sysctls: [...this.owned.sysctls.entries()],
    };
  }

  /** Takes over a record left by a previous run (then call teardown()). */
  importOwned(r: OwnedRecord): void {
    for (const [name, before] of r.links) this.owned.links.set(name, before);
    for (const a of r.addresses) this.owned.addresses.set(addressKey(a), a);
    for (const x of r.routes) this.owned.routes.set(routeKey(x), x);
    for (const p of r.proxies) this.owned.proxies.set(proxyKey(p), p);
    for (const [k, v] of r.sysctls) this.owned.sysctls.set(k, v);
  }

  private async tolerateGone(op: () => Promise<void>): Promise<void> {
    try {
      await op();
    } catch (e) {
      if (!(e instanceof NetlinkError && GONE.has(e.code))) throw e;
    }
  }

  /** What teardown would undo, for status and tests. */
  ownedSummary(): { links: string[]; addresses: string[]; routes: string[]; proxies: string[]; sysctls: string[] } {
    return {
      links: [...this.owned.links.keys()],
      addresses: [...this.owned.addresses.keys()],
      routes: [...this.owned.routes.keys()],
      proxies: [...this.owned.proxies.keys()],
      sysctls: [...this.owned.sysctls.keys()],
    };
  }

  /** Undoes everything this reconciler changed, in reverse order. Keeps going
   * past individual failures and reports them all at the end. */
  async teardown(): Promise<void> {
    const failures: string[] = [];
    const attempt = async (what: string, op: () => Promise<void> | void): Promise<void> => {
      try {
        await op();
      } catch (e) {
        if (e instanceof NetlinkError && GONE.has(e.code)) return;
        // A sysctl of a device that is gone (the TUN of a killed run) is gone too.
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
        failures.push(`${what}: ${(e as Error).message}`);
      }
    };
    for (const p of [...this.owned.proxies.values()].reverse()) await attempt(`proxy ${p.address}`, () => this.removeProxy(p));
    for (const r of [...this.owned.routes.values()].reverse()) await attempt(`route ${r.dst}`, () => this.removeRoute(r));
    for (const a of [...this.owned.addresses.values()].reverse()) await attempt(`address ${a.cidr}`, () => this.removeAddress(a));
    for (const [name, before] of [...this.owned.links.entries()].reverse()) {
      await attempt(`link ${name}`, async () => {
        const index = await this.indexOrNull(name);
        if (index === null) return;
        if (before.up !== undefined) await setLinkUp(this.nl, index, before.up);
        if (before.mtu !== undefined) await setLinkMtu(this.nl, index, before.mtu);
        if (before.txQueueLen !== undefined) await setLinkTxQueueLen(this.nl, index, before.txQueueLen);
      });
    }
    this.owned.links.clear();
    for (const [key, value] of [...this.owned.sysctls.entries()].reverse()) {
      await attempt(`sysctl ${key}`, () => writeSysctl(key, value));
    }
    this.owned.sysctls.clear();
    if (failures.length > 0) throw new Error(`teardown left things behind:\n  ${failures.join('\n  ')}`);
  }

  /** Addresses currently on a link, as "ADDR/LEN" (for verification). */
  async addressesOf(link: string): Promise<string[]> {
    const index = await this.index(link);
    return (await dumpAddresses(this.nl, 0, index)).map((a) => `${a.address}/${a.prefixLength}`);
  }
}

function sameTarget(r: Route, spec: RouteSpec): boolean {
  const gw = spec.gateway === undefined ? null : formatIp(parseIp(spec.gateway).bytes);
  return r.gateway === gw && (spec.oif === undefined || r.oif === spec.oif);
}
