import { describe, expect, it } from 'vitest';
import { checksum, checksumUpdate16, fold, sumWords } from '../../src/wire/checksum.js';
import { Rng } from '../support/rng.js';

/** The RFC 1071 definition, word by word, as the reference. */
function naiveChecksum(buf: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < buf.length; i += 2) {
    sum += (buf[i] << 8) + (i + 1 < buf.length ? buf[i + 1] : 0);
    sum = (sum & 0xffff) + (sum >>> 16);
  }
  return ~sum & 0xffff;
}

describe('Internet checksum (RFC 1071)', () => {
  it('matches the RFC 1071 §3 worked example', () => {
    // Bytes 00 01 f2 03 f4 f5 f6 f7: one's-complement sum ddf2, checksum 220d.
    const buf = Uint8Array.of(0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7);
    expect(fold(sumWords(buf, 0, buf.length, 0))).toBe(0xddf2);
    expect(checksum(buf, 0, buf.length)).toBe(0x220d);
  });

  it('agrees with the naive reference for every length 0..1500 (seeded)', () => {
    const rng = new Rng(1071);
    for (let len = 0; len <= 1500; len++) {
      const buf = rng.bytes(len + 3);
      const off = rng.int(3);
      expect(checksum(buf, off, len)).toBe(naiveChecksum(buf.subarray(off, off + len)));
    }
  });

  it('handles all-ones words without losing carries', () => {
    const buf = new Uint8Array(65535).fill(0xff);
    expect(checksum(buf, 0, buf.length)).toBe(naiveChecksum(buf));
  });

  it('a buffer with its checksum inserted sums to zero', () => {
    const rng = new Rng(7);
    for (let n = 0; n < 200; n++) {
      const buf = rng.bytes(20 + 2 * rng.int(200));
      buf[10] = 0;
      buf[11] = 0;
      const c = checksum(buf, 0, buf.length);
      buf[10] = c >> 8;
      buf[11] = c & 0xff;
      expect(checksum(buf, 0, buf.length)).toBe(0);
    }
  });
});

describe('incremental update (RFC 1624)', () => {
  it('equals a full recomputation after changing one word (seeded)', () => {
    const rng = new Rng(1624);
    for (let n = 0; n < 2000; n++) {
      const buf = rng.bytes(20);
      buf[10] = 0;
      buf[11] = 0;
      const c = checksum(buf, 0, 20);
      const at = 2 * rng.pick([0, 1, 2, 3, 4, 6, 7, 8, 9]);
      const old = (buf[at] << 8) | buf[at + 1];
      const word = rng.int(0x10000);
      buf[at] = word >> 8;
      buf[at + 1] = word & 0xff;
      const expected = checksum(buf, 0, 20);
      // RFC 1624 §3: the result may be the other zero (0xffff vs 0) only when
      // the sum is zero, which the equation avoids; so they must be equal.
      expect(checksumUpdate16(c, old, word)).toBe(expected);
    }
  });
});
