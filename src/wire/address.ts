// Address text ↔ bytes for configuration, the control plane and tests (never
// the hot path, where addresses are u32 words): RFC 4291 §2.2 text forms in,
// RFC 5952 text out. Our own, not a library's: a broker loads 10^5 tunnels,
// and a general parser spent a third of that start-up here.

export type Family = 4 | 6;

export interface IpAddress {
  family: Family;
  bytes: Uint8Array;
}

export interface IpPrefix extends IpAddress {
  length: number;
}

const DECIMAL_OCTET = /^(?:0|[1-9][0-9]{0,2})$/;

/** A dotted quad without leading zeros (an octet "010" could be octal to some readers). */
function parseIpv4Into(text: string, out: Uint8Array, off: number): boolean {
  const parts = text.split('.');
  if (parts.length !== 4) return false;
  for (let i = 0; i < 4; i++) {
    if (!DECIMAL_OCTET.test(parts[i])) return false;
    const v = Number(parts[i]);
    if (v > 255) return false;
    out[off + i] = v;
  }
  return true;
}

/** Value of a hex digit's character code, or -1. */
function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** The groups read so far (left of "::" and right of it), reused between calls. */
const groupScratch = new Uint16Array(8);

/** RFC 4291 §2.2: eight groups of 1–4 hex digits, one "::" for a run of zero
 * groups, the last 32 bits optionally as a dotted quad. One pass over the
 * characters, allocating only the result (10^5 tunnels parse 10^6 addresses). */
function parseIpv6Bytes(text: string): Uint8Array | null {
  const words = groupScratch;
  const n = text.length;
  let i = 0;
  let count = 0;
  let gap = -1;
  if (n >= 2 && text.charCodeAt(0) === 58 && text.charCodeAt(1) === 58) {
    gap = 0;
    i = 2;
  }
  while (i < n) {
    if (count === 8) return null;
    const start = i;
    let v = 0;
    let d: number;
    while (i < n && (d = hexValue(text.charCodeAt(i))) >= 0) {
      v = (v << 4) | d;
      if (++i - start > 4) return null;
    }
    if (i < n && text.charCodeAt(i) === 46) {
      // A dotted quad: the last 32 bits, up to the end of the text.
      if (count > 6) return null;
      const q = new Uint8Array(4);
      if (!parseIpv4Into(text.slice(start), q, 0)) return null;
      words[count++] = (q[0] << 8) | q[1];
      words[count++] = (q[2] << 8) | q[3];
      i = n;
      break;
    }
    if (i === start) return null;
    words[count++] = v;
    if (i === n) break;
    if (text.charCodeAt(i) !== 58) return null;
    i++;
    if (i < n && text.charCodeAt(i) === 58) {
      if (gap >= 0) return null;
      gap = count;
      i++;
    } else if (i === n) {
      return null;
    }
  }
  if (gap < 0 ? count !== 8 : count > 7) return null;
  const out = new Uint8Array(16);
  for (let k = 0; k < count; k++) {
    // Groups after the gap go to the end.
    const at = gap >= 0 && k >= gap ? 8 - (count - k) : k;
    out[2 * at] = words[k] >> 8;
    out[2 * at + 1] = words[k] & 0xff;
  }
  return out;
}

/** Parses a literal IPv4 or IPv6 address (no prefix length, no zone). */
export function parseIp(text: string): IpAddress {
  if (text.length <= 15 && !text.includes(':')) {
    const bytes = new Uint8Array(4);
    if (parseIpv4Into(text, bytes, 0)) return { family: 4, bytes };
  } else if (text.length <= 45) {
    const bytes = parseIpv6Bytes(text);
    if (bytes) return { family: 6, bytes };
  }
  throw new RangeError(`not an IP address: ${JSON.stringify(text)}`);
}

/** RFC 5952 §4: lower case, no leading zeros, the longest run of two or more
 * zero groups (the first of equal runs) as "::". */
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  if (bytes.length !== 16) throw new RangeError(`address of ${bytes.length} bytes`);
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (bytes[2 * i] === 0 && bytes[2 * i + 1] === 0) {
      let j = i;
      while (j < 8 && bytes[2 * j] === 0 && bytes[2 * j + 1] === 0) j++;
      if (j - i > bestLen) {
        bestStart = i;
        bestLen = j - i;
      }
      i = j;
    } else i++;
  }
  const hex = (i: number): string => ((bytes[2 * i] << 8) | bytes[2 * i + 1]).toString(16);
  const part = (from: number, to: number): string => {
    const out: string[] = [];
    for (let i = from; i < to; i++) out.push(hex(i));
    return out.join(':');
  };
  if (bestStart < 0) return part(0, 8);
  return `${part(0, bestStart)}::${part(bestStart + bestLen, 8)}`;
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
  return addr.length === prefix.bytes.length && prefixContainsAt(prefix, addr, 0);
}

/** Whether the address of prefix's family at buf[off] lies inside prefix. */
export function prefixContainsAt(prefix: IpPrefix, buf: Uint8Array, off: number): boolean {
  const full = prefix.length >> 3;
  for (let i = 0; i < full; i++) if (buf[off + i] !== prefix.bytes[i]) return false;
  const rest = prefix.length & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (buf[off + full] & mask) === (prefix.bytes[full] & mask);
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
