// Address text ↔ bytes: RFC 4291 text forms in, RFC 5952 out, checked against
// ipaddr.js (a reference implementation, a dev dependency only) with seeded
// random inputs, and round trips.
import { describe, expect, it } from 'vitest';
import ipaddr from 'ipaddr.js';
import { formatIp, parseIp, parsePrefix } from '../../src/wire/address.js';
import { Rng } from '../support/rng.js';

/** Random 16 bytes with many zero groups (where the "::" rules bite). */
function randomV6(rng: Rng): Uint8Array {
  const b = new Uint8Array(16);
  for (let g = 0; g < 8; g++) {
    if (rng.int(3) === 0) continue;
    const v = rng.int(4) === 0 ? rng.int(16) : rng.int(0x10000);
    b[2 * g] = v >> 8;
    b[2 * g + 1] = v & 0xff;
  }
  return b;
}

/** Text variants of an address: full, upper case, leading zeros, with "::" at each zero run. */
function spellings(rng: Rng, b: Uint8Array): string[] {
  const words = Array.from({ length: 8 }, (_, g) => (b[2 * g] << 8) | b[2 * g + 1]);
  const out = [words.map((w) => w.toString(16)).join(':'), words.map((w) => w.toString(16).toUpperCase().padStart(4, '0')).join(':')];
  for (let i = 0; i < 8; i++) {
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j > i) out.push(`${words.slice(0, i).map((w) => w.toString(16)).join(':')}::${words.slice(j).map((w) => w.toString(16)).join(':')}`);
  }
  return out.filter(() => rng.int(2) === 0 || true);
}

describe('addresses', () => {
  it('formats like RFC 5952 as ipaddr.js does, and parses every spelling back (seeded)', () => {
    const rng = new Rng(0xadd7);
    for (let n = 0; n < 3000; n++) {
      const b = randomV6(rng);
      const text = formatIp(b);
      expect(text).toBe(ipaddr.fromByteArray(Array.from(b)).toString());
      for (const s of spellings(rng, b)) expect(Array.from(parseIp(s).bytes), s).toEqual(Array.from(b));
    }
  });

  it('accepts and refuses the same strings as ipaddr.js (IPv4 strictly dotted quads, no zones)', () => {
    const rng = new Rng(0x5712);
    const alphabet = '0123456789abcdefABCDEF:.:::';
    let accepted = 0;
    for (let n = 0; n < 20000; n++) {
      const len = 1 + rng.int(24);
      let s = '';
      for (let i = 0; i < len; i++) s += alphabet[rng.int(alphabet.length)];
      let ours: Uint8Array | null = null;
      try {
        ours = parseIp(s).bytes;
      } catch {
        ours = null;
      }
      // ipaddr.js also takes shorthand IPv4 ("10.1", octal "010.0.0.1") and maps "::1.2.3.4" to ::ffff:1.2.3.4: not addresses here.
      const embedded = s.includes('.');
      const theirs = ipaddr.isValid(s) && (s.includes(':') || ipaddr.IPv4.isValidFourPartDecimal(s)) ? Array.from(ipaddr.parse(s).toByteArray()) : null;
      if (embedded && s.includes(':')) continue;
      if (!s.includes(':') && theirs !== null && /(^|\.)0\d/.test(s)) continue;
      expect(ours === null ? null : Array.from(ours), s).toEqual(theirs);
      if (ours) accepted++;
    }
    expect(accepted).toBeGreaterThan(100);
  });

  it('takes a dotted quad at the end of an IPv6 address as its last 32 bits', () => {
    expect(formatIp(parseIp('::ffff:192.0.2.1').bytes)).toBe('::ffff:c000:201');
    expect(formatIp(parseIp('::192.0.2.1').bytes)).toBe('::c000:201');
    expect(formatIp(parseIp('64:ff9b::198.51.100.7').bytes)).toBe('64:ff9b::c633:6407');
    for (const bad of ['::1.2.3.4:5', '1.2.3.4::', '::01.2.3.4', '::1.2.3', '1:2:3:4:5:6:7:1.2.3.4']) expect(() => parseIp(bad), bad).toThrow(/not an IP address/);
  });

  it('refuses what is not a literal address, naming it', () => {
    for (const bad of ['', ' 1.2.3.4', '1.2.3.4.', '256.1.1.1', '01.2.3.4', '1.2.3', 'fe80::1%eth0', '1::2::3', ':1::', '1:::2', '::00001', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7:8::', 'g::1']) {
      expect(() => parseIp(bad), bad).toThrow(`not an IP address: ${JSON.stringify(bad)}`);
    }
    expect(() => parsePrefix('2001:db8::1/64')).toThrow(/host bits set/);
  });
});
