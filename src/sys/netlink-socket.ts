// AF_NETLINK socket. Framing and messages live in src/netlink.
import { native } from './native.js';
import {
  AF_NETLINK, NETLINK_ADD_MEMBERSHIP, NETLINK_CAP_ACK, NETLINK_EXT_ACK, NETLINK_GET_STRICT_CHK,
  NETLINK_ROUTE, SOCK_NONBLOCK, SOCK_RAW, SOL_NETLINK, SOL_SOCKET, SO_RCVBUFFORCE,
} from './constants.js';
import { sockaddrNl } from './sockaddr.js';

export interface NetlinkSocketOptions {
  protocol?: number;
  /** Multicast group numbers (RTNLGRP_*) to join. */
  groups?: readonly number[];
  receiveBufferBytes?: number;
}

export function openNetlink(opts: NetlinkSocketOptions = {}): number {
  const fd = native.socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK, opts.protocol ?? NETLINK_ROUTE);
  try {
    // Extended ACKs carry the kernel's error text; CAP_ACK keeps ACKs short.
    native.setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, 1);
    native.setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, 1);
    try {
      native.setsockopt(fd, SOL_NETLINK, NETLINK_GET_STRICT_CHK, 1);
    } catch {
      // Older kernels: dumps are then unfiltered, which the client tolerates.
    }
    if (opts.receiveBufferBytes) native.setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, opts.receiveBufferBytes);
    native.bind(fd, sockaddrNl(0, 0));
    for (const group of opts.groups ?? []) native.setsockopt(fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, group);
  } catch (e) {
    native.close(fd);
    throw e;
  }
  return fd;
}
