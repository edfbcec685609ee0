// Which IPv4 addresses may be a tunnel's client endpoint: one rule for the
// configuration file, `sixtun tunnel add|set` and /nic/update. Ranges that
// are never an endpoint (loopback, multicast, …) are always refused; private,
// documentation and benchmarking ranges only where `endpoint_ranges` lists
// them (a lab, a NAT'd site, tests and demos).
import { parseIpv4Address } from '../wire/ipv4.js';

export const ENDPOINT_RANGE_CLASSES = ['private', 'documentation', 'benchmarking'] as const;
export type EndpointRangeClass = (typeof ENDPOINT_RANGE_CLASSES)[number];

/** The IANA IPv4 Special-Purpose Address Registry (RFC 6890 and its updates)
 * entries that are not globally reachable, the deprecated 6to4 relay anycast,
 * multicast and reserved space; a class where a configuration may allow it. */
const SPECIAL_IPV4: Array<[net: number, length: number, what: string, allowedBy: EndpointRangeClass | null]> = [
  [0x00000000, 8, '"this network" (0/8)', null],
  [0x0a000000, 8, 'private (10/8)', 'private'],
  [0x64400000, 10, 'shared address space (100.64/10)', 'private'],
  [0x7f000000, 8, 'loopback (127/8)', null],
  [0xa9fe0000, 16, 'link-local (169.254/16)', null],
  [0xac100000, 12, 'private (172.16/12)', 'private'],
  [0xc0000000, 24, 'IETF protocol assignments (192.0.0/24)', null],
  [0xc0000200, 24, 'documentation (192.0.2/24)', 'documentation'],
  [0xc0586300, 24, 'deprecated 6to4 relay anycast (192.88.99/24)', null],
  [0xc0a80000, 16, 'private (192.168/16)', 'private'],
  [0xc6120000, 15, 'benchmarking (198.18/15)', 'benchmarking'],
  [0xc6336400, 24, 'documentation (198.51.100/24)', 'documentation'],
  [0xcb007100, 24, 'documentation (203.0.113/24)', 'documentation'],
  [0xe0000000, 4, 'multicast (224/4)', null],
  [0xf0000000, 4, 'reserved (240/4)', null],
];

function inRange(ip: number, net: number, length: number): boolean {
  const mask = length === 0 ? 0 : (0xffffffff << (32 - length)) >>> 0;
  return ((ip & mask) >>> 0) === net;
}

/** Why ip cannot be a tunnel endpoint by its range, or null: "loopback
 * (127/8)", or "private (10/8): allowed only with endpoint_ranges: [private]". */
export function endpointProblem(ip: string, allowed: readonly EndpointRangeClass[]): string | null {
  const v = parseIpv4Address(ip);
  if (v === 0xffffffff) return 'broadcast (255.255.255.255)';
  for (const [net, length, what, allowedBy] of SPECIAL_IPV4) {
    if (!inRange(v, net, length)) continue;
    if (allowedBy === null) return what;
    return allowed.includes(allowedBy) ? null : `${what}: allowed only with endpoint_ranges: [${allowedBy}]`;
  }
  return null;
}
