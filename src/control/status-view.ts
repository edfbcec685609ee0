// What `sixtun status` shows of a tunnel and of the offloads, and which
// tunnels a status request asks for.
import { formatIp, formatPrefix } from '../wire/address.js';
import { formatIpv4Address } from '../wire/ipv4.js';
import type { OffloadStats } from '../datapath/loop.js';
import type { TunnelView } from '../datapath/tables.js';
import type { Tunnel } from '../route/tunnel.js';

/** One tunnel (`tunnel`), those whose name, remote or client address contain
 * `filter`, or all; the request's page of them, and how many matched. Costs
 * what it returns, plus a pass over the tunnels for a filter. */
export function selectTunnels(tables: TunnelView, req: Record<string, unknown>): { page: Tunnel[]; matched: number } {
  let matched: Tunnel[];
  if (typeof req.tunnel === 'string') {
    const t = tables.byName.get(req.tunnel);
    if (!t) throw Object.assign(new Error(`no tunnel ${req.tunnel}`), { code: 'ENOENT' });
    matched = [t];
  } else if (typeof req.filter === 'string' && req.filter !== '') {
    const f = req.filter;
    matched = [...tables.byName.values()].filter((t) => t.spec.name.includes(f) || formatIpv4Address(t.spec.remoteV4).includes(f) || formatIp(t.spec.clientV6).includes(f));
  } else {
    matched = [...tables.byName.values()];
  }
  const offset = typeof req.offset === 'number' && req.offset > 0 ? Math.floor(req.offset) : 0;
  const limit = typeof req.limit === 'number' && req.limit >= 0 ? Math.floor(req.limit) : matched.length;
  return { page: matched.slice(offset, offset + limit), matched: matched.length };
}

export function offloadStatus(s: OffloadStats): Record<string, number> {
  return { super_packets: s.superPackets, segments: s.segments, coalesced_packets: s.coalescedPackets, coalesced_segments: s.coalescedSegments };
}

export function tunnelStatus(t: Tunnel): Record<string, unknown> {
  const c = t.counters;
  return {
    name: t.spec.name,
    remote_ipv4: formatIpv4Address(t.spec.remoteV4),
    server_ipv6: formatIp(t.spec.serverV6),
    client_ipv6: formatIp(t.spec.clientV6),
    routed_prefixes: t.spec.routed.map(formatPrefix),
    mtu: t.effectiveMtu(Date.now()),
    path_mtu: t.pathMtu || null,
    tx: { packets: c.txPackets, bytes: c.txBytes, last: c.lastTx ? new Date(c.lastTx).toISOString() : null },
    rx: { packets: c.rxPackets, bytes: c.rxBytes, last: c.lastRx ? new Date(c.lastRx).toISOString() : null },
    icmp_sent: c.icmpSent,
    to_server: c.toServer,
    drops: c.dropsByName(),
  };
}

