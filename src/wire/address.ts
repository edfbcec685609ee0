// Address text ↔ bytes for configuration, the control plane and tests (never
// the hot path, where addresses are u32 words). ipaddr.js does the parsing
// and RFC 5952 formatting.
import ipaddr from 'ipaddr.js';

export type Family = 4 | 6;

export interface IpAddress {
  family: Family;
  bytes: Uint8Array;
}

export interface IpPrefix extends IpAddress {
  length: number;
}

/** Parses a literal IPv4 or IPv6 address (no prefix length, no zone). */
export function parseIp(text: string): IpAddress {
  if (!ipaddr.isValid(text) || text.includes('%')) throw new RangeError(`not an IP address: ${JSON.stringify(text)}`);
  // ipaddr.js accepts shorthand like "10.1" as IPv4; only full dotted quads are addresses here.
  if (!text.includes(':') && !ipaddr.IPv4.isValidFourPartDecimal(text)) {
    throw new RangeError(`not an IP address: ${JSON.stringify(text)}`);
  }
  const parsed = ipaddr.parse(text);
  return { family: parsed.kind() === 'ipv4' ? 4 : 6, bytes: Uint8Array.from(parsed.toByteArray()) };
}

export function formatIp(bytes: Uint8Array): string {
  if (bytes.length !== 4 && bytes.length !== 16) throw new RangeError(`address of ${bytes.length} bytes`);
  return ipaddr.fromByteArray(Array.from(bytes)).toString();
}

/** "ADDR/LEN" (LEN defaults to the full width). With strict, host bits must be zero. */
export function parsePrefix(text: string, strict = true): IpPrefix {
  const slash = text.indexOf('/');
  const addr = parseIp(slash < 0 ? text : text.slice(0, slash));
  const width = addr.family === 4 ? 32 : 128;
  const lenText = slash < 0 ? String(width) : text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(lenText) || Number(lenText) > width) {
    throw new RangeError(`bad prefix length in ${JSON.stringify(text)}: expected 0..${width}`);
  }
  const length = Number(lenText);
  if (strict && !hostBitsZero(addr.bytes, length)) {
    throw new RangeError(`prefix ${text} has host bits set (not aligned to /${length})`);
  }
  return { ...addr, length };
}

export function hostBitsZero(bytes: Uint8Array, length: number): boolean {
  for (let bit = length; bit < bytes.length * 8; bit++) {
    if (bytes[bit >> 3] & (0x80 >> (bit & 7))) return false;
  }
  return true;
}

export function formatPrefix(p: IpPrefix): string {
  return `${formatIp(p.bytes)}/${p.length}`;
}

/** Whether addr lies inside prefix (same family). */
export function prefixContains(prefix: IpPrefix, addr: Uint8Array): boolean {
  if (addr.length !== prefix.bytes.length) return false;
  const full = prefix.length >> 3;
  for (let i = 0; i < full; i++) if (addr[i] !== prefix.bytes[i]) return false;
  const rest = prefix.length & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (addr[full] & mask) === (prefix.bytes[full] & mask);
}

/** bytes with every bit from length on cleared: the prefix's first address. */
export function maskBytes(bytes: Uint8Array, length: number): Uint8Array {
  const out = bytes.slice();
  for (let bit = length; bit < out.length * 8; bit++) out[bit >> 3] &= ~(0x80 >> (bit & 7));
  return out;
}

/** The prefix's last address. */
export function lastAddress(p: IpPrefix): Uint8Array {
  const out = maskBytes(p.bytes, p.length);
  for (let bit = p.length; bit < out.length * 8; bit++) out[bit >> 3] |= 0x80 >> (bit & 7);
  return out;
}

/** Sortable text of an address: two hex digits per byte. */
export function hex128(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) out += b.toString(16).padStart(2, '0');
  return out;
}
