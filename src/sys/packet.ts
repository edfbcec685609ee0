// AF_PACKET socket on one interface, with a classic BPF filter and optional
// all-multicast membership. The membership belongs to the socket: the kernel
// drops it when the socket closes, so the interface's allmulti count returns
// to what it was even if sixtun is killed.
import { native } from './native.js';
import {
  AF_PACKET, PACKET_ADD_MEMBERSHIP, PACKET_MR_ALLMULTI, SOCK_NONBLOCK, SOCK_RAW, SOL_PACKET, htons,
} from './constants.js';
import { sockaddrLl } from './sockaddr.js';

export interface PacketOptions {
  ifindex: number;
  /** Ethertype (host order), e.g. ETH_P_IPV6. */
  protocol: number;
  allMulticast?: boolean;
  /** Filter attached before bind, so no unfiltered packet is ever queued. */
  filter?: Uint8Array;
}

/** A classic BPF instruction: struct sock_filter { u16 code; u8 jt; u8 jf; u32 k; }. */
export interface BpfInsn {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

export function encodeBpf(program: readonly BpfInsn[]): Uint8Array {
  const out = new Uint8Array(program.length * 8);
  const dv = new DataView(out.buffer);
  program.forEach((insn, i) => {
    dv.setUint16(i * 8, insn.code, true);
    out[i * 8 + 2] = insn.jt;
    out[i * 8 + 3] = insn.jf;
    dv.setUint32(i * 8 + 4, insn.k >>> 0, true);
  });
  return out;
}

export function openPacket(opts: PacketOptions): number {
  // Protocol 0 until bound: nothing is queued before the filter is in place.
  const fd = native.socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK, 0);
  try {
    if (opts.filter) native.attachFilter(fd, opts.filter);
    native.bind(fd, sockaddrLl(opts.ifindex, opts.protocol));
    if (opts.allMulticast) {
      // struct packet_mreq { int mr_ifindex; u16 mr_type; u16 mr_alen; u8 mr_address[8]; }
      const mreq = new Uint8Array(16);
      const dv = new DataView(mreq.buffer);
      dv.setInt32(0, opts.ifindex, true);
      dv.setUint16(4, PACKET_MR_ALLMULTI, true);
      native.setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, mreq);
    }
  } catch (e) {
    native.close(fd);
    throw e;
  }
  return fd;
}

export function attachFilter(fd: number, program: readonly BpfInsn[]): void {
  native.attachFilter(fd, encodeBpf(program));
}

/** Network-order protocol as socket(AF_PACKET, …, protocol) would want it. */
export const packetProtocol = htons;
