// The kernel state a sixtun node needs, derived from its configuration.
import type { ClientConfig, Config, ServerConfig, TunnelConfig } from '../config/config.js';
import type { DesiredState, DesiredAddress, DesiredRoute, DesiredProxy } from './reconcile.js';
import { formatIp, formatPrefix, maskBytes, parseIp, parsePrefix, prefixContains, type IpPrefix } from '../wire/address.js';

/** RFC 4213 §3.7: fe80::/64 with the local IPv4 address as interface ID. */
export function linkLocalFor(localV4: string): string {
  const b = parseIp(localV4).bytes;
  return `fe80::${((b[0] << 8) | b[1]).toString(16)}:${((b[2] << 8) | b[3]).toString(16)}/64`;
}

/** The configured pools: each is one route into the TUN. */
export function poolPrefixes(cfg: ServerConfig): IpPrefix[] {
  return [cfg.pools.pairs, cfg.pools.routed64, cfg.pools.routed48].filter((p): p is IpPrefix => p !== null);
}

function inPool(cfg: ServerConfig, p: IpPrefix): boolean {
  return poolPrefixes(cfg).some((pool) => pool.length <= p.length && prefixContains(pool, p.bytes));
}

/** A tunnel's routes into the TUN: its pair and its routed prefixes, except
 * those inside a pool (the pool's one route carries them, and sixtun's own
 * table decides per packet). Its server address needs none of its own: see
 * serverAddressState. */
export function tunnelRoutes(cfg: ServerConfig, t: TunnelConfig): DesiredRoute[] {
  const pair = { ...t.serverIpv6, bytes: maskBytes(t.serverIpv6.bytes, t.serverIpv6.length) };
  return [pair, ...t.routedPrefixes].filter((p) => !inPool(cfg, p)).map((p) => ({ dst: formatPrefix(p), link: cfg.interface }));
}

/** The second TUN, through which sixtun hands the server's own stack what is
 * addressed to a tunnel's server address: `<interface>-l`. */
export function localTunName(iface: string): string {
  return `${iface.slice(0, 13)}-l`;
}

/** The routing table of that TUN's rule, one per interface name: "st" and 16 bits of its FNV-1a hash. */
export function localTable(iface: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < iface.length; i++) h = Math.imul(h ^ iface.charCodeAt(i), 0x01000193) >>> 0;
  return (0x73740000 | (h & 0xffff)) >>> 0;
}

/** Where in the rules the local TUN's comes: after `local` (0), before `main` (32766). */
export const LOCAL_RULE_PRIORITY = 1000;

/** The server addresses as the kernel's own, as with kernel SIT, but with
 * nothing per tunnel in the kernel (its per-interface address list costs the
 * square of its length, and even a route per address cost 2.2 s of start and
 * 180 MB at 10^5 tunnels): whatever arrives on the local TUN is local
 * (`iif <interface>-l lookup T`, `local ::/0` in T), and sixtun writes there
 * exactly what is addressed to a server address. The kernel's stack then
 * owns TCP, UDP, echoes and errors for them; its answers leave by the pools'
 * and pairs' routes into the main TUN. */
function serverAddressState(cfg: ServerConfig): Required<Pick<DesiredState, 'sysctls' | 'links' | 'routes' | 'rules'>> {
  const dev = localTunName(cfg.interface);
  const table = localTable(cfg.interface);
  return {
    sysctls: tunSysctls(dev),
    links: [{ name: dev, up: true, mtu: cfg.mtu }],
    routes: [{ dst: '::/0', link: dev, table, local: true }],
    rules: [{ iif: dev, table, priority: LOCAL_RULE_PRIORITY }],
  };
}

/** Addresses the upstream router must be able to resolve to the server: the
 * client's, and the server's own tunnel address when configured. (Routed
 * prefixes are whole prefixes: only the userspace proxy can answer for them.) */
export function ndpTargets(cfg: ServerConfig, t: TunnelConfig): string[] {
  const out = [t.clientIpv6];
  if (cfg.ndpServerAddresses) out.push(formatIp(t.serverIpv6.bytes));
  return out;
}

export function tunnelProxies(cfg: ServerConfig, t: TunnelConfig): DesiredProxy[] {
  if (cfg.ndp !== 'kernel' || cfg.externalInterface === null) return [];
  return ndpTargets(cfg, t).map((address) => ({ link: cfg.externalInterface!, address, router: cfg.ndpRouterFlag }));
}

function tunSysctls(iface: string): NonNullable<DesiredState['sysctls']> {
  return [
    // No random link-local on the TUN: it gets fe80::<IPv4> instead (§3.7).
    { key: `net/ipv6/conf/${iface}/addr_gen_mode`, value: '1' },
    { key: `net/ipv6/conf/${iface}/accept_ra`, value: '0' },
  ];
}

export function serverState(cfg: ServerConfig): DesiredState {
  const local = serverAddressState(cfg);
  const sysctls = [...tunSysctls(cfg.interface), ...local.sysctls, { key: 'net/ipv6/conf/all/forwarding', value: '1' }];
  if (cfg.ndp === 'kernel' && cfg.externalInterface !== null) {
    sysctls.push({ key: `net/ipv6/conf/${cfg.externalInterface}/proxy_ndp`, value: '1' });
  }
  return {
    sysctls,
    links: [{ name: cfg.interface, up: true, mtu: cfg.mtu, txQueueLen: cfg.txQueueLen }, ...local.links],
    addresses: [{ link: cfg.interface, cidr: linkLocalFor(cfg.localIpv4), nodad: true }],
    routes: [...poolPrefixes(cfg).map((p) => ({ dst: formatPrefix(p), link: cfg.interface })), ...cfg.tunnels.flatMap((t) => tunnelRoutes(cfg, t)), ...local.routes],
    rules: local.rules,
    proxies: cfg.tunnels.flatMap((t) => tunnelProxies(cfg, t)),
  };
}

export function clientState(cfg: ClientConfig, localIpv4: string): DesiredState {
  const routes: DesiredRoute[] = cfg.routes.map((p) => ({ dst: formatPrefix(p), gateway: cfg.serverIpv6, link: cfg.interface }));
  if (cfg.defaultRoute) routes.unshift({ dst: '::/0', gateway: cfg.serverIpv6, link: cfg.interface });
  const sysctls = tunSysctls(cfg.interface);
  // A routed prefix behind the client: the kernel forwards between the TUN and the LAN.
  if (cfg.forwarding) sysctls.push({ key: 'net/ipv6/conf/all/forwarding', value: '1' });
  const addresses: DesiredAddress[] = [
    { link: cfg.interface, cidr: linkLocalFor(localIpv4), nodad: true },
    { link: cfg.interface, cidr: `${formatIp(cfg.clientIpv6.bytes)}/${cfg.clientIpv6.length}`, nodad: true },
  ];
  if (cfg.lan) addresses.push({ link: cfg.lan.interface, cidr: `${formatIp(cfg.lan.address.bytes)}/${cfg.lan.address.length}`, nodad: true });
  return { sysctls, links: [{ name: cfg.interface, up: true, mtu: cfg.mtu, txQueueLen: cfg.txQueueLen }], addresses, routes };
}

/** The kernel's prefix routes of sixtun's addresses on the TUN (fe80::/64;
 * a client's pair prefix): the kernel made them with the address, and puts
 * them back only with the address, so after a flush sixtun does. */
export function tunPrefixRoutes(cfg: Config, localIpv4: string): DesiredRoute[] {
  const cidrs = cfg.mode === 'server'
    ? [linkLocalFor(cfg.localIpv4)]
    : [linkLocalFor(localIpv4), `${formatIp(cfg.clientIpv6.bytes)}/${cfg.clientIpv6.length}`];
  return cidrs.map((cidr) => parsePrefix(cidr, false)).filter((p) => p.length < 128)
    .map((p) => ({ dst: formatPrefix({ ...p, bytes: maskBytes(p.bytes, p.length) }), link: cfg.interface, metric: KERNEL_PREFIX_METRIC }));
}

/** The metric the kernel gives a prefix route of an IPv6 address (addrconf's IP6_RT_PRIO_ADDRCONF). */
export const KERNEL_PREFIX_METRIC = 256;

export function desiredState(cfg: Config, localIpv4: string): DesiredState {
  return cfg.mode === 'server' ? serverState(cfg) : clientState(cfg, localIpv4);
}
