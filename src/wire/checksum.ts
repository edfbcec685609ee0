// The Internet checksum (RFC 1071) and its incremental update (RFC 1624).

/** Adds the 16-bit big-endian words of buf[off, off+len) to sum (unfolded).
 * An odd trailing byte is padded with zero, as RFC 1071 §4.1 does. */
export function sumWords(buf: Uint8Array, off: number, len: number, sum: number): number {
  const end = off + (len & ~1);
  let i = off;
  // Unrolled by 4 words: sums stay far below 2^53 for any packet size.
  for (; i + 8 <= end; i += 8) {
    sum += ((buf[i] << 8) | buf[i + 1]) + ((buf[i + 2] << 8) | buf[i + 3]) +
      ((buf[i + 4] << 8) | buf[i + 5]) + ((buf[i + 6] << 8) | buf[i + 7]);
  }
  for (; i < end; i += 2) sum += (buf[i] << 8) | buf[i + 1];
  if (len & 1) sum += buf[off + len - 1] << 8;
  return sum;
}

/** Folds a running sum to 16 bits (end-around carry), not complemented. */
export function fold(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return sum;
}

/** The checksum field value for buf[off, off+len): ~fold(sum). */
export function checksum(buf: Uint8Array, off: number, len: number, initial = 0): number {
  return ~fold(sumWords(buf, off, len, initial)) & 0xffff;
}

/** RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m') for one 16-bit field changing m → m'. */
export function checksumUpdate16(oldChecksum: number, oldWord: number, newWord: number): number {
  return ~fold((~oldChecksum & 0xffff) + (~oldWord & 0xffff) + (newWord & 0xffff)) & 0xffff;
}
