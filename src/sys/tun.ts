// TUN device: /dev/net/tun + TUNSETIFF (linux/if_tun.h).
import { native } from './native.js';
import { O_NONBLOCK, O_RDWR } from './constants.js';

export const TUNSETIFF = 0x400454ca;
export const TUNSETOFFLOAD = 0x400454d0;
export const TUNSETVNETHDRSZ = 0x400454d8;
export const IFF_TUN = 0x0001;
export const IFF_MULTI_QUEUE = 0x0100;
export const IFF_NO_PI = 0x1000;
export const IFF_VNET_HDR = 0x4000;
export const IFNAMSIZ = 16;
/** struct ifreq: name[16] then a union; ifr_flags is a short at byte 16. */
export const IFREQ_LEN = 40;

export interface TunOptions {
  /** Interface name; a pattern such as "sixtun%d" lets the kernel pick. */
  name: string;
  multiQueue?: boolean;
  vnetHdr?: boolean;
  /** Blocking reads and writes (the datapath never wants this; baselines do). */
  blocking?: boolean;
}

export interface Tun {
  fd: number;
  name: string;
}

function ifreq(name: string, flags: number): Uint8Array {
  const encoded = new TextEncoder().encode(name);
  if (encoded.length >= IFNAMSIZ || encoded.length === 0) {
    throw new RangeError(`interface name must be 1..${IFNAMSIZ - 1} bytes: ${JSON.stringify(name)}`);
  }
  const req = new Uint8Array(IFREQ_LEN);
  req.set(encoded, 0);
  new DataView(req.buffer).setUint16(IFNAMSIZ, flags, true);
  return req;
}

function ifreqName(req: Uint8Array): string {
  const end = req.indexOf(0);
  return new TextDecoder().decode(req.subarray(0, end < 0 || end > IFNAMSIZ ? IFNAMSIZ : end));
}

/** Opens (creating if needed) a TUN device in the calling thread's network
 * namespace, non-blocking unless asked, without packet information headers. */
export function openTun(opts: TunOptions): Tun {
  const flags = IFF_TUN | IFF_NO_PI | (opts.multiQueue ? IFF_MULTI_QUEUE : 0) | (opts.vnetHdr ? IFF_VNET_HDR : 0);
  const req = ifreq(opts.name, flags);
  const fd = native.open('/dev/net/tun', O_RDWR | (opts.blocking ? 0 : O_NONBLOCK));
  try {
    native.ioctl(fd, TUNSETIFF, req);
  } catch (e) {
    native.close(fd);
    throw e;
  }
  return { fd, name: ifreqName(req) };
}

/** Tells the kernel which unfinished work (TUN_F_* bits) it may hand over
 * in reads from a TUN opened with IFF_VNET_HDR; throws when it refuses. */
export function setTunOffload(fd: number, flags: number): void {
  native.ioctl(fd, TUNSETOFFLOAD, flags);
}
