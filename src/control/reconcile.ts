// Idempotent reconcile: make the kernel hold a desired state (links, addresses,
// routes, proxy neighbours, sysctls), remember exactly what sixtun changed,
// and undo exactly that on teardown. Adds treat EEXIST as done (after checking
// the existing object matches), deletes tolerate ENOENT/ESRCH/EADDRNOTAVAIL.
// Objects go to the kernel in batches (many requests per sendmsg, one dump
// for all routes that already exist), and link indexes are looked up once per
// link, so a pass over 10^5 objects costs what `ip -batch` costs.
import { NetlinkClient } from '../netlink/client.js';
import { NetlinkError } from '../netlink/errors.js';
import { getLink, setLinkMtu, setLinkTxQueueLen, setLinkUp } from '../netlink/link.js';
import { dumpAddresses, encodeAddrAdd, encodeAddrDel } from '../netlink/addr.js';
import { dumpRules, encodeRuleAdd, encodeRuleDel, type RuleSpec } from '../netlink/rule.js';
import { dumpRoutes, encodeRouteAdd, encodeRouteAppend, encodeRouteDel, encodeRouteReplace, type Route, type RouteSpec } from '../netlink/route.js';
import { encodeNeighAddProxy, encodeNeighDelProxy } from '../netlink/neigh.js';
import type { BatchItem } from '../netlink/client.js';
import { IFF_UP, RTN_LOCAL, RTN_UNICAST, RTPROT_KERNEL, RTPROT_SIXTUN, RT_TABLE_MAIN } from '../netlink/constants.js';
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
  /** RTN_LOCAL: delivered to this host's own stack (`ip route add local …`). */
  local?: boolean;
}

/** `ip -6 rule add iif IIF lookup TABLE pref PRIORITY proto 246`. */
export interface DesiredRule {
  iif: string;
  table: number;
  priority: number;
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
  rules?: DesiredRule[];
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
  rules: Map<string, DesiredRule>;
  proxies: Map<string, DesiredProxy>;
  sysctls: Map<string, string>;
}

export interface ReconcileLogger {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
}

const quiet: ReconcileLogger = { info() {}, warn() {} };

const GONE = new Set(['ENOENT', 'ESRCH', 'EADDRNOTAVAIL', 'ENODEV']);


/** A route's identity. dst is in normal form (formatPrefix; the monitor's
 * formatIp): it is not parsed again here, for 2·10^5 routes at a start. */
export function routeKey(r: DesiredRoute): string {
  return `${r.dst} table ${r.table ?? RT_TABLE_MAIN} metric ${r.metric ?? 'default'}`;
}

function addressKey(a: DesiredAddress): string {
  const p = parsePrefix(a.cidr, false);
  return `${formatIp(p.bytes)}/${p.length} dev ${a.link}`;
}

function ruleSpec(r: DesiredRule): RuleSpec {
  return { family: 6, iif: r.iif, table: r.table, priority: r.priority, protocol: RTPROT_SIXTUN };
}

export function ruleKey(r: DesiredRule): string {
  return `iif ${r.iif} lookup ${r.table} pref ${r.priority}`;
}

function proxyKey(p: DesiredProxy): string {
  return `${formatIp(parseIp(p.address).bytes)} dev ${p.link}`;
}

export class Reconciler {
  private readonly owned: Owned = {
    links: new Map(), addresses: new Map(), routes: new Map(), rules: new Map(), proxies: new Map(), sysctls: new Map(),
  };
  private readonly indexCache = new Map<string, number>();
  /** Routes sixtun wanted but found another's in the way of (by routeKey). */
  readonly conflicts = new Map<string, Route | null>();

  constructor(private readonly nl: NetlinkClient, private readonly log: ReconcileLogger = quiet) {}

  /** The link's index, from the cache (filled by apply and by the first use). */
  private async index(name: string): Promise<number> {
    const cached = this.indexCache.get(name);
    if (cached !== undefined) return cached;
    const link = await getLink(this.nl, name);
    this.indexCache.set(name, link.index);
    return link.index;
  }

  /** The name of a link this reconciler has looked up, by index. */
  linkName(index: number): string | undefined {
    for (const [name, i] of this.indexCache) if (i === index) return name;
    return undefined;
  }

  /** Forget cached link indexes (a link was deleted or re-created). */
  forgetIndexes(): void {
    this.indexCache.clear();
  }

  /** Applies the whole desired state; safe to call again at any time. */
  async apply(state: DesiredState): Promise<void> {
    for (const s of state.sysctls ?? []) this.ensureSysctl(s);
    this.indexCache.clear();
    for (const l of state.links ?? []) await this.ensureLink(l);
    await this.ensureAddresses(state.addresses ?? []);
    await this.ensureRoutes(state.routes ?? []);
    await this.ensureRules(state.rules ?? []);
    await this.ensureProxies(state.proxies ?? []);
  }

  /** `ip -6 rule add` for each. One that exists already and is sixtun's (an
   * earlier run's, left by a SIGKILL: rules outlive the devices they name)
   * is taken over; another's is a conflict, reported and left alone. */
  async ensureRules(list: DesiredRule[]): Promise<void> {
    const results = await this.nl.batch(list.map((r) => ({ msg: encodeRuleAdd(ruleSpec(r)), operation: `rule add iif ${r.iif} lookup ${r.table}` })));
    const existing = list.filter((_, i) => results[i]?.code === 'EEXIST');
    list.forEach((r, i) => {
      if (results[i] === null) this.owned.rules.set(ruleKey(r), r);
    });
    throwFirst(results, 'EEXIST');
    if (existing.length === 0) return;
    const dumped = await dumpRules(this.nl, 6);
    for (const r of existing) {
      const found = dumped.find((d) => d.iif === r.iif && d.table === r.table && d.priority === r.priority);
      if (found?.protocol === RTPROT_SIXTUN) this.owned.rules.set(ruleKey(r), r);
      else this.log.warn('rule conflict: a rule sixtun did not add is in the way, left alone', { rule: ruleKey(r) });
    }
  }

  private async removeRules(list: DesiredRule[]): Promise<void> {
    const items = list.map((r) => ({ msg: encodeRuleDel(ruleSpec(r)), operation: `rule del iif ${r.iif}` }));
    for (const r of list) this.owned.rules.delete(ruleKey(r));
    throwFirst(await this.nl.batch(items), ...GONE);
  }

  /** Whether key names an owned rule (for repairs). */
  ownsRule(key: string): DesiredRule | undefined {
    return this.owned.rules.get(key);
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
    await this.ensureAddresses([a]);
  }

  /** `ip addr add` for each, in batches; EEXIST is done (and not ours). */
  async ensureAddresses(list: DesiredAddress[]): Promise<void> {
    const items: BatchItem[] = [];
    for (const a of list) {
      items.push({ msg: encodeAddrAdd({ index: await this.index(a.link), prefix: parsePrefix(a.cidr, false), nodad: a.nodad }), operation: `addr add ${a.cidr} dev ${a.link}` });
    }
    const results = await this.nl.batch(items);
    let added = 0;
    results.forEach((e, i) => {
      if (e === null) {
        this.owned.addresses.set(addressKey(list[i]), list[i]);
        added++;
      }
    });
    if (added > 0) this.log.info(added === 1 ? 'address added' : 'addresses added', added === 1 ? { address: list[results.indexOf(null)].cidr, link: list[results.indexOf(null)].link } : { count: added });
    throwFirst(results, 'EEXIST');
  }

  private routeSpec(r: DesiredRoute, oif: number | undefined): RouteSpec {
    return {
      dst: parsePrefix(r.dst, true), oif, gateway: r.gateway, metric: r.metric, table: r.table, protocol: RTPROT_SIXTUN, type: r.local ? RTN_LOCAL : RTN_UNICAST,
    };
  }

  async ensureRoute(r: DesiredRoute): Promise<void> {
    await this.ensureRoutes([r]);
  }

  /** `ip route add` for each, in batches. Those that exist are looked up in
   * one dump: the same route is ours (protocol 246) or the operator's (left
   * alone); a different one is replaced if it is sixtun's (protocol 246),
   * and otherwise a conflict (logged, in status, never replaced). */
  async ensureRoutes(list: DesiredRoute[]): Promise<void> {
    const specs: RouteSpec[] = [];
    for (const r of list) specs.push(this.routeSpec(r, r.link !== undefined ? await this.index(r.link) : undefined));
    const results = await this.nl.batch(specs.map((spec, i) => ({ msg: encodeRouteAdd(spec), operation: `route add ${list[i].dst}` })));
    const existing: number[] = [];
    let added = 0;
    results.forEach((e, i) => {
      if (e === null) {
        this.owned.routes.set(routeKey(list[i]), list[i]);
        this.conflicts.delete(routeKey(list[i]));
        added++;
      } else if (e.code === 'EEXIST') existing.push(i);
    });
    if (added > 0) this.log.info(added === 1 ? 'route added' : 'routes added', added === 1 ? { route: routeKey(list[results.indexOf(null)]) } : { count: added });
    throwFirst(results, 'EEXIST');
    if (existing.length === 0) return;
    const dumped = new Map<string, Route[]>();
    for (const family of new Set(existing.map((i) => specs[i].dst.family))) {
      for (const r of await dumpRoutes(this.nl, family)) {
        const key = `${r.dst}/${r.dstLength} table ${r.table}`;
        dumped.set(key, [...(dumped.get(key) ?? []), r]);
      }
    }
    const replace: number[] = [];
    for (const i of existing) {
      const spec = specs[i];
      const same = dumped.get(`${formatIp(spec.dst.bytes)}/${spec.dst.length} table ${spec.table ?? RT_TABLE_MAIN}`) ?? [];
      const found = same.find((r) => spec.metric === undefined || r.metric === spec.metric);
      if (found && sameTarget(found, spec)) {
        // Ours from an earlier apply, or the operator's own identical route (left alone).
        if (found.protocol === RTPROT_SIXTUN) this.owned.routes.set(routeKey(list[i]), list[i]);
        continue;
      }
      // Only a route of sixtun's own (an earlier run's, stale) is replaced;
      // another's is the operator's or another daemon's: reported, left alone.
      if (found?.protocol === RTPROT_SIXTUN) {
        replace.push(i);
        this.log.warn('route replaced', { route: routeKey(list[i]), was: found });
      } else {
        this.conflicts.set(routeKey(list[i]), found ?? same[0] ?? null);
        this.log.warn('route conflict: a route sixtun did not add is in the way, left alone', { route: routeKey(list[i]), existing: found ?? same[0] ?? null });
      }
    }
    const replaced = await this.nl.batch(replace.map((i) => ({ msg: encodeRouteReplace(specs[i]), operation: `route replace ${list[i].dst}` })));
    replaced.forEach((e, k) => {
      if (e === null) this.owned.routes.set(routeKey(list[replace[k]]), list[replace[k]]);
    });
    throwFirst(replaced);
  }

  /** Puts back prefix routes the kernel made for an address (protocol
   * kernel, as the kernel makes them); they go with the address, never
   * owned or torn down by sixtun. Appended: every link has its own
   * fe80::/64 of the same metric. EEXIST (still there) is done. */
  async ensureKernelPrefixRoutes(list: DesiredRoute[]): Promise<void> {
    const items: BatchItem[] = [];
    for (const r of list) {
      const oif = r.link !== undefined ? await this.indexOrNull(r.link) : null;
      if (oif === null) continue;
      items.push({ msg: encodeRouteAppend({ dst: parsePrefix(r.dst, true), oif, metric: r.metric, protocol: RTPROT_KERNEL }), operation: `route append ${r.dst} proto kernel` });
    }
    const results = await this.nl.batch(items);
    throwFirst(results, 'EEXIST');
    const added = results.filter((e) => e === null).length;
    if (added > 0) this.log.info('kernel prefix routes put back', { count: added });
  }

  async ensureProxy(p: DesiredProxy): Promise<void> {
    await this.ensureProxies([p]);
  }

  /** `ip -6 neigh add proxy ADDR dev LINK` for each, in batches. */
  async ensureProxies(list: DesiredProxy[]): Promise<void> {
    const items: BatchItem[] = [];
    for (const p of list) items.push({ msg: encodeNeighAddProxy(await this.index(p.link), p.address, p.router === true), operation: `neigh add proxy ${p.address} dev ${p.link}` });
    const results = await this.nl.batch(items);
    results.forEach((e, i) => {
      if (e === null) this.owned.proxies.set(proxyKey(list[i]), list[i]);
    });
    throwFirst(results, 'EEXIST');
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
    await this.removeRoutes([r]);
  }

  async removeProxy(p: DesiredProxy): Promise<void> {
    await this.removeProxies([p]);
  }

  async removeAddress(a: DesiredAddress): Promise<void> {
    await this.removeAddresses([a]);
  }

  /** Deletes what is owned among list, in batches; objects on a link that is
   * gone went with it. Forgets them first, so that the kernel's notifications
   * of these deletions are not taken for damage to repair. */
  async removeRoutes(list: DesiredRoute[]): Promise<void> {
    const items: BatchItem[] = [];
    for (const r of list) {
      this.conflicts.delete(routeKey(r));
      if (!this.owned.routes.delete(routeKey(r))) continue;
      const oif = r.link !== undefined ? await this.indexOrNull(r.link) : undefined;
      if (oif !== null) items.push({ msg: encodeRouteDel(this.routeSpec(r, oif)), operation: `route del ${r.dst}` });
    }
    throwFirst(await this.nl.batch(items), ...GONE);
  }

  async removeProxies(list: DesiredProxy[]): Promise<void> {
    const items: BatchItem[] = [];
    for (const p of list) {
      if (!this.owned.proxies.delete(proxyKey(p))) continue;
      const index = await this.indexOrNull(p.link);
      if (index !== null) items.push({ msg: encodeNeighDelProxy(index, p.address), operation: `neigh del proxy ${p.address} dev ${p.link}` });
    }
    throwFirst(await this.nl.batch(items), ...GONE);
  }

  async removeAddresses(list: DesiredAddress[]): Promise<void> {
    const items: BatchItem[] = [];
    for (const a of list) {
      if (!this.owned.addresses.delete(addressKey(a))) continue;
      const index = await this.indexOrNull(a.link);
      if (index !== null) items.push({ msg: encodeAddrDel({ index, prefix: parsePrefix(a.cidr, false) }), operation: `addr del ${a.cidr} dev ${a.link}` });
    }
    throwFirst(await this.nl.batch(items), ...GONE);
  }

  /** Whether key names an owned route / address / proxy (for repairs). */
  ownsRoute(key: string): DesiredRoute | undefined {
    return this.owned.routes.get(key);
  }

  ownsAddress(cidr: string, link: string): DesiredAddress | undefined {
    return this.owned.addresses.get(addressKey({ link, cidr }));
  }

  ownsProxy(address: string, link: string): DesiredProxy | undefined {
    return this.owned.proxies.get(proxyKey({ link, address }));
  }

  /** What teardown would undo, as JSON: written to disk so that the next
   * start can undo it after a SIGKILL (without the objects on exceptOnLinks,
   * links that go away with the process). Rules are not in it: the next
   * start takes its predecessor's over (ensureRules). */
  exportOwned(exceptOnLinks: readonly string[] = []): OwnedRecord {
    const keep = (x: { link?: string }): boolean => x.link === undefined || !exceptOnLinks.includes(x.link);
    return {
      links: [...this.owned.links.entries()],
      addresses: [...this.owned.addresses.values()].filter(keep),
      routes: [...this.owned.routes.values()].filter(keep),
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

  /** How many objects of each kind teardown would undo (for status). */
  ownedCounts(): Record<keyof Owned, number> {
    const o = this.owned;
    return { links: o.links.size, addresses: o.addresses.size, routes: o.routes.size, rules: o.rules.size, proxies: o.proxies.size, sysctls: o.sysctls.size };
  }

  /** What teardown would undo, for tests. */
  ownedSummary(): { links: string[]; addresses: string[]; routes: string[]; rules: string[]; proxies: string[]; sysctls: string[] } {
    return {
      links: [...this.owned.links.keys()],
      addresses: [...this.owned.addresses.keys()],
      routes: [...this.owned.routes.keys()],
      rules: [...this.owned.rules.keys()],
      proxies: [...this.owned.proxies.keys()],
      sysctls: [...this.owned.sysctls.keys()],
    };
  }

  /** Undoes everything this reconciler changed, in reverse order. Keeps going
   * past individual failures and reports them all at the end. Objects on a
   * link that no longer exists (the TUN, closed before teardown) went with it:
   * they are not deleted one by one. */
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
    this.indexCache.clear();
    const gone = new Set<string>();
    const links = new Set([...this.owned.links.keys(), ...[...this.owned.addresses.values()].map((a) => a.link),
      ...[...this.owned.routes.values()].flatMap((r) => (r.link !== undefined ? [r.link] : [])), ...[...this.owned.proxies.values()].map((p) => p.link)]);
    for (const name of links) if ((await this.indexOrNull(name)) === null) gone.add(name);
    const alive = <T extends { link?: string }>(xs: Iterable<T>): T[] => [...xs].filter((x) => x.link === undefined || !gone.has(x.link)).reverse();
    const forget = <T>(m: Map<string, T>, keep: (x: T) => boolean): void => {
      for (const [k, v] of m) if (!keep(v)) m.delete(k);
    };
    forget(this.owned.proxies, (p) => !gone.has(p.link));
    forget(this.owned.routes, (r) => r.link === undefined || !gone.has(r.link));
    forget(this.owned.addresses, (a) => !gone.has(a.link));
    await attempt('proxy entries', () => this.removeProxies(alive(this.owned.proxies.values())));
    await attempt('routes', () => this.removeRoutes(alive(this.owned.routes.values())));
    // By interface name: a rule stays when its device goes.
    await attempt('rules', () => this.removeRules([...this.owned.rules.values()]));
    await attempt('addresses', () => this.removeAddresses(alive(this.owned.addresses.values())));
    for (const [name, before] of [...this.owned.links.entries()].reverse()) {
      if (gone.has(name)) continue;
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
  return r.gateway === gw && r.type === spec.type && (spec.oif === undefined || r.oif === spec.oif);
}

/** Throws the first error of a batch that is not one of the tolerated codes. */
function throwFirst(results: Array<NetlinkError | null>, ...tolerated: string[]): void {
  const e = results.find((x) => x !== null && !tolerated.includes(x.code));
  if (e) throw e;
}
