// Neighbours: struct ndmsg (12 bytes) + NDA_* attributes. NTF_PROXY is a
// flag in ndm_flags, byte 10 of ndmsg (NDMSG_FLAGS).
import {
  AF_INET, AF_INET6, NDA_DST, NDA_LLADDR, NDMSG_FAMILY, NDMSG_FLAGS, NDMSG_IFINDEX, NDMSG_LEN, NDMSG_STATE,
  NLMSG_HDRLEN, NLM_F_CREATE, NLM_F_EXCL, NTF_PROXY, NTF_ROUTER, NUD_PERMANENT, RTM_DELNEIGH, RTM_GETNEIGH,
  RTM_NEWNEIGH,
} from './constants.js';
import { AttrIterator, MessageBuilder, type MessageView } from './message.js';
import type { NetlinkClient } from './client.js';
import { formatIp, parseIp } from '../wire/address.js';

export interface Neighbour {
  family: 4 | 6;
  index: number;
  state: number;
  flags: number;
  dst: string;
  lladdr: Uint8Array | null;
}

function proxyMessage(type: number, flags: number, index: number, addr: string, router = false): Uint8Array {
  const a = parseIp(addr);
  return new MessageBuilder(type, flags, NDMSG_LEN)
    .u8(NDMSG_FAMILY, a.family === 4 ? AF_INET : AF_INET6)
    .i32(NDMSG_IFINDEX, index)
    .u16(NDMSG_STATE, NUD_PERMANENT)
    .u8(NDMSG_FLAGS, NTF_PROXY | (router ? NTF_ROUTER : 0))
    .attrBytes(NDA_DST, a.bytes)
    .finish();
}

/** `ip -6 neigh add proxy ADDR dev INDEX [router]` (CREATE|EXCL); with
 * router, the kernel's proxy NAs carry the R flag. */
export function encodeNeighAddProxy(index: number, addr: string, router = false): Uint8Array {
  return proxyMessage(RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_EXCL, index, addr, router);
}

/** `ip -6 neigh del proxy ADDR dev INDEX` */
export function encodeNeighDelProxy(index: number, addr: string): Uint8Array {
  return proxyMessage(RTM_DELNEIGH, 0, index, addr);
}

/** `ip -6 neigh show [proxy]`: the proxy table is dumped when NTF_PROXY is set. */
export function encodeNeighDump(family: 4 | 6, proxy: boolean): Uint8Array {
  return new MessageBuilder(RTM_GETNEIGH, 0, NDMSG_LEN)
    .u8(NDMSG_FAMILY, family === 4 ? AF_INET : AF_INET6)
    .u8(NDMSG_FLAGS, proxy ? NTF_PROXY : 0)
    .finish();
}

export function decodeNeighbour(m: MessageView): Neighbour | null {
  const b = m.off + NLMSG_HDRLEN;
  const af = m.buf[b + NDMSG_FAMILY];
  if (af !== AF_INET && af !== AF_INET6) return null;
  const n: Neighbour = {
    family: af === AF_INET ? 4 : 6,
    index: m.dv.getInt32(b + NDMSG_IFINDEX, true),
    state: m.dv.getUint16(b + NDMSG_STATE, true),
    flags: m.buf[b + NDMSG_FLAGS],
    dst: '',
    lladdr: null,
  };
  const it = new AttrIterator(m.buf, b + NDMSG_LEN, m.off + m.len);
  while (it.next()) {
    if (it.type === NDA_DST) n.dst = formatIp(it.bytes());
    else if (it.type === NDA_LLADDR) n.lladdr = it.bytes();
  }
  return n.dst === '' ? null : n;
}

export async function addProxyNeighbour(nl: NetlinkClient, index: number, addr: string, router = false): Promise<void> {
  await nl.request(encodeNeighAddProxy(index, addr, router), { operation: `neigh add proxy ${addr} dev ${index}${router ? ' router' : ''}` });
}

export async function deleteProxyNeighbour(nl: NetlinkClient, index: number, addr: string): Promise<void> {
  await nl.request(encodeNeighDelProxy(index, addr), { operation: `neigh del proxy ${addr} dev ${index}` });
}

export async function dumpNeighbours(nl: NetlinkClient, family: 4 | 6, proxy: boolean): Promise<Neighbour[]> {
  const replies = await nl.request(encodeNeighDump(family, proxy), { operation: `neigh dump${proxy ? ' proxy' : ''}`, dump: true });
  const out: Neighbour[] = [];
  for (const m of replies) {
    const n = m.type === RTM_NEWNEIGH ? decodeNeighbour(m) : null;
    if (n && (!proxy || n.flags & NTF_PROXY)) out.push(n);
  }
  return out;
}
