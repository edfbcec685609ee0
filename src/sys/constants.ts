// Linux ABI numbers (x86_64 and every other Linux architecture sixtun builds on).
export const AF_INET = 2;
export const AF_INET6 = 10;
export const AF_NETLINK = 16;
export const AF_PACKET = 17;

export const SOCK_STREAM = 1;
export const SOCK_DGRAM = 2;
export const SOCK_RAW = 3;
export const SOCK_NONBLOCK = 0o4000;

export const SOL_SOCKET = 1;
export const SO_SNDBUF = 7;
export const SO_RCVBUF = 8;
export const SO_SNDBUFFORCE = 32;
export const SO_RCVBUFFORCE = 33;
export const SO_BINDTODEVICE = 25;

export const IPPROTO_IP = 0;
export const IPPROTO_IPV6 = 41;
export const IPPROTO_ICMPV6 = 58;
export const IP_HDRINCL = 3;
export const IP_MTU_DISCOVER = 10;
export const IP_RECVERR = 11;
/** linux/in.h (5.9): the queued error says where an RFC 4884 quote's original datagram ends. */
export const IP_RECVERR_RFC4884 = 26;
export const IP_MTU = 14;
export const IP_PMTUDISC_DONT = 0;
export const IP_PMTUDISC_PROBE = 3;

export const SOL_PACKET = 263;
export const PACKET_ADD_MEMBERSHIP = 1;
export const PACKET_MR_ALLMULTI = 2;
export const ETH_P_IPV6 = 0x86dd;
export const ETH_P_ALL = 0x0003;

export const SOL_NETLINK = 270;
export const NETLINK_ROUTE = 0;
export const NETLINK_ADD_MEMBERSHIP = 1;
export const NETLINK_CAP_ACK = 10;
export const NETLINK_EXT_ACK = 11;
export const NETLINK_GET_STRICT_CHK = 12;

export const MSG_ERRQUEUE = 0x2000;
export const MSG_TRUNC = 0x20;

export const O_RDWR = 2;
export const O_RDONLY = 0;
export const O_NONBLOCK = 0o4000;

export const CLONE_NEWNET = 0x40000000;

/** uv_poll event bits as the addon's watch() takes them. */
export const READABLE = 1;
export const WRITABLE = 2;
/** Passed to a watch callback when the fd reported POLLERR (the watch stays armed). */
export const WATCH_ERROR = 4;

/** Byte order helper for 16-bit protocol numbers that the kernel wants in network order. */
export function htons(v: number): number {
  return ((v & 0xff) << 8) | ((v >> 8) & 0xff);
}
