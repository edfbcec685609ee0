// Links: struct ifinfomsg (16 bytes) + IFLA_* attributes.
import {
  AF_UNSPEC, IFF_UP, IFINFOMSG_LEN, IFLA_ADDRESS, IFLA_EXT_MASK, IFLA_IFNAME, IFLA_MTU, IFLA_OPERSTATE,
  IFLA_TXQLEN, NLMSG_HDRLEN, RTEXT_FILTER_SKIP_STATS, RTM_GETLINK, RTM_NEWLINK,
} from './constants.js';
import { AttrIterator, MessageBuilder, type MessageView } from './message.js';
import type { NetlinkClient } from './client.js';

// ifinfomsg offsets
const IFI_FAMILY = 0;
const IFI_TYPE = 2;
const IFI_INDEX = 4;
const IFI_FLAGS = 8;
const IFI_CHANGE = 12;

export interface Link {
  index: number;
  name: string;
  /** ARPHRD_* (1 Ethernet, 65534 none/TUN, 772 loopback). */
  type: number;
  flags: number;
  mtu: number;
  txQueueLen: number;
  operState: number;
  mac: Uint8Array | null;
}

export function decodeLink(m: MessageView): Link {
  const b = m.off + NLMSG_HDRLEN;
  const link: Link = {
    index: m.dv.getInt32(b + IFI_INDEX, true),
    type: m.dv.getUint16(b + IFI_TYPE, true),
    flags: m.dv.getUint32(b + IFI_FLAGS, true),
    name: '', mtu: 0, txQueueLen: 0, operState: 0, mac: null,
  };
  const it = new AttrIterator(m.buf, b + IFINFOMSG_LEN, m.off + m.len);
  while (it.next()) {
    switch (it.type) {
      case IFLA_IFNAME: link.name = it.string(); break;
      case IFLA_MTU: link.mtu = it.u32(); break;
      case IFLA_TXQLEN: link.txQueueLen = it.u32(); break;
      case IFLA_OPERSTATE: link.operState = it.u8(); break;
      case IFLA_ADDRESS: link.mac = it.bytes(); break;
    }
  }
  return link;
}

function linkMessage(type: number, flags: number, index: number): MessageBuilder {
  return new MessageBuilder(type, flags, IFINFOMSG_LEN).u8(IFI_FAMILY, AF_UNSPEC).i32(IFI_INDEX, index);
}

/** `ip link set INDEX up|down` */
export function encodeLinkSetUp(index: number, up: boolean): Uint8Array {
  return linkMessage(RTM_NEWLINK, 0, index).u32(IFI_FLAGS, up ? IFF_UP : 0).u32(IFI_CHANGE, IFF_UP).finish();
}

/** `ip link set INDEX mtu MTU` */
export function encodeLinkSetMtu(index: number, mtu: number): Uint8Array {
  return linkMessage(RTM_NEWLINK, 0, index).attrU32(IFLA_MTU, mtu).finish();
}

/** `ip link set INDEX txqueuelen N` */
export function encodeLinkSetTxQueueLen(index: number, len: number): Uint8Array {
  return linkMessage(RTM_NEWLINK, 0, index).attrU32(IFLA_TXQLEN, len).finish();
}

/** `ip link show NAME` (by name when index is 0) */
export function encodeLinkGet(index: number, name?: string): Uint8Array {
  const b = linkMessage(RTM_GETLINK, 0, index).attrU32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
  if (name !== undefined) b.attrString(IFLA_IFNAME, name);
  return b.finish();
}

/** `ip link show` */
export function encodeLinkDump(): Uint8Array {
  return linkMessage(RTM_GETLINK, 0, 0).attrU32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS).finish();
}

export async function getLink(nl: NetlinkClient, nameOrIndex: string | number): Promise<Link> {
  const byName = typeof nameOrIndex === 'string';
  const msg = byName ? encodeLinkGet(0, nameOrIndex) : encodeLinkGet(nameOrIndex);
  const [reply] = await nl.request(msg, { operation: `link get ${nameOrIndex}` });
  if (!reply) throw new Error(`link get ${nameOrIndex}: empty reply`);
  return decodeLink(reply);
}

export async function dumpLinks(nl: NetlinkClient): Promise<Link[]> {
  const replies = await nl.request(encodeLinkDump(), { operation: 'link dump', dump: true });
  return replies.filter((m) => m.type === RTM_NEWLINK).map(decodeLink);
}

export async function setLinkUp(nl: NetlinkClient, index: number, up: boolean): Promise<void> {
  await nl.request(encodeLinkSetUp(index, up), { operation: `link set ${index} ${up ? 'up' : 'down'}` });
}

export async function setLinkMtu(nl: NetlinkClient, index: number, mtu: number): Promise<void> {
  await nl.request(encodeLinkSetMtu(index, mtu), { operation: `link set ${index} mtu ${mtu}` });
}

export async function setLinkTxQueueLen(nl: NetlinkClient, index: number, len: number): Promise<void> {
  await nl.request(encodeLinkSetTxQueueLen(index, len), { operation: `link set ${index} txqueuelen ${len}` });
}
