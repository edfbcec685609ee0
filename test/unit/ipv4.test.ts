import { describe, expect, it } from 'vitest';
import {
  Ipv4Check, checkIpv4, emitIpv4, formatIpv4Address, newIpv4Header, parseIpv4, parseIpv4Address,
} from '../../src/wire/ipv4.js';
import { Rng } from '../support/rng.js';

// A protocol-41 header as Linux sit emits it (ttl 255, DF, id 0), checksum worked by hand.
const GOLDEN = Uint8Array.from([
  0x45, 0x00, 0x00, 0x64, 0x00, 0x00, 0x40, 0x00, 0xff, 0x29, 0x00, 0x00,
  0xcb, 0x00, 0x71, 0x01, 0xc6, 0x33, 0x64, 0x02,
]);
{
  // checksum of the golden header, computed independently of src/wire/checksum.
  let s = 0;
  for (let i = 0; i < 20; i += 2) s += (GOLDEN[i] << 8) | GOLDEN[i + 1];
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  GOLDEN[10] = (~s >> 8) & 0xff;
  GOLDEN[11] = ~s & 0xff;
}

describe('IPv4 header codec', () => {
  it('emits the golden bytes', () => {
    const h = newIpv4Header();
    Object.assign(h, { totalLength: 100, dontFragment: true, ttl: 255, protocol: 41,
      src: parseIpv4Address('203.0.113.1'), dst: parseIpv4Address('198.51.100.2') });
    const out = new Uint8Array(20);
    emitIpv4(h, out, 0);
    expect(out).toEqual(GOLDEN);
  });

  it('parses the golden bytes', () => {
    const buf = new Uint8Array(100);
    buf.set(GOLDEN);
    expect(checkIpv4(buf, 0, 100)).toBe(Ipv4Check.Ok);
    const h = newIpv4Header();
    parseIpv4(buf, 0, h);
    expect(h).toMatchObject({ ihl: 5, totalLength: 100, dontFragment: true, moreFragments: false, ttl: 255, protocol: 41 });
    expect(formatIpv4Address(h.src)).toBe('203.0.113.1');
    expect(formatIpv4Address(h.dst)).toBe('198.51.100.2');
  });

  it('round-trips random headers at an offset inside a larger buffer (seeded)', () => {
    const rng = new Rng(791);
    for (let n = 0; n < 1000; n++) {
      const h = newIpv4Header();
      Object.assign(h, {
        tos: rng.int(256), totalLength: 20 + rng.int(1000), id: rng.int(65536), dontFragment: rng.int(2) === 1,
        moreFragments: rng.int(2) === 1, fragmentOffset: rng.int(0x2000), ttl: rng.int(256), protocol: rng.int(256),
        src: rng.u32(), dst: rng.u32(),
      });
      const off = rng.int(64);
      const buf = rng.bytes(off + h.totalLength + rng.int(8));
      emitIpv4(h, buf, off);
      expect(checkIpv4(buf, off, buf.length - off)).toBe(Ipv4Check.Ok);
      const back = newIpv4Header();
      parseIpv4(buf, off, back);
      expect({ ...back, checksum: 0 }).toEqual({ ...h, checksum: 0 });
      const again = new Uint8Array(20);
      emitIpv4(back, again, 0);
      expect(again).toEqual(buf.subarray(off, off + 20));
    }
  });

  it('rejects malformed headers with a named reason', () => {
    const buf = new Uint8Array(100);
    buf.set(GOLDEN);
    expect(checkIpv4(buf, 0, 19)).toBe(Ipv4Check.Truncated);
    const v6 = buf.slice();
    v6[0] = 0x65;
    expect(checkIpv4(v6, 0, 100)).toBe(Ipv4Check.BadVersion);
    const ihl = buf.slice();
    ihl[0] = 0x44;
    expect(checkIpv4(ihl, 0, 100)).toBe(Ipv4Check.BadIhl);
    const longIhl = buf.slice();
    longIhl[0] = 0x4f;
    expect(checkIpv4(longIhl, 0, 40)).toBe(Ipv4Check.Truncated);
    expect(checkIpv4(buf, 0, 99)).toBe(Ipv4Check.BadTotalLength);
    const bad = buf.slice();
    bad[8] = 1;
    expect(checkIpv4(bad, 0, 100)).toBe(Ipv4Check.BadChecksum);
  });

  it('never throws on random bytes at any length (seeded)', () => {
    const rng = new Rng(4213);
    for (let n = 0; n < 5000; n++) {
      const len = rng.int(80);
      const buf = rng.bytes(len);
      if (len > 0 && rng.int(2) === 0) buf[0] = 0x40 | (buf[0] & 0x0f);
      const r = checkIpv4(buf, 0, len);
      expect(r).toBeGreaterThanOrEqual(Ipv4Check.Ok);
      expect(r).toBeLessThanOrEqual(Ipv4Check.BadChecksum);
    }
  });

  it('parses and formats dotted quads, refusing anything else', () => {
    expect(parseIpv4Address('192.0.2.255')).toBe(0xc00002ff);
    expect(formatIpv4Address(0xc6336402)).toBe('198.51.100.2');
    for (const bad of ['1.2.3', '256.1.1.1', '1.2.3.4.5', ' 1.2.3.4', 'a.b.c.d', '']) {
      expect(() => parseIpv4Address(bad)).toThrow(RangeError);
    }
  });
});
