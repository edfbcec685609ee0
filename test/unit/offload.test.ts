// TSO segmentation and GRO coalescing (src/datapath/offload.ts): segments
// are valid TCP packets that add up to the super-packet, coalescing gives the
// super-packet back, and anything that must not merge stays apart, in order.
import { describe, expect, it } from 'vitest';
import {
  Coalescer, PendingBytes, newSuperPacket, parseTcp6Super, segmentPayloadAt, segmentPayloadLen, writeSegment, writeSegmentInPlace,
} from '../../src/datapath/offload.js';
import { native } from '../../src/sys/native.js';
import { fold, sumWords } from '../../src/wire/checksum.js';
import { readU32 } from '../../src/wire/ipv4.js';
import {
  VNET_F_NEEDS_CSUM, VNET_GSO_TCPV6, VNET_GSO_UDP_L4, VNET_HDR_LEN, emitVnetHeader, newVnetHeader, parseVnetHeader,
} from '../../src/wire/virtio-net.js';
import { Rng } from '../support/rng.js';
import { completePartial, tcp6ChecksumOk, timestampOption, writeTcp6 } from '../../src/lab/tcp6.js';
import { cutUdpLikeKernel, writeUdp6 } from '../helpers/udp6.js';

const SLOT = 65536;
const INNER = 20;
const ACK = 0x10;
const PSH = 0x08;
const FIN = 0x01;

/** A received batch: packet i at i * SLOT + INNER, as the datapath lays it out. */
function batch(slots: number): { b: Uint8Array; lens: Int32Array; at: (i: number) => number } {
  return { b: new Uint8Array(slots * SLOT), lens: new Int32Array(slots), at: (i) => i * SLOT + INNER };
}

function superPacket(rng: Rng, payloadLen: number, flags: number, options = timestampOption(7, 9)): Uint8Array {
  const b = new Uint8Array(40 + 20 + options.length + payloadLen);
  writeTcp6(b, 0, { seq: rng.u32(), ack: rng.u32(), flags, options, payload: rng.bytes(payloadLen), trafficClass: 2 });
  return b;
}

/** Segments pkt (a GSO packet of the given size) into a batch; returns the count. */
function segmentInto(pkt: Uint8Array, size: number, slots: number): { b: Uint8Array; lens: Int32Array; n: number; at: (i: number) => number } {
  const { b, lens, at } = batch(slots);
  const work = new Uint8Array(pkt.length + slots * SLOT);
  work.set(pkt, 0);
  const h = newVnetHeader();
  h.gsoType = VNET_GSO_TCPV6;
  h.gsoSize = size;
  const sp = newSuperPacket();
  expect(parseTcp6Super(work, 0, pkt.length, h, sp)).toBe(true);
  const pending = new PendingBytes(slots);
  let n = 0;
  for (let off = 0; off < sp.payloadLen; off += size) lens[n] = writeSegment(work, sp, off, pkt.length + at(n++), pending);
  expect(pending.count).toBe(n);
  pending.finish(work);
  for (let i = 0; i < n; i++) b.set(work.subarray(pkt.length + at(i), pkt.length + at(i) + lens[i]), at(i));
  return { b, lens, n, at };
}

describe('native byte work', () => {
  it('sum16 and sum16Batch equal the JavaScript sum for any offset and length (seeded)', () => {
    const rng = new Rng(41);
    const b = rng.bytes(4096);
    const starts = new Int32Array(64);
    const lengths = new Int32Array(64);
    const out = new Int32Array(64);
    for (let k = 0; k < 3000; k++) {
      const off = rng.int(600);
      const len = rng.int(3000);
      const js = fold(sumWords(b, off, len, 0));
      // 0 and 0xffff are the same one's-complement number.
      expect(native.sum16(b, off, len) % 0xffff).toBe(js % 0xffff);
      starts[k % 64] = off;
      lengths[k % 64] = len;
      if (k % 64 === 63) {
        native.sum16Batch(b, starts, lengths, 64, out);
        for (let i = 0; i < 64; i++) expect(out[i] % 0xffff).toBe(fold(sumWords(b, starts[i], lengths[i], 0)) % 0xffff);
      }
    }
    expect(() => native.sum16Batch(b, starts, lengths, 65, out)).toThrow(/sum16Batch/);
    starts[0] = 4000;
    expect(() => native.sum16Batch(b, starts, lengths, 1, out)).toThrow(/range/);
  });

  it('copyBatch does what copyWithin does, one move after the other, overlapping or not (seeded)', () => {
    const rng = new Rng(43);
    const from = new Int32Array(32);
    const to = new Int32Array(32);
    const lengths = new Int32Array(32);
    for (let k = 0; k < 200; k++) {
      const b = rng.bytes(8192);
      const expected = b.slice();
      const n = 1 + rng.int(32);
      for (let i = 0; i < n; i++) {
        lengths[i] = rng.int(3000);
        from[i] = rng.int(8192 - lengths[i] + 1);
        // Half of the moves land near their source, so that the ranges overlap.
        to[i] = rng.int(2) ? rng.int(8192 - lengths[i] + 1) : Math.max(0, Math.min(8192 - lengths[i], from[i] + rng.int(64) - 32));
        expected.copyWithin(to[i], from[i], from[i] + lengths[i]);
      }
      expect(native.copyBatch(b, from, to, lengths, n)).toBe(n);
      expect(Buffer.compare(b, expected)).toBe(0);
    }
    const b = new Uint8Array(100);
    expect(() => native.copyBatch(b, from, to, lengths, 33)).toThrow(/copyBatch/);
    from[0] = 90;
    to[0] = 0;
    lengths[0] = 11;
    expect(() => native.copyBatch(b, from, to, lengths, 1)).toThrow(/range/);
  });
});

describe('PendingBytes.addPartial (VNET_F_NEEDS_CSUM)', () => {
  it('turns the pseudo-header sum the kernel leaves into the right checksum', () => {
    const rng = new Rng(3);
    const b = new Uint8Array(50 * 2000);
    const pending = new PendingBytes(50);
    const right: number[] = [];
    for (let k = 0; k < 50; k++) {
      const p = k * 2000;
      const len = writeTcp6(b, p, { seq: rng.u32(), payload: rng.bytes(rng.int(1400)) });
      right.push((b[p + 56] << 8) | b[p + 57]);
      const partial = fold(sumWords(b, p + 8, 32, 6) + len - 40);
      b[p + 56] = partial >>> 8;
      b[p + 57] = partial & 0xff;
      expect(pending.addPartial(p, len, 40, 16)).toBe(true);
    }
    pending.finish(b);
    for (let k = 0; k < 50; k++) expect((b[k * 2000 + 56] << 8) | b[k * 2000 + 57]).toBe(right[k]);
  });

  it('refuses offsets outside the packet', () => {
    const pending = new PendingBytes(4);
    expect(pending.addPartial(0, 60, 40, 19)).toBe(false);
    expect(pending.addPartial(0, 60, 8, 2)).toBe(false);
    expect(pending.count).toBe(0);
  });
});

describe('TSO segmentation', () => {
  it('cuts a super-packet into valid segments that add up to it (seeded property)', () => {
    const rng = new Rng(7);
    for (let k = 0; k < 60; k++) {
      const size = 100 + rng.int(1341);
      const payloadLen = 1 + rng.int(Math.min(65535 - 32, size * 40));
      const flags = ACK | (rng.int(2) ? PSH : 0) | (rng.int(2) ? FIN : 0) | (rng.int(2) ? 0x80 : 0);
      const pkt = superPacket(rng, payloadLen, flags);
      const { b, lens, n, at } = segmentInto(pkt, size, 64);
      expect(n).toBe(Math.ceil(payloadLen / size));
      const seq0 = readU32(pkt, 44);
      const joined: number[] = [];
      for (let i = 0; i < n; i++) {
        const p = at(i);
        expect(tcp6ChecksumOk(b, p, lens[i])).toBe(true);
        expect(((b[p + 4] << 8) | b[p + 5]) + 40).toBe(lens[i]);
        expect(readU32(b, p + 44)).toBe((seq0 + i * size) >>> 0);
        const f = b[p + 53];
        const last = i === n - 1;
        expect(f & (FIN | PSH)).toBe(last ? flags & (FIN | PSH) : 0);
        expect(f & 0x80).toBe(i === 0 ? flags & 0x80 : 0);
        // Every header byte but length, sequence, flags and checksum is the original's.
        for (const o of [0, 1, 2, 3, 6, 7, 40, 41, 42, 43, 48, 49, 50, 51, 52, 54, 55, 60, 61, 62, 63, 64, 65, 66, 67, 68, 69, 70, 71]) expect(b[p + o]).toBe(pkt[o]);
        for (let j = 8; j < 40; j++) expect(b[p + j]).toBe(pkt[j]);
        joined.push(...b.subarray(p + 72, p + lens[i]));
      }
      expect(Buffer.from(joined).equals(Buffer.from(pkt.subarray(72)))).toBe(true);
    }
  });

  it('in place (headers only, payload left in the super-packet) gives the same segments once gathered (seeded)', () => {
    const rng = new Rng(9);
    for (let k = 0; k < 40; k++) {
      const size = 100 + rng.int(1341);
      const payloadLen = 1 + rng.int(Math.min(65535 - 32, size * 40));
      const pkt = superPacket(rng, payloadLen, ACK | (rng.int(2) ? PSH : 0), rng.int(2) ? timestampOption(3, 4) : new Uint8Array(0));
      const h = newVnetHeader();
      h.gsoType = VNET_GSO_TCPV6;
      h.gsoSize = size;
      const work = new Uint8Array(pkt.length + 64 * 2048);
      work.set(pkt, 0);
      const sp = newSuperPacket();
      expect(parseTcp6Super(work, 0, pkt.length, h, sp)).toBe(true);
      // Odd payload lengths and payload starts: the two-range sum must not depend on either.
      const pending = new PendingBytes(128);
      const segments: { dst: number; len: number; at: number; n: number }[] = [];
      for (let at = 0, i = 0; at < sp.payloadLen; at += size, i++) {
        const dst = pkt.length + i * 2048;
        const len = writeSegmentInPlace(work, sp, at, dst, pending);
        segments.push({ dst, len, at: segmentPayloadAt(sp, at), n: segmentPayloadLen(sp, at) });
        expect(len).toBe(sp.headerLen + segmentPayloadLen(sp, at));
      }
      expect(pending.count).toBe(2 * segments.length);
      pending.finish(work);
      const reference = segmentInto(pkt, size, 64);
      expect(segments.length).toBe(reference.n);
      segments.forEach((s, i) => {
        const gathered = new Uint8Array(s.len);
        gathered.set(work.subarray(s.dst, s.dst + s.len - s.n), 0);
        gathered.set(work.subarray(s.at, s.at + s.n), s.len - s.n);
        expect(tcp6ChecksumOk(gathered, 0, s.len)).toBe(true);
        expect(Buffer.from(gathered).equals(Buffer.from(reference.b.subarray(reference.at(i), reference.at(i) + reference.lens[i])))).toBe(true);
      });
    }
  });

  it('rejects what is not plain TCP over IPv6 or whose lengths disagree', () => {
    const rng = new Rng(8);
    const pkt = superPacket(rng, 3000, ACK);
    const h = newVnetHeader();
    h.gsoType = VNET_GSO_TCPV6;
    h.gsoSize = 1000;
    const sp = newSuperPacket();
    expect(parseTcp6Super(pkt, 0, pkt.length, h, sp)).toBe(true);
    expect(parseTcp6Super(pkt, 0, pkt.length - 1, h, sp)).toBe(false);
    h.gsoSize = 0;
    expect(parseTcp6Super(pkt, 0, pkt.length, h, sp)).toBe(false);
    h.gsoSize = 1000;
    const udp = pkt.slice();
    udp[6] = 17;
    expect(parseTcp6Super(udp, 0, udp.length, h, sp)).toBe(false);
    const badOffset = pkt.slice();
    badOffset[52] = 0x20;
    expect(parseTcp6Super(badOffset, 0, badOffset.length, h, sp)).toBe(false);
  });
});

describe('GRO coalescing', () => {
  it('gives the super-packet back from its segments (seeded round trip)', () => {
    const rng = new Rng(11);
    for (let k = 0; k < 40; k++) {
      const size = 200 + rng.int(1241);
      const payloadLen = 1 + rng.int(Math.min(65000, size * 45));
      const flags = ACK | (rng.int(2) ? PSH : 0);
      const pkt = superPacket(rng, payloadLen, flags);
      const { b, lens, n, at } = segmentInto(pkt, size, 64);
      const co = new Coalescer(64, SLOT, INNER);
      co.run(b, lens, n, { tcp: true, udp: true });
      for (let i = 1; i < n; i++) expect(lens[i]).toBe(0);
      expect(lens[0]).toBe(pkt.length);
      co.emitHeaders(b, lens, n);
      const h = newVnetHeader();
      parseVnetHeader(b, at(0) - VNET_HDR_LEN, h);
      if (n > 1) {
        expect(h).toEqual({ flags: VNET_F_NEEDS_CSUM, gsoType: VNET_GSO_TCPV6, headerBytes: 72, gsoSize: size, csumStart: 40, csumOffset: 16 });
        // What the kernel will do with NEEDS_CSUM gives the original packet.
        completePartial(b, at(0), pkt.length, 40, 16);
      } else {
        expect(h.gsoType).toBe(0);
      }
      expect(Buffer.from(b.subarray(at(0), at(0) + pkt.length)).equals(Buffer.from(pkt))).toBe(true);
      expect(lens[0]).toBe(pkt.length + VNET_HDR_LEN);
    }
  });

  it('keeps flows apart and each flow in order when flows interleave', () => {
    const rng = new Rng(12);
    const { b, lens, at } = batch(8);
    const payload = (): Uint8Array => rng.bytes(500);
    const seq = { a: 1000, b: 5000 };
    const order: Array<'a' | 'b'> = ['a', 'b', 'a', 'b', 'a', 'b'];
    order.forEach((f, i) => {
      lens[i] = writeTcp6(b, at(i), { srcPort: f === 'a' ? 1111 : 2222, seq: seq[f], payload: payload() });
      seq[f] += 500;
    });
    const co = new Coalescer(8, SLOT, INNER);
    co.run(b, lens, 6, { tcp: true, udp: true });
    expect(Array.from(lens.subarray(0, 6))).toEqual([40 + 20 + 1500, 40 + 20 + 1500, 0, 0, 0, 0]);
    expect(Array.from(co.into.subarray(0, 6))).toEqual([-1, -1, 0, 1, 0, 1]);
  });

  it('does not merge across a bad checksum, a sequence gap, another ACK number, other options, FIN or a short segment', () => {
    const cases: Array<[string, (i: number) => Partial<Parameters<typeof writeTcp6>[2]>, (b: Uint8Array, p: number) => void]> = [
      ['bad checksum', () => ({}), (b, p) => { b[p + 100] ^= 1; }],
      ['sequence gap', () => ({ seq: 1000 + 2 * 400 + 1 }), () => {}],
      ['another ACK', () => ({ ack: 77 }), () => {}],
      ['other options', () => ({ options: timestampOption(8, 9) }), () => {}],
      ['FIN', () => ({ flags: ACK | FIN }), () => {}],
    ];
    for (const [what, third, spoil] of cases) {
      const { b, lens, at } = batch(4);
      for (let i = 0; i < 4; i++) {
        const base = { seq: 1000 + i * 400, ack: 5, options: timestampOption(7, 9), payload: new Uint8Array(400).fill(i) };
        lens[i] = writeTcp6(b, at(i), i === 2 ? { ...base, ...third(i) } : base);
      }
      spoil(b, at(2));
      const co = new Coalescer(4, SLOT, INNER);
      co.run(b, lens, 4, { tcp: true, udp: true });
      expect(lens[1], what).toBe(0);
      expect(lens[2], what).toBeGreaterThan(0);
      // Nothing after the odd one joins a run that started before it.
      expect(co.into[3] === 0, what).toBe(false);
    }
    // A short segment ends the run: the next full one starts a new packet.
    const { b, lens, at } = batch(3);
    const sizes = [400, 300, 400];
    let seq = 1000;
    sizes.forEach((s, i) => { lens[i] = writeTcp6(b, at(i), { seq, payload: new Uint8Array(s) }); seq += s; });
    const co = new Coalescer(3, SLOT, INNER);
    co.run(b, lens, 3, { tcp: true, udp: true });
    expect(Array.from(co.into)).toEqual([-1, 0, -1]);
  });

  it('leaves everything alone when merging is off, except for the plain virtio header', () => {
    const { b, lens, at } = batch(3);
    for (let i = 0; i < 3; i++) lens[i] = writeTcp6(b, at(i), { seq: 1000 + i * 100, payload: new Uint8Array(100) });
    const before = b.slice();
    const co = new Coalescer(3, SLOT, INNER);
    co.run(b, lens, 3, { tcp: false, udp: false });
    co.emitHeaders(b, lens, 3);
    for (let i = 0; i < 3; i++) {
      expect(lens[i]).toBe(160 + VNET_HDR_LEN);
      expect(Buffer.from(b.subarray(at(i) - VNET_HDR_LEN, at(i))).equals(Buffer.alloc(VNET_HDR_LEN))).toBe(true);
    }
    expect(Buffer.from(b.subarray(at(0), at(2) + 160)).equals(Buffer.from(before.subarray(at(0), at(2) + 160)))).toBe(true);
  });

  it('split undoes a coalesced packet exactly, for a kernel that refuses it', () => {
    const rng = new Rng(13);
    const pkt = superPacket(rng, 4000, ACK | PSH);
    const { b, lens, n, at } = segmentInto(pkt, 1000, 8);
    const originals = Array.from({ length: n }, (_, i) => b.slice(at(i), at(i) + lens[i]));
    const co = new Coalescer(8, SLOT, INNER);
    co.run(b, lens, n, { tcp: true, udp: true });
    co.emitHeaders(b, lens, n);
    expect(co.coalescedPackets).toBe(1);
    co.split(b, lens, 0, n);
    expect(co.coalescedPackets).toBe(0);
    for (let i = 0; i < n; i++) {
      expect(lens[i]).toBe(originals[i].length + VNET_HDR_LEN);
      expect(Buffer.from(b.subarray(at(i), at(i) + originals[i].length)).equals(Buffer.from(originals[i]))).toBe(true);
      expect(co.into[i]).toBe(-1);
    }
  });
});

describe('UDP GRO', () => {
  const all = { tcp: true, udp: true };

  it('the kernel cuts the coalesced packets back into the very datagrams (seeded round trip)', () => {
    const rng = new Rng(21);
    for (let k = 0; k < 40; k++) {
      const size = 1 + rng.int(1400);
      const n = 1 + rng.int(100);
      const { b, lens, at } = batch(n);
      const sent: Uint8Array[] = [];
      for (let i = 0; i < n; i++) {
        // Only the last datagram may be shorter.
        const payload = rng.bytes(i === n - 1 ? 1 + rng.int(size) : size);
        lens[i] = writeUdp6(b, at(i), { payload, trafficClass: 0x2e, hopLimit: 9 });
        sent.push(b.slice(at(i), at(i) + lens[i]));
      }
      const co = new Coalescer(n, SLOT, INNER);
      co.run(b, lens, n, all);
      co.emitHeaders(b, lens, n);
      const got: Uint8Array[] = [];
      for (let i = 0; i < n; i++) {
        if (lens[i] === 0) continue;
        expect(co.segments[i]).toBeLessThanOrEqual(64);
        const len = lens[i] - VNET_HDR_LEN;
        const h = newVnetHeader();
        parseVnetHeader(b, at(i) - VNET_HDR_LEN, h);
        if (co.segments[i] === 1) {
          expect(h.gsoType).toBe(0);
          got.push(b.slice(at(i), at(i) + len));
          continue;
        }
        expect(h).toEqual({ flags: VNET_F_NEEDS_CSUM, gsoType: VNET_GSO_UDP_L4, headerBytes: 48, gsoSize: size, csumStart: 40, csumOffset: 6 });
        expect((b[at(i) + 44] << 8) | b[at(i) + 45]).toBe(len - 40);
        got.push(...cutUdpLikeKernel(b, at(i), len, h.gsoSize));
        // The checksum field holds what NEEDS_CSUM wants: completing it gives a valid sum.
        completePartial(b, at(i), len, 40, 6);
        expect(fold(sumWords(b, at(i) + 8, len - 8, 17 + len - 40))).toBe(0xffff);
      }
      // Every packet but the last is as long as it may be: 64 datagrams or 64 KiB.
      const heads = Array.from({ length: n }, (_, i) => i).filter((i) => lens[i] > 0);
      for (const i of heads.slice(0, -1)) expect(co.segments[i] === 64 || lens[i] - VNET_HDR_LEN + size > 40 + 0xffff).toBe(true);
      expect(got.length).toBe(n);
      for (let i = 0; i < n; i++) expect(Buffer.compare(got[i], sent[i]), `datagram ${i}`).toBe(0);
    }
  });

  it('does not merge across a bad or missing checksum, another hop limit, traffic class or port, or a bigger datagram', () => {
    const cases: Array<[string, Partial<Parameters<typeof writeUdp6>[2]>, (b: Uint8Array, p: number) => void]> = [
      ['bad checksum', {}, (b, p) => { b[p + 50] ^= 1; }],
      ['no checksum', {}, (b, p) => { b[p + 46] = 0; b[p + 47] = 0; }],
      ['hop limit', { hopLimit: 63 }, () => {}],
      ['traffic class', { trafficClass: 4 }, () => {}],
      ['port', { dstPort: 53 }, () => {}],
      ['bigger', { payload: new Uint8Array(101) }, () => {}],
    ];
    for (const [what, third, spoil] of cases) {
      const { b, lens, at } = batch(4);
      for (let i = 0; i < 4; i++) lens[i] = writeUdp6(b, at(i), { payload: new Uint8Array(100).fill(i), ...(i === 2 ? third : {}) });
      spoil(b, at(2));
      const co = new Coalescer(4, SLOT, INNER);
      co.run(b, lens, 4, all);
      expect(lens[1], what).toBe(0);
      expect(lens[2], what).toBeGreaterThan(0);
      expect(co.into[2], what).toBe(-1);
    }
    // A short datagram ends the run; UDP stays apart when only TCP may merge.
    const { b, lens, at } = batch(3);
    [100, 60, 100].forEach((n, i) => { lens[i] = writeUdp6(b, at(i), { payload: new Uint8Array(n) }); });
    const co = new Coalescer(3, SLOT, INNER);
    co.run(b, lens, 3, all);
    expect(Array.from(co.into)).toEqual([-1, 0, -1]);
    for (let i = 0; i < 3; i++) lens[i] = writeUdp6(b, at(i), { payload: new Uint8Array(100) });
    co.run(b, lens, 3, { tcp: true, udp: false });
    expect(Array.from(co.into)).toEqual([-1, -1, -1]);
  });

  it('keeps a UDP flow and a TCP flow on the same ports apart', () => {
    const { b, lens, at } = batch(4);
    lens[0] = writeUdp6(b, at(0), { payload: new Uint8Array(200) });
    lens[1] = writeTcp6(b, at(1), { seq: 1, payload: new Uint8Array(200) });
    lens[2] = writeUdp6(b, at(2), { payload: new Uint8Array(200) });
    lens[3] = writeTcp6(b, at(3), { seq: 201, payload: new Uint8Array(200) });
    const co = new Coalescer(4, SLOT, INNER);
    co.run(b, lens, 4, all);
    expect(Array.from(co.into)).toEqual([-1, -1, 0, 1]);
  });

  it('split gives a refused UDP packet back as its datagrams', () => {
    const rng = new Rng(22);
    const { b, lens, at } = batch(5);
    const originals = Array.from({ length: 5 }, (_, i) => {
      lens[i] = writeUdp6(b, at(i), { payload: rng.bytes(i === 4 ? 30 : 64) });
      return b.slice(at(i), at(i) + lens[i]);
    });
    const co = new Coalescer(5, SLOT, INNER);
    co.run(b, lens, 5, all);
    co.emitHeaders(b, lens, 5);
    expect(co.segments[0]).toBe(5);
    co.split(b, lens, 0, 5);
    for (let i = 0; i < 5; i++) {
      expect(lens[i]).toBe(originals[i].length + VNET_HDR_LEN);
      expect(Buffer.compare(b.subarray(at(i), at(i) + originals[i].length), originals[i])).toBe(0);
    }
  });
});

describe('virtio_net_hdr codec', () => {
  it('parse(emit(h)) is h for random headers, little-endian at any offset (seeded)', () => {
    const rng = new Rng(5);
    const b = new Uint8Array(64);
    for (let k = 0; k < 500; k++) {
      const h = { flags: rng.int(256), gsoType: rng.int(256), headerBytes: rng.int(65536), gsoSize: rng.int(65536), csumStart: rng.int(65536), csumOffset: rng.int(65536) };
      const off = rng.int(50);
      emitVnetHeader(h, b, off);
      expect(b[off + 4] | (b[off + 5] << 8)).toBe(h.gsoSize);
      const back = newVnetHeader();
      parseVnetHeader(b, off, back);
      expect(back).toEqual(h);
    }
  });
});
