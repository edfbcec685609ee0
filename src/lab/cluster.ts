// Several tunnel servers sharing a registry in etcd, in namespaces
// (documentation addresses only):
//
//   [clientN] --v4-- [isp] --v4-- [server a|b|c] --v6 /64 on-link-- [router] --v6-- [host]
//                                   |  mgmt0
//                                 [etcd]  3 members on 192.0.2.254
//
// Server i (0-based): IPv4 203.0.113.(i+1) on a bridge in the isp, external
// 2001:db8:ff::f00(i+1)/64 on a bridge in the router (the tunnel pairs of
// the test topology are on-link there: each server's NDP proxy answers for
// its own clients), management 192.0.2.(i+1)/24 on a bridge in the etcd
// namespace. Clients as in topology.ts, each pointed at the server given.
import type { Lab } from './netns.js';
import { clientInfo, HOST_V6, ISP_CLIENT_SIDE_V4, ROUTER_V6, type ClientInfo } from './topology.js';

export const ETCD_V4 = '192.0.2.254';

export interface ClusterServer {
  name: string;
  ns: string;
  v4: string;
  extV6: string;
  mgmtV4: string;
}

export interface ClusterTopology {
  lab: Lab;
  isp: string;
  router: string;
  host: string;
  etcd: string;
  servers: ClusterServer[];
  clients: ClientInfo[];
}

export function buildClusterTopology(lab: Lab, opts: { servers: number; clients: number }): ClusterTopology {
  const isp = lab.ns('isp');
  const router = lab.ns('rtr');
  const host = lab.ns('host');
  const etcd = lab.ns('etcd');
  for (const [ns, br] of [[isp, 'br0'], [isp, 'br1'], [router, 'br6'], [etcd, 'mgmt']] as const) {
    lab.ip(ns, ['link', 'add', br, 'type', 'bridge']);
    lab.ip(ns, ['link', 'set', br, 'up']);
  }
  lab.addr(isp, 'br0', `${ISP_CLIENT_SIDE_V4}/24`);
  lab.addr(isp, 'br1', '203.0.113.254/24');
  lab.sysctl(isp, 'net.ipv4.ip_forward', '1');
  lab.addr(router, 'br6', `${ROUTER_V6}/64`, ['nodad']);
  lab.addr(etcd, 'mgmt', `${ETCD_V4}/24`);
  lab.ip(etcd, ['link', 'set', 'lo', 'up']);
  lab.veth(router, 'to-host', host, 'eth0');
  lab.addr(router, 'to-host', '2001:db8:beef::fffe/64', ['nodad']);
  lab.addr(host, 'eth0', `${HOST_V6}/64`, ['nodad']);
  lab.ip(host, ['-6', 'route', 'add', 'default', 'via', '2001:db8:beef::fffe']);
  lab.sysctl(router, 'net.ipv6.conf.all.forwarding', '1');

  const servers: ClusterServer[] = [];
  for (let i = 0; i < opts.servers; i++) {
    const name = String.fromCharCode(0x61 + i);
    const s: ClusterServer = { name, ns: lab.ns(`s${name}`), v4: `203.0.113.${i + 1}`, extV6: `2001:db8:ff::f00${i + 1}`, mgmtV4: `192.0.2.${i + 1}` };
    lab.veth(isp, `to-s${name}`, s.ns, 'wan0');
    lab.ip(isp, ['link', 'set', `to-s${name}`, 'master', 'br1']);
    lab.addr(s.ns, 'wan0', `${s.v4}/24`);
    lab.ip(s.ns, ['route', 'add', 'default', 'via', '203.0.113.254']);
    lab.veth(router, `to-s${name}`, s.ns, 'ext0');
    lab.ip(router, ['link', 'set', `to-s${name}`, 'master', 'br6']);
    lab.addr(s.ns, 'ext0', `${s.extV6}/64`, ['nodad']);
    lab.ip(s.ns, ['-6', 'route', 'add', 'default', 'via', ROUTER_V6]);
    lab.veth(etcd, `to-s${name}`, s.ns, 'mgmt0');
    lab.ip(etcd, ['link', 'set', `to-s${name}`, 'master', 'mgmt']);
    lab.addr(s.ns, 'mgmt0', `${s.mgmtV4}/24`);
    servers.push(s);
  }

  const clients: ClientInfo[] = [];
  for (let k = 1; k <= opts.clients; k++) {
    const c = clientInfo(lab, k, false);
    lab.ns(`c${k}`);
    lab.veth(c.ns, 'wan0', isp, `c${k}`);
    lab.ip(isp, ['link', 'set', `c${k}`, 'master', 'br0']);
    lab.addr(c.ns, 'wan0', `${c.v4}/24`);
    lab.ip(c.ns, ['route', 'add', 'default', 'via', ISP_CLIENT_SIDE_V4]);
    clients.push(c);
  }
  return { lab, isp, router, host, etcd, servers, clients };
}

/** A server of the cluster with its registry in etcd (no tunnels in the file);
 * access: more of store.etcd (`, username: …, tls: {…}`). */
export function clusterServerYaml(s: ClusterServer, controlSocket: string, endpoints: string[], extra = '', access = ''): string {
  return `mode: server
interface: sixtun0
# The lab's endpoints are documentation and benchmarking addresses.
endpoint_ranges: [documentation, benchmarking]
local_ipv4: ${s.v4}
external_interface: ext0
server_name: ${s.name}
control_socket: ${controlSocket}
store: {etcd: {endpoints: [${endpoints.map((e) => `"${e}"`).join(', ')}], prefix: /sixtun/${access}}}
${extra}`;
}

/** A client of the cluster's server at serverV4. */
export function clusterClientYaml(c: ClientInfo, serverV4: string, controlSocket: string): string {
  return `mode: client
interface: sixtun0
server_ipv4: ${serverV4}
client_ipv6: ${c.clientV6}/127
server_ipv6: ${c.serverV6}
default_route: true
control_socket: ${controlSocket}
`;
}
