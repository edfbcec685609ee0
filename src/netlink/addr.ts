// Addresses: struct ifaddrmsg (8 bytes) + IFA_* attributes.
import {
  AF_INET, AF_INET6, IFADDRMSG_LEN, IFA_ADDRESS, IFA_FLAGS, IFA_F_NODAD, IFA_LOCAL, NLMSG_HDRLEN,
  NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE, RTM_DELADDR, RTM_GETADDR, RTM_NEWADDR,
} from './constants.js';
import { AttrIterator, MessageBuilder, type MessageView } from './message.js';
import type { NetlinkClient } from './client.js';
import { formatIp, type IpPrefix } from '../wire/address.js';

const IFA_FAMILY = 0;
const IFA_PREFIXLEN = 1;
const IFA_FLAGS_OFF = 2;
const IFA_SCOPE = 3;
const IFA_INDEX = 4;

export interface Address {
  family: 4 | 6;
  index: number;
  prefixLength: number;
  flags: number;
  scope: number;
  /** IFA_LOCAL when present (the interface's own address), else IFA_ADDRESS. */
  address: string;
  /** IFA_ADDRESS: the peer on point-to-point links, else the same as address. */
  peer: string | null;
}

export interface AddressSpec {
  index: number;
  prefix: IpPrefix;
  /** Skip duplicate address detection (IFA_F_NODAD). */
  nodad?: boolean;
}

function afOf(p: IpPrefix): number {
  return p.family === 4 ? AF_INET : AF_INET6;
}

function addrMessage(type: number, flags: number, spec: AddressSpec, ifaFlags: number): Uint8Array {
  return new MessageBuilder(type, flags, IFADDRMSG_LEN)
    .u8(IFA_FAMILY, afOf(spec.prefix))
    .u8(IFA_PREFIXLEN, spec.prefix.length)
    .u8(IFA_FLAGS_OFF, ifaFlags)
    .u32(IFA_INDEX, spec.index)
    .attrBytes(IFA_LOCAL, spec.prefix.bytes)
    .attrBytes(IFA_ADDRESS, spec.prefix.bytes)
    .finish();
}

/** `ip addr add ADDR/LEN dev INDEX [nodad]` (CREATE|EXCL: EEXIST if present) */
export function encodeAddrAdd(spec: AddressSpec): Uint8Array {
  return addrMessage(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, spec, spec.nodad ? IFA_F_NODAD : 0);
}

/** `ip addr replace ADDR/LEN dev INDEX [nodad]` (CREATE|REPLACE) */
export function encodeAddrReplace(spec: AddressSpec): Uint8Array {
  return addrMessage(RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE, spec, spec.nodad ? IFA_F_NODAD : 0);
}

/** `ip addr del ADDR/LEN dev INDEX` */
export function encodeAddrDel(spec: AddressSpec): Uint8Array {
  return addrMessage(RTM_DELADDR, 0, spec, 0);
}

/** `ip -4|-6 addr show` (family 4, 6 or 0 for both) */
export function encodeAddrDump(family: 0 | 4 | 6): Uint8Array {
  return new MessageBuilder(RTM_GETADDR, 0, IFADDRMSG_LEN)
    .u8(IFA_FAMILY, family === 4 ? AF_INET : family === 6 ? AF_INET6 : 0)
    .finish();
}

export function decodeAddress(m: MessageView): Address | null {
  const b = m.off + NLMSG_HDRLEN;
  const af = m.buf[b + IFA_FAMILY];
  if (af !== AF_INET && af !== AF_INET6) return null;
  let local: string | null = null;
  let address: string | null = null;
  let flags = m.buf[b + IFA_FLAGS_OFF];
  const it = new AttrIterator(m.buf, b + IFADDRMSG_LEN, m.off + m.len);
  while (it.next()) {
    if (it.type === IFA_LOCAL) local = formatIp(it.bytes());
    else if (it.type === IFA_ADDRESS) address = formatIp(it.bytes());
    else if (it.type === IFA_FLAGS) flags = it.u32();
  }
  const own = local ?? address;
  if (own === null) return null;
  return {
    family: af === AF_INET ? 4 : 6,
    index: m.dv.getUint32(b + IFA_INDEX, true),
    prefixLength: m.buf[b + IFA_PREFIXLEN],
    flags,
    scope: m.buf[b + IFA_SCOPE],
    address: own,
    peer: address,
  };
}

export async function addAddress(nl: NetlinkClient, spec: AddressSpec): Promise<void> {
  await nl.request(encodeAddrAdd(spec), { operation: `addr add ${formatIp(spec.prefix.bytes)}/${spec.prefix.length} dev ${spec.index}` });
}

export async function deleteAddress(nl: NetlinkClient, spec: AddressSpec): Promise<void> {
  await nl.request(encodeAddrDel(spec), { operation: `addr del ${formatIp(spec.prefix.bytes)}/${spec.prefix.length} dev ${spec.index}` });
}

/** All addresses of the family; with index, only that link's. */
export async function dumpAddresses(nl: NetlinkClient, family: 0 | 4 | 6 = 0, index?: number): Promise<Address[]> {
  const replies = await nl.request(encodeAddrDump(family), { operation: 'addr dump', dump: true });
  const out: Address[] = [];
  for (const m of replies) {
    if (m.type !== RTM_NEWADDR) continue;
    const a = decodeAddress(m);
    if (a && (index === undefined || a.index === index)) out.push(a);
  }
  return out;
}
