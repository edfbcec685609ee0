// Netlink monitor: joins the link, address, route and neighbour groups and
// emits typed events. An overrun (ENOBUFS: the kernel dropped notifications)
// is reported as 'overrun' so the owner re-reads the state it cares about.
import { EventEmitter } from 'node:events';
import { native, isSysError } from '../sys/native.js';
import { openNetlink } from '../sys/netlink-socket.js';
import { Watcher } from '../sys/watch.js';
import {
  RTM_DELADDR, RTM_DELLINK, RTM_DELNEIGH, RTM_DELROUTE, RTM_DELRULE, RTM_NEWADDR, RTM_NEWLINK, RTM_NEWNEIGH, RTM_NEWROUTE, RTM_NEWRULE,
  RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV6_IFADDR, RTNLGRP_IPV6_ROUTE, RTNLGRP_IPV6_RULE, RTNLGRP_LINK, RTNLGRP_NEIGH,
} from './constants.js';
import { splitMessages, NetlinkDecodeError } from './message.js';
import { decodeLink, type Link } from './link.js';
import { decodeAddress, type Address } from './addr.js';
import { decodeRoute, type Route } from './route.js';
import { decodeNeighbour, type Neighbour } from './neigh.js';
import { decodeRule, type Rule } from './rule.js';

export type MonitorEvent =
  | { kind: 'link'; action: 'new' | 'del'; link: Link }
  | { kind: 'addr'; action: 'new' | 'del'; address: Address }
  | { kind: 'route'; action: 'new' | 'del'; route: Route }
  | { kind: 'neigh'; action: 'new' | 'del'; neighbour: Neighbour }
  | { kind: 'rule'; action: 'new' | 'del'; rule: Rule };

export interface MonitorEvents {
  event: [MonitorEvent];
  overrun: [];
  error: [Error];
}

export const DEFAULT_MONITOR_GROUPS = [
  RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR, RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV6_ROUTE, RTNLGRP_NEIGH, RTNLGRP_IPV6_RULE,
];

export class NetlinkMonitor extends EventEmitter<MonitorEvents> {
  private readonly fd: number;
  private readonly watcher: Watcher;
  private readonly rx = new Uint8Array(256 * 1024);
  private readonly info = new Int32Array(4);
  private closed = false;

  constructor(groups: readonly number[] = DEFAULT_MONITOR_GROUPS) {
    super();
    this.fd = openNetlink({ groups, receiveBufferBytes: 4 << 20 });
    this.watcher = new Watcher(this.fd, () => this.drain());
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.watcher.stop();
    native.close(this.fd);
  }

  private drain(): void {
    while (!this.closed) {
      let n: number;
      try {
        n = native.recvMsg(this.fd, this.rx, null, null, 0, this.info);
      } catch (e) {
        if (isSysError(e, 'ENOBUFS')) {
          this.emit('overrun');
          continue;
        }
        this.emit('error', e as Error);
        return;
      }
      if (n < 0) return;
      let messages;
      try {
        messages = splitMessages(this.rx, 0, n);
      } catch (e) {
        if (e instanceof NetlinkDecodeError) {
          this.emit('overrun');
          continue;
        }
        throw e;
      }
      for (const m of messages) {
        const ev = toEvent(m.type, m);
        if (ev) this.emit('event', ev);
      }
    }
  }
}

function toEvent(type: number, m: Parameters<typeof decodeLink>[0]): MonitorEvent | null {
  switch (type) {
    case RTM_NEWLINK:
    case RTM_DELLINK:
      return { kind: 'link', action: type === RTM_NEWLINK ? 'new' : 'del', link: decodeLink(m) };
    case RTM_NEWADDR:
    case RTM_DELADDR: {
      const address = decodeAddress(m);
      return address && { kind: 'addr', action: type === RTM_NEWADDR ? 'new' : 'del', address };
    }
    case RTM_NEWROUTE:
    case RTM_DELROUTE: {
      const route = decodeRoute(m);
      return route && { kind: 'route', action: type === RTM_NEWROUTE ? 'new' : 'del', route };
    }
    case RTM_NEWRULE:
    case RTM_DELRULE: {
      const rule = decodeRule(m);
      return rule && { kind: 'rule', action: type === RTM_NEWRULE ? 'new' : 'del', rule };
    }
    case RTM_NEWNEIGH:
    case RTM_DELNEIGH: {
      const neighbour = decodeNeighbour(m);
      return neighbour && { kind: 'neigh', action: type === RTM_NEWNEIGH ? 'new' : 'del', neighbour };
    }
    default:
      return null;
  }
}
