// struct virtio_net_hdr (include/uapi/linux/virtio_net.h; virtio 1.2 §5.1.6):
// the 10 bytes a TUN opened with IFF_VNET_HDR puts in front of every packet it
// reads and expects in front of every packet written. Little-endian: the TUN
// default on little-endian hosts (TUNSETVNETBE not used).
export const VNET_HDR_LEN = 10;
export const VNET_FLAGS = 0;
export const VNET_GSO_TYPE = 1;
/** Bytes of headers the device should treat as one (hdr_len). */
export const VNET_HEADER_BYTES = 2;
/** Payload bytes per segment (gso_size). */
export const VNET_GSO_SIZE = 4;
export const VNET_CSUM_START = 6;
export const VNET_CSUM_OFFSET = 8;

/** The checksum from csum_start to the end is still to be computed; the
 * field at csum_start + csum_offset holds the pseudo-header sum. */
export const VNET_F_NEEDS_CSUM = 1;
export const VNET_F_DATA_VALID = 2;

export const VNET_GSO_NONE = 0;
export const VNET_GSO_TCPV4 = 1;
export const VNET_GSO_UDP = 3;
export const VNET_GSO_TCPV6 = 4;
export const VNET_GSO_UDP_L4 = 5;
export const VNET_GSO_ECN = 0x80;

/** TUNSETOFFLOAD bits (linux/if_tun.h): what the kernel may hand us unfinished. */
export const TUN_F_CSUM = 0x01;
export const TUN_F_TSO4 = 0x02;
export const TUN_F_TSO6 = 0x04;

export interface VnetHeader {
  flags: number;
  gsoType: number;
  headerBytes: number;
  gsoSize: number;
  csumStart: number;
  csumOffset: number;
}

export function newVnetHeader(): VnetHeader {
  return { flags: 0, gsoType: 0, headerBytes: 0, gsoSize: 0, csumStart: 0, csumOffset: 0 };
}

const u16le = (b: Uint8Array, o: number): number => b[o] | (b[o + 1] << 8);

function putU16le(b: Uint8Array, o: number, v: number): void {
  b[o] = v & 0xff;
  b[o + 1] = (v >>> 8) & 0xff;
}

export function parseVnetHeader(b: Uint8Array, off: number, h: VnetHeader): void {
  h.flags = b[off + VNET_FLAGS];
  h.gsoType = b[off + VNET_GSO_TYPE];
  h.headerBytes = u16le(b, off + VNET_HEADER_BYTES);
  h.gsoSize = u16le(b, off + VNET_GSO_SIZE);
  h.csumStart = u16le(b, off + VNET_CSUM_START);
  h.csumOffset = u16le(b, off + VNET_CSUM_OFFSET);
}

export function emitVnetHeader(h: VnetHeader, b: Uint8Array, off: number): void {
  b[off + VNET_FLAGS] = h.flags;
  b[off + VNET_GSO_TYPE] = h.gsoType;
  putU16le(b, off + VNET_HEADER_BYTES, h.headerBytes);
  putU16le(b, off + VNET_GSO_SIZE, h.gsoSize);
  putU16le(b, off + VNET_CSUM_START, h.csumStart);
  putU16le(b, off + VNET_CSUM_OFFSET, h.csumOffset);
}

/** A header that asks nothing of the kernel: a finished, single packet.
 * Ten stores, not fill(): a builtin call per packet cost more than the bytes. */
export function emitPlainVnetHeader(b: Uint8Array, off: number): void {
  b[off] = 0;
  b[off + 1] = 0;
  b[off + 2] = 0;
  b[off + 3] = 0;
  b[off + 4] = 0;
  b[off + 5] = 0;
  b[off + 6] = 0;
  b[off + 7] = 0;
  b[off + 8] = 0;
  b[off + 9] = 0;
}
