// struct sockaddr_* layouts as bytes, built off the hot path (once per
// socket). The datapath writes a tunnel's remote into a batch's name area
// itself (xmit.ts, Tunnel.writeRemote).
import { AF_INET, AF_INET6, AF_NETLINK, AF_PACKET } from './constants.js';
import { readU32 } from '../wire/ipv4.js';

export const SOCKADDR_IN_LEN = 16;
export const SOCKADDR_IN6_LEN = 28;
export const SOCKADDR_LL_LEN = 20;
export const SOCKADDR_NL_LEN = 12;

/** sockaddr_in: family (host order), port (network order), address (network order). */
export function writeSockaddrIn(out: Uint8Array, off: number, addr: number, port = 0): void {
  out.fill(0, off, off + SOCKADDR_IN_LEN);
  out[off] = AF_INET & 0xff;
  out[off + 1] = AF_INET >> 8;
  out[off + 2] = port >>> 8;
  out[off + 3] = port & 0xff;
  out[off + 4] = addr >>> 24;
  out[off + 5] = (addr >>> 16) & 0xff;
  out[off + 6] = (addr >>> 8) & 0xff;
  out[off + 7] = addr & 0xff;
}

export function sockaddrIn(addr: number, port = 0): Uint8Array {
  const out = new Uint8Array(SOCKADDR_IN_LEN);
  writeSockaddrIn(out, 0, addr, port);
  return out;
}

export function readSockaddrInAddr(buf: Uint8Array, off: number): number {
  return readU32(buf, off + 4);
}

export function sockaddrIn6(addr: Uint8Array, port = 0, scopeId = 0): Uint8Array {
  const out = new Uint8Array(SOCKADDR_IN6_LEN);
  const dv = new DataView(out.buffer);
  dv.setUint16(0, AF_INET6, true);
  dv.setUint16(2, port, false);
  out.set(addr.subarray(0, 16), 8);
  dv.setUint32(24, scopeId, true);
  return out;
}

/** sockaddr_ll for bind() or sendto() on an AF_PACKET socket. protocol is host order. */
export function sockaddrLl(ifindex: number, protocol: number, mac?: Uint8Array): Uint8Array {
  const out = new Uint8Array(SOCKADDR_LL_LEN);
  const dv = new DataView(out.buffer);
  dv.setUint16(0, AF_PACKET, true);
  dv.setUint16(2, protocol, false);
  dv.setInt32(4, ifindex, true);
  if (mac) {
    out[11] = mac.length;
    out.set(mac.subarray(0, 8), 12);
  }
  return out;
}

/** sockaddr_nl: groups is the legacy 32-bit multicast mask. */
export function sockaddrNl(pid = 0, groups = 0): Uint8Array {
  const out = new Uint8Array(SOCKADDR_NL_LEN);
  const dv = new DataView(out.buffer);
  dv.setUint16(0, AF_NETLINK, true);
  dv.setUint32(4, pid, true);
  dv.setUint32(8, groups >>> 0, true);
  return out;
}
