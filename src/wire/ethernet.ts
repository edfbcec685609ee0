// Ethernet II header (IEEE 802.3).
export const ETH_DST = 0;
export const ETH_SRC = 6;
export const ETH_TYPE = 12;
export const ETH_HEADER_LEN = 14;
export const ETHERTYPE_IPV6 = 0x86dd;

/** RFC 2464 §7: IPv6 multicast to 33:33 + the low 32 bits of the group. */
export function writeMulticastMac(buf: Uint8Array, off: number, group: Uint8Array, groupOff: number): void {
  buf[off] = 0x33;
  buf[off + 1] = 0x33;
  buf[off + 2] = group[groupOff + 12];
  buf[off + 3] = group[groupOff + 13];
  buf[off + 4] = group[groupOff + 14];
  buf[off + 5] = group[groupOff + 15];
}

export function formatMac(buf: Uint8Array, off = 0): string {
  const parts: string[] = [];
  for (let i = 0; i < 6; i++) parts.push(buf[off + i].toString(16).padStart(2, '0'));
  return parts.join(':');
}
