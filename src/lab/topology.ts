// The design's test topology in namespaces (documentation addresses only):
//
//   [clientN] --v4-- [isp] --v4-- [server] --v6 /64 on-link-- [router] --v6-- [host]
//    TUN, sixtun client           TUN, sixtun server                 real kernels
//
// client k: 198.51.100.(k+1), tunnel pair 2001:db8:ff::(2k)/127 (server) and
// ::(2k+1) (client), routed 2001:db8:(100+k-1)::/64. Server IPv4 203.0.113.1.
// Server external 2001:db8:ff::1/64, router 2001:db8:ff::fffe/64, host
// 2001:db8:beef::1 behind the router. Client 1 may have a LAN host
// (2001:db8:100::2) in its routed /64.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Lab } from './netns.js';

export const SERVER_V4 = '203.0.113.1';
export const ISP_SERVER_SIDE_V4 = '203.0.113.254';
export const ISP_CLIENT_SIDE_V4 = '198.51.100.1';
export const SERVER_EXT_V6 = '2001:db8:ff::1';
export const ROUTER_V6 = '2001:db8:ff::fffe';
export const HOST_V6 = '2001:db8:beef::1';

export interface ClientInfo {
  index: number;
  ns: string;
  v4: string;
  serverV6: string;
  clientV6: string;
  routed: string;
  lanNs: string | null;
  lanHostV6: string | null;
  name: string;
}

export interface Topology {
  lab: Lab;
  isp: string;
  server: string;
  router: string;
  host: string;
  clients: ClientInfo[];
}

export interface TopologyOptions {
  clients?: number;
  /** Give client 1 a LAN namespace with a host in its routed /64. */
  lan?: boolean;
  /** MTU of the isp → server link (the IPv4 path MTU towards the server). */
  ispServerMtu?: number;
}

export function clientInfo(lab: Lab, k: number, lan: boolean): ClientInfo {
  const hex = (n: number): string => n.toString(16);
  return {
    index: k,
    ns: lab.prefix + `c${k}`,
    v4: `198.51.100.${k + 1}`,
    serverV6: `2001:db8:ff::${hex(2 * k)}`,
    clientV6: `2001:db8:ff::${hex(2 * k + 1)}`,
    routed: `2001:db8:${hex(0x100 + k - 1)}::/64`,
    lanNs: lan ? lab.prefix + `lan${k}` : null,
    lanHostV6: lan ? `2001:db8:${hex(0x100 + k - 1)}::2` : null,
    name: `client${k}`,
  };
}

export function buildTopology(lab: Lab, opts: TopologyOptions = {}): Topology {
  const nClients = opts.clients ?? 1;
  const isp = lab.ns('isp');
  const server = lab.ns('srv');
  const router = lab.ns('rtr');
  const host = lab.ns('host');

  // IPv4: a bridge in the isp joins the clients; a point-to-point link to the server.
  lab.ip(isp, ['link', 'add', 'br0', 'type', 'bridge']);
  lab.ip(isp, ['link', 'set', 'br0', 'up']);
  lab.addr(isp, 'br0', `${ISP_CLIENT_SIDE_V4}/24`);
  lab.veth(isp, 'to-srv', server, 'wan0');
  if (opts.ispServerMtu) {
    lab.ip(isp, ['link', 'set', 'to-srv', 'mtu', String(opts.ispServerMtu)]);
    lab.ip(server, ['link', 'set', 'wan0', 'mtu', String(opts.ispServerMtu)]);
  }
  lab.addr(isp, 'to-srv', `${ISP_SERVER_SIDE_V4}/24`);
  lab.addr(server, 'wan0', `${SERVER_V4}/24`);
  lab.ip(server, ['route', 'add', 'default', 'via', ISP_SERVER_SIDE_V4]);
  lab.sysctl(isp, 'net.ipv4.ip_forward', '1');

  // IPv6 upstream: the server's external /64 is on-link with the router.
  lab.veth(server, 'ext0', router, 'to-srv');
  lab.addr(server, 'ext0', `${SERVER_EXT_V6}/64`, ['nodad']);
  lab.addr(router, 'to-srv', `${ROUTER_V6}/64`, ['nodad']);
  lab.ip(server, ['-6', 'route', 'add', 'default', 'via', ROUTER_V6]);
  lab.veth(router, 'to-host', host, 'eth0');
  lab.addr(router, 'to-host', '2001:db8:beef::fffe/64', ['nodad']);
  lab.addr(host, 'eth0', `${HOST_V6}/64`, ['nodad']);
  lab.ip(host, ['-6', 'route', 'add', 'default', 'via', '2001:db8:beef::fffe']);
  lab.sysctl(router, 'net.ipv6.conf.all.forwarding', '1');

  const clients: ClientInfo[] = [];
  for (let k = 1; k <= nClients; k++) {
    const c = clientInfo(lab, k, k === 1 && opts.lan === true);
    lab.ns(`c${k}`);
    lab.veth(c.ns, 'wan0', isp, `c${k}`);
    lab.ip(isp, ['link', 'set', `c${k}`, 'master', 'br0']);
    lab.addr(c.ns, 'wan0', `${c.v4}/24`);
    lab.ip(c.ns, ['route', 'add', 'default', 'via', ISP_CLIENT_SIDE_V4]);
    // The upstream routes each client's routed prefix to the server.
    lab.ip(router, ['-6', 'route', 'add', c.routed, 'via', SERVER_EXT_V6]);
    if (c.lanNs) {
      lab.ns(`lan${k}`);
      const gw = c.routed.replace('::/64', '::1');
      lab.veth(c.ns, 'lan0', c.lanNs, 'eth0');
      lab.addr(c.ns, 'lan0', `${gw}/64`, ['nodad']);
      lab.addr(c.lanNs, 'eth0', `${c.lanHostV6}/64`, ['nodad']);
      lab.ip(c.lanNs, ['-6', 'route', 'add', 'default', 'via', gw]);
      lab.sysctl(c.ns, 'net.ipv6.conf.all.forwarding', '1');
    }
    clients.push(c);
  }
  return { lab, isp, server, router, host, clients };
}

export interface ServerConfigOptions {
  ndp?: 'userspace' | 'kernel' | 'off';
  controlSocket: string;
  extra?: string;
}

export function serverConfigYaml(t: Topology, opts: ServerConfigOptions, clients = t.clients): string {
  const tunnels = clients.map((c) => `  - name: ${c.name}
    client_ipv4: ${c.v4}
    server_ipv6: ${c.serverV6}/127
    client_ipv6: ${c.clientV6}
    routed_prefixes: [${c.routed}]
`).join('');
  return `mode: server
interface: sixtun0
# The lab's endpoints are documentation and benchmarking addresses.
endpoint_ranges: [documentation, benchmarking]
local_ipv4: ${SERVER_V4}
external_interface: ext0
ndp: ${opts.ndp ?? 'userspace'}
control_socket: ${opts.controlSocket}
${opts.extra ?? ''}tunnels:
${tunnels}`;
}

export function clientConfigYaml(c: ClientInfo, controlSocket: string, extra = ''): string {
  return `mode: client
interface: sixtun0
server_ipv4: ${SERVER_V4}
client_ipv6: ${c.clientV6}/127
server_ipv6: ${c.serverV6}
default_route: true
control_socket: ${controlSocket}
${extra}`;
}

/** Writes text to dir/name and returns the path. */
export function writeConfig(dir: string, name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}
