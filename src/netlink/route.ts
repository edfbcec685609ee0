// Routes: struct rtmsg (12 bytes) + RTA_* attributes.
import {
  AF_INET, AF_INET6, NLMSG_HDRLEN, NLM_F_APPEND, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE, RTA_DST, RTA_GATEWAY, RTA_OIF,
  RTA_PREFSRC, RTA_PRIORITY, RTA_TABLE, RTMSG_LEN, RTM_DELROUTE, RTM_F_LOOKUP_TABLE, RTM_GETROUTE, RTM_NEWROUTE,
  RTN_UNICAST, RTN_UNSPEC, RT_SCOPE_LINK, RT_SCOPE_UNIVERSE, RT_TABLE_MAIN,
} from './constants.js';
import { AttrIterator, MessageBuilder, type MessageView } from './message.js';
import type { NetlinkClient } from './client.js';
import { formatIp, parseIp, type IpPrefix } from '../wire/address.js';

const RTM_FAMILY = 0;
const RTM_DST_LEN = 1;
const RTM_TABLE = 4;
const RTM_PROTOCOL = 5;
const RTM_SCOPE = 6;
const RTM_TYPE = 7;
const RTM_FLAGS = 8;

export interface RouteSpec {
  dst: IpPrefix;
  /** Output interface index. */
  oif?: number;
  gateway?: string;
  metric?: number;
  table?: number;
  protocol?: number;
  /** RTN_* (default unicast). */
  type?: number;
}

export interface Route {
  family: 4 | 6;
  dst: string;
  dstLength: number;
  table: number;
  protocol: number;
  scope: number;
  type: number;
  oif: number | null;
  gateway: string | null;
  metric: number | null;
  prefsrc: string | null;
}

function routeMessage(type: number, flags: number, spec: RouteSpec, forDelete: boolean): Uint8Array {
  const table = spec.table ?? RT_TABLE_MAIN;
  const b = new MessageBuilder(type, flags, RTMSG_LEN)
    .u8(RTM_FAMILY, spec.dst.family === 4 ? AF_INET : AF_INET6)
    .u8(RTM_DST_LEN, spec.dst.length)
    .u8(RTM_TABLE, table < 256 ? table : 0)
    .u8(RTM_PROTOCOL, spec.protocol ?? 0)
    // A device route without a gateway is on-link: scope link for IPv4 (as iproute2 does).
    .u8(RTM_SCOPE, forDelete || spec.gateway !== undefined || spec.dst.family === 6 ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK)
    .u8(RTM_TYPE, forDelete ? RTN_UNSPEC : spec.type ?? RTN_UNICAST);
  b.attrBytes(RTA_DST, spec.dst.bytes.subarray(0, spec.dst.family === 4 ? 4 : 16));
  if (spec.gateway !== undefined) b.attrBytes(RTA_GATEWAY, parseIp(spec.gateway).bytes);
  if (spec.metric !== undefined) b.attrU32(RTA_PRIORITY, spec.metric);
  if (spec.oif !== undefined) b.attrU32(RTA_OIF, spec.oif);
  if (table >= 256) b.attrU32(RTA_TABLE, table);
  return b.finish();
}

/** `ip route add DST [via GW] [dev OIF] [proto P] [metric M] [table T]` (CREATE|EXCL) */
export function encodeRouteAdd(spec: RouteSpec): Uint8Array {
  return routeMessage(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, spec, false);
}

/** `ip route append …` (CREATE|APPEND): next to routes of the same
 * destination and metric on other links (each link's fe80::/64, metric 256),
 * which add refuses (EEXIST) and replace would take away. */
export function encodeRouteAppend(spec: RouteSpec): Uint8Array {
  return routeMessage(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_APPEND, spec, false);
}

/** `ip route replace …` (CREATE|REPLACE) */
export function encodeRouteReplace(spec: RouteSpec): Uint8Array {
  return routeMessage(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, spec, false);
}

/** `ip route del …` */
export function encodeRouteDel(spec: RouteSpec): Uint8Array {
  return routeMessage(RTM_DELROUTE, 0, spec, true);
}

/** `ip -4|-6 route show table all` */
export function encodeRouteDump(family: 4 | 6): Uint8Array {
  return new MessageBuilder(RTM_GETROUTE, 0, RTMSG_LEN).u8(RTM_FAMILY, family === 4 ? AF_INET : AF_INET6).finish();
}

/** `ip route get ADDR` */
export function encodeRouteGet(addr: string): Uint8Array {
  const a = parseIp(addr);
  return new MessageBuilder(RTM_GETROUTE, 0, RTMSG_LEN)
    .u8(RTM_FAMILY, a.family === 4 ? AF_INET : AF_INET6)
    .u8(RTM_DST_LEN, a.family === 4 ? 32 : 128)
    .u32(RTM_FLAGS, RTM_F_LOOKUP_TABLE)
    .attrBytes(RTA_DST, a.bytes)
    .finish();
}

export function decodeRoute(m: MessageView): Route | null {
  const b = m.off + NLMSG_HDRLEN;
  const af = m.buf[b + RTM_FAMILY];
  if (af !== AF_INET && af !== AF_INET6) return null;
  const family = af === AF_INET ? 4 : 6;
  const r: Route = {
    family,
    dst: family === 4 ? '0.0.0.0' : '::',
    dstLength: m.buf[b + RTM_DST_LEN],
    table: m.buf[b + RTM_TABLE],
    protocol: m.buf[b + RTM_PROTOCOL],
    scope: m.buf[b + RTM_SCOPE],
    type: m.buf[b + RTM_TYPE],
    oif: null, gateway: null, metric: null, prefsrc: null,
  };
  const it = new AttrIterator(m.buf, b + RTMSG_LEN, m.off + m.len);
  while (it.next()) {
    switch (it.type) {
      case RTA_DST: r.dst = formatIp(it.bytes()); break;
      case RTA_OIF: r.oif = it.u32(); break;
      case RTA_GATEWAY: r.gateway = formatIp(it.bytes()); break;
      case RTA_PRIORITY: r.metric = it.u32(); break;
      case RTA_PREFSRC: r.prefsrc = formatIp(it.bytes()); break;
      case RTA_TABLE: r.table = it.u32(); break;
    }
  }
  return r;
}

function describe(spec: RouteSpec): string {
  return `${formatIp(spec.dst.bytes)}/${spec.dst.length}` +
    (spec.gateway ? ` via ${spec.gateway}` : '') + (spec.oif !== undefined ? ` dev ${spec.oif}` : '');
}

export async function addRoute(nl: NetlinkClient, spec: RouteSpec): Promise<void> {
  await nl.request(encodeRouteAdd(spec), { operation: `route add ${describe(spec)}` });
}

export async function replaceRoute(nl: NetlinkClient, spec: RouteSpec): Promise<void> {
  await nl.request(encodeRouteReplace(spec), { operation: `route replace ${describe(spec)}` });
}

export async function deleteRoute(nl: NetlinkClient, spec: RouteSpec): Promise<void> {
  await nl.request(encodeRouteDel(spec), { operation: `route del ${describe(spec)}` });
}

export async function dumpRoutes(nl: NetlinkClient, family: 4 | 6): Promise<Route[]> {
  const replies = await nl.request(encodeRouteDump(family), { operation: `route dump -${family}`, dump: true });
  const out: Route[] = [];
  for (const m of replies) {
    const r = m.type === RTM_NEWROUTE ? decodeRoute(m) : null;
    if (r) out.push(r);
  }
  return out;
}

/** The kernel's route to addr: output interface, gateway, preferred source. */
export async function getRoute(nl: NetlinkClient, addr: string): Promise<Route> {
  const [reply] = await nl.request(encodeRouteGet(addr), { operation: `route get ${addr}` });
  const r = reply ? decodeRoute(reply) : null;
  if (!r) throw new Error(`route get ${addr}: no route in reply`);
  return r;
}
