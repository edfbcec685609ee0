// Raw IPv4 socket for one IP protocol, with IP_HDRINCL: sixtun writes the
// whole IPv4 header itself, and the kernel hands received datagrams over with
// their IPv4 header (after reassembly).
import { native } from './native.js';
import {
  AF_INET, IPPROTO_IP, IP_HDRINCL, IP_MTU_DISCOVER, IP_PMTUDISC_PROBE, IP_RECVERR, IP_RECVERR_RFC4884,
  SOCK_NONBLOCK, SOCK_RAW, SOL_SOCKET, SO_RCVBUFFORCE, SO_SNDBUFFORCE,
} from './constants.js';
import { sockaddrIn } from './sockaddr.js';

export interface Raw4Options {
  protocol: number;
  /** Local IPv4 (u32) to bind to; packets to other local addresses are then not delivered. */
  bindAddress?: number;
  /** Ask for ICMPv4 errors on the error queue (Fragmentation Needed, unreachables). */
  recvErr?: boolean;
  /** Socket buffer size in bytes, both directions. */
  bufferBytes?: number;
}

export function openRaw4(opts: Raw4Options): number {
  const fd = native.socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK, opts.protocol);
  try {
    native.setsockopt(fd, IPPROTO_IP, IP_HDRINCL, 1);
    // PROBE: the kernel neither fragments nor refuses on its cached PMTU; we
    // set DF ourselves and learn the path MTU from the errors queued below.
    native.setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_PROBE);
    if (opts.recvErr) {
      native.setsockopt(fd, IPPROTO_IP, IP_RECVERR, 1);
      try {
        native.setsockopt(fd, IPPROTO_IP, IP_RECVERR_RFC4884, 1);
      } catch {
        // Before Linux 5.9: extension objects cannot be told from the quote (rare; relayed as quoted).
      }
    }
    if (opts.bufferBytes) {
      native.setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, opts.bufferBytes);
      native.setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, opts.bufferBytes);
    }
    if (opts.bindAddress !== undefined) native.bind(fd, sockaddrIn(opts.bindAddress));
  } catch (e) {
    native.close(fd);
    throw e;
  }
  return fd;
}
