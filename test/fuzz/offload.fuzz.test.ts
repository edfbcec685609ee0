// The offload code fed random and mutated input (fixed seeds): virtio headers
// and super-packets from the TUN, and received batches of TCP segments from a
// few flows with damage, and of UDP datagrams. Nothing throws or writes
// outside its slot, and coalescing conserves every payload byte (every
// datagram, for UDP), each flow in order.
import { describe, expect, it } from 'vitest';
import {
  Coalescer, PendingBytes, newSuperPacket, parseTcp6Super, segmentPayloadAt, segmentPayloadLen, writeSegment, writeSegmentInPlace,
} from '../../src/datapath/offload.js';
import { readU32 } from '../../src/wire/ipv4.js';
import { VNET_HDR_LEN, newVnetHeader, parseVnetHeader } from '../../src/wire/virtio-net.js';
import { Rng } from '../support/rng.js';
import { completePartial, tcp6ChecksumOk, timestampOption, writeTcp6 } from '../../src/lab/tcp6.js';
import { cutUdpLikeKernel, writeUdp6 } from '../helpers/udp6.js';

const ROUNDS = Number(process.env.SIXTUN_FUZZ_ROUNDS ?? 300);
const SLOT = 65536;
const INNER = 20;

describe('offload fuzz', () => {
  it('random virtio headers over random and real super-packets: accepted ones segment inside their bounds (seeded)', () => {
    const rng = new Rng(2026);
    const area = new Uint8Array(2 * 70000);
    const h = newVnetHeader();
    const sp = newSuperPacket();
    for (let r = 0; r < ROUNDS; r++) {
      area.fill(0);
      let len: number;
      if (rng.int(2)) {
        len = writeTcp6(area, VNET_HDR_LEN, { seq: rng.u32(), options: rng.int(2) ? timestampOption(1, 2) : undefined, payload: rng.bytes(rng.int(20000)) });
        for (let m = rng.int(4); m > 0; m--) area[VNET_HDR_LEN + rng.int(len)] = rng.u32() & 0xff;
      } else {
        len = rng.int(3000);
        area.set(rng.bytes(len), VNET_HDR_LEN);
      }
      area.set(rng.bytes(VNET_HDR_LEN), 0);
      parseVnetHeader(area, 0, h);
      h.gsoSize = rng.int(2) ? h.gsoSize : 1 + rng.int(2000);
      const p = VNET_HDR_LEN;
      const pending = new PendingBytes(20);
      if (pending.addPartial(p, len, h.csumStart, h.csumOffset)) {
        const f = p + h.csumStart + h.csumOffset;
        expect(f + 2).toBeLessThanOrEqual(p + len);
        pending.finish(area);
      }
      if (!parseTcp6Super(area, p, len, h, sp)) continue;
      expect(sp.headerLen + sp.payloadLen).toBe(len);
      const dst = 70000;
      let total = 0;
      const inPlace = rng.int(2) === 1;
      for (let at = 0; at < sp.payloadLen && total < 20; at += sp.segmentSize, total++) {
        const n = (inPlace ? writeSegmentInPlace : writeSegment)(area, sp, at, dst, pending);
        expect(n).toBeLessThanOrEqual(sp.headerLen + sp.segmentSize);
        pending.finish(area);
        if (inPlace) {
          // Gathered as the send does: the payload stays inside the super-packet.
          const from = segmentPayloadAt(sp, at);
          expect(from + segmentPayloadLen(sp, at)).toBeLessThanOrEqual(p + len);
          area.copyWithin(dst + n - segmentPayloadLen(sp, at), from, from + segmentPayloadLen(sp, at));
        }
        expect(tcp6ChecksumOk(area, dst, n)).toBe(true);
      }
    }
  });

  it('mixed flows with damage: no throw, payload conserved per flow and in order (seeded)', () => {
    const rng = new Rng(77);
    const slots = 32;
    const b = new Uint8Array(slots * SLOT);
    const lens = new Int32Array(slots);
    const co = new Coalescer(slots, SLOT, INNER);
    for (let r = 0; r < ROUNDS; r++) {
      const seq = [1000, 90000, 500000];
      const size = 100 + rng.int(1300);
      const n = 1 + rng.int(slots);
      const sent: number[][] = [[], [], []];
      for (let i = 0; i < n; i++) {
        const f = rng.int(3);
        const payload = rng.bytes(rng.int(5) === 0 ? rng.int(size + 1) : size);
        const p = i * SLOT + INNER;
        lens[i] = writeTcp6(b, p, { srcPort: 1000 + f, seq: seq[f], payload, flags: rng.pick([0x10, 0x10, 0x10, 0x18, 0x11, 0x12]), options: timestampOption(5, 6) });
        seq[f] += payload.length;
        const damage = rng.int(12);
        if (damage === 0) b[p + 40 + 32 + rng.int(payload.length + 1)] ^= 0x40;
        if (damage === 1) lens[i] = 0;
        if (damage === 2) b[p + 6] = 17;
        if (lens[i] > 0 && b[p + 6] === 6) sent[f].push(...b.subarray(p + 72, p + lens[i]));
        else if (lens[i] > 0) lens[i] = 0;
      }
      co.run(b, lens, n, { tcp: true, udp: true });
      co.emitHeaders(b, lens, n);
      const got: number[][] = [[], [], []];
      for (let i = 0; i < n; i++) {
        if (lens[i] === 0) continue;
        const p = i * SLOT + INNER;
        const len = lens[i] - VNET_HDR_LEN;
        expect(len).toBeLessThanOrEqual(SLOT - INNER);
        expect(((b[p + 4] << 8) | b[p + 5]) + 40).toBe(len);
        const f = ((b[p + 40] << 8) | b[p + 41]) - 1000;
        got[f].push(...b.subarray(p + 72, p + len));
        if (co.segments[i] > 1) {
          completePartial(b, p, len, 40, 16);
          expect(tcp6ChecksumOk(b, p, len)).toBe(true);
          expect(readU32(b, p + 44)).toBeGreaterThan(0);
        }
      }
      // Flows may reorder against each other, never within themselves.
      for (let f = 0; f < 3; f++) expect(Buffer.from(got[f]).equals(Buffer.from(sent[f]))).toBe(true);
    }
  });

  it('UDP flows with damage: every datagram comes out once, unchanged, each flow in order (seeded)', () => {
    const rng = new Rng(78);
    const slots = 80;
    const b = new Uint8Array(slots * SLOT);
    const lens = new Int32Array(slots);
    const co = new Coalescer(slots, SLOT, INNER);
    const port = (d: Uint8Array, at: number): number => ((d[at + 40] << 8) | d[at + 41]) - 1000;
    for (let r = 0; r < ROUNDS; r++) {
      const size = 1 + rng.int(1400);
      const n = 1 + rng.int(slots);
      const sent: Buffer[][] = [[], [], []];
      for (let i = 0; i < n; i++) {
        const f = rng.int(3);
        const payload = rng.bytes(rng.int(6) === 0 ? 1 + rng.int(size + 10) : size);
        const p = i * SLOT + INNER;
        lens[i] = writeUdp6(b, p, { srcPort: 1000 + f, payload, hopLimit: rng.int(8) === 0 ? 1 : 64 });
        const damage = rng.int(12);
        if (damage === 0) b[p + 48 + rng.int(payload.length)] ^= 0x20;
        if (damage === 1) b[p + 46] = b[p + 47] = 0;
        if (damage === 2) b[p + 45] ^= 1;
        if (damage === 3) lens[i] = 0;
        if (lens[i] > 0) sent[f].push(Buffer.from(b.subarray(p, p + lens[i])));
      }
      co.run(b, lens, n, { tcp: true, udp: true });
      co.emitHeaders(b, lens, n);
      const got: Buffer[][] = [[], [], []];
      for (let i = 0; i < n; i++) {
        if (lens[i] === 0) continue;
        const p = i * SLOT + INNER;
        const len = lens[i] - VNET_HDR_LEN;
        expect(len).toBeLessThanOrEqual(SLOT - INNER);
        const h = newVnetHeader();
        parseVnetHeader(b, p - VNET_HDR_LEN, h);
        const datagrams = co.segments[i] > 1 ? cutUdpLikeKernel(b, p, len, h.gsoSize) : [b.subarray(p, p + len)];
        expect(datagrams.length).toBe(co.segments[i]);
        for (const d of datagrams) got[port(d, 0)].push(Buffer.from(d));
      }
      for (let f = 0; f < 3; f++) {
        expect(got[f].length).toBe(sent[f].length);
        for (let k = 0; k < sent[f].length; k++) expect(Buffer.compare(got[f][k], sent[f][k])).toBe(0);
      }
    }
  });
});
