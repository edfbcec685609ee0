// Both datapath directions fed random and mutated packets (fixed seeds). Nothing
// throws, every packet ends as forwarded or a named drop, and the counters
// add up: packets in = forwarded + dropped. SIXTUN_FUZZ_ROUNDS runs longer.
import { describe, expect, it } from 'vitest';
import { Slab } from '../../src/sys/slab.js';
import { SOCKADDR_IN_LEN } from '../../src/sys/sockaddr.js';
import { DatapathTables } from '../../src/datapath/tables.js';
import { createXmitScratch, xmitBatch, type XmitScratch } from '../../src/datapath/xmit.js';
import { createRcvScratch, rcvBatch } from '../../src/datapath/rcv.js';
import { handleQueuedError } from '../../src/datapath/icmp-errors.js';
import { ErrorLimits } from '../../src/datapath/rate-limits.js';
import { Drop, FORWARDED, FRAGMENTED } from '../../src/datapath/reasons.js';
import { emitIpv4, newIpv4Header, parseIpv4Address } from '../../src/wire/ipv4.js';
import { emitIpv6 } from '../../src/wire/ipv6.js';
import { parseIp, parsePrefix } from '../../src/wire/address.js';
import { Rng } from '../support/rng.js';

const ROUNDS = Number(process.env.SIXTUN_FUZZ_ROUNDS ?? 300);
const LOCAL = parseIpv4Address('203.0.113.1');
const REMOTES = ['198.51.100.2', '198.51.100.3'].map(parseIpv4Address);
const INNER = ['2001:db8:ff::3', '2001:db8:ff::5', '2001:db8:100::9', '2001:db8:beef::1', 'fe80::1', '::', '::1', 'ff02::1', '::ffff:1.2.3.4', 'ff0e::1'];

function tables(): DatapathTables {
  const dp = new DatapathTables('server', LOCAL);
  for (let k = 0; k < 2; k++) {
    dp.add({
      name: `t${k}`, localV4: LOCAL, remoteV4: REMOTES[k], serverV6: parseIp(`2001:db8:ff::${2 + 2 * k}`).bytes, clientV6: parseIp(`2001:db8:ff::${3 + 2 * k}`).bytes,
      pairLength: 127, routed: k === 0 ? [parsePrefix('2001:db8:100::/64')] : [], mtu: 1480, ttl: k === 0 ? 255 : 0, tosInherit: k === 1, pmtuDiscovery: true,
    });
  }
  dp.byName.get('t1')!.learnPathMtu(1290, 0, 0);
  return dp;
}

/** A plausible inner packet, then damaged in one of many ways. */
function innerPacket(rng: Rng, buf: Uint8Array, off: number, max: number): number {
  let len = 40 + rng.int(Math.min(max, 1500) - 40);
  const next = rng.pick([0, 6, 17, 43, 44, 58, 59, 60]);
  emitIpv6({ trafficClass: rng.int(256), flowLabel: rng.int(1 << 20), payloadLength: len - 40, nextHeader: next, hopLimit: rng.int(256),
    src: parseIp(rng.pick(INNER)).bytes, dst: parseIp(rng.pick(INNER)).bytes }, buf, off);
  // Extension-header chains with random lengths after the fixed header.
  for (let p = off + 40, h = 0; h < 3 && p + 8 <= off + len; h++, p += 8) {
    buf[p] = rng.pick([0, 43, 44, 58, 60]);
    buf[p + 1] = rng.int(4);
  }
  switch (rng.int(8)) {
    case 0: buf[off] = (rng.int(16) << 4) | (buf[off] & 15); break;        // bad version
    case 1: buf[off + 4] = rng.int(256); buf[off + 5] = rng.int(256); break; // bad / jumbo payload length
    case 2: len = rng.int(len + 1); break;                                  // truncated at any length
    case 3: buf[off + 4] = 0; buf[off + 5] = 0; buf[off + 6] = 0; break;    // jumbogram marker, no payload
    default: break;
  }
  return len;
}

describe('datapath fuzz (seeded)', () => {
  it('transmit: every TUN packet is forwarded or dropped with a reason, and the counters add up', () => {
    const rng = new Rng(0x5eed01);
    const dp = tables();
    const slab = new Slab({ slots: 64, slotSize: 2048, headroom: 20, nameStride: SOCKADDR_IN_LEN });
    const sc: XmitScratch = createXmitScratch(64, 1e9);
    let packets = 0;
    let forwarded = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const n = 1 + rng.int(64);
      for (let i = 0; i < n; i++) slab.lens[i] = innerPacket(rng, slab.bytes, slab.dataStart(i), slab.dataCapacity);
      const dropsBefore = dp.allCounters().reduce((s, c) => s + c.dropTotal(), 0);
      xmitBatch(dp, slab, n, sc, round);
      const dropsAfter = dp.allCounters().reduce((s, c) => s + c.dropTotal(), 0);
      let fwd = 0;
      for (let i = 0; i < n; i++) {
        const v = sc.verdict[i];
        expect(v === FORWARDED || v === FRAGMENTED || (v >= 0 && v < Drop.Count)).toBe(true);
        if (v === FORWARDED || v === FRAGMENTED) fwd++;
        expect(slab.lens[i] > 0).toBe(v === FORWARDED);
      }
      expect(dropsAfter - dropsBefore).toBe(n - fwd);
      packets += n;
      forwarded += fwd;
    }
    expect(forwarded).toBeGreaterThan(0);
    expect(packets - forwarded).toBeGreaterThan(0);
  });

  it('transmit with payloads left in place (TSO in place): the same verdicts, datagrams and replies as whole packets', () => {
    const rng = new Rng(0x5eed04);
    const whole = { dp: tables(), slab: new Slab({ slots: 64, slotSize: 2048, headroom: 20, nameStride: SOCKADDR_IN_LEN }), sc: createXmitScratch(64, 1e9) };
    const split = { dp: tables(), slab: new Slab({ slots: 64, slotSize: 2048, headroom: 20, nameStride: SOCKADDR_IN_LEN, tailBytes: 64 * 2048 }), sc: createXmitScratch(64, 1e9) };
    let splitForwarded = 0;
    let splitJoined = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const n = 1 + rng.int(64);
      const original: Uint8Array[] = [];
      for (let i = 0; i < n; i++) {
        const len = innerPacket(rng, whole.slab.bytes, whole.slab.dataStart(i), whole.slab.dataCapacity);
        whole.slab.lens[i] = len;
        original.push(whole.slab.bytes.slice(whole.slab.dataStart(i), whole.slab.dataStart(i) + len));
        const d = split.slab.dataStart(i);
        split.slab.bytes.set(original[i], d);
        split.slab.lens[i] = len;
        split.sc.payloadLen[i] = 0;
        if (len > 41 && rng.int(2) === 1) {
          // Headers in the slot, the rest in the staging area; the slot's tail is garbage.
          const headers = 40 + rng.int(len - 40);
          const at = split.slab.tailStart + i * 2048;
          split.slab.bytes.set(original[i].subarray(headers), at);
          split.slab.bytes.fill(0xee, d + headers, d + len);
          split.sc.payloadAt[i] = at;
          split.sc.payloadLen[i] = len - headers;
        }
      }
      const wasSplit = Array.from({ length: n }, (_, i) => split.sc.payloadLen[i] > 0);
      xmitBatch(whole.dp, whole.slab, n, whole.sc, round);
      xmitBatch(split.dp, split.slab, n, split.sc, round);
      for (let i = 0; i < n; i++) {
        expect(split.sc.verdict[i]).toBe(whole.sc.verdict[i]);
        expect(split.slab.lens[i]).toBe(whole.slab.lens[i]);
        const s = split.slab.slotStart(i);
        if (split.sc.payloadLen[i] > 0 && split.sc.verdict[i] === FORWARDED) {
          // Still split and sent: gathered from both ranges as the send does.
          const headerPart = split.slab.bytes.subarray(s, s + whole.slab.lens[i] - split.sc.payloadLen[i]);
          const payload = split.slab.bytes.subarray(split.sc.payloadAt[i], split.sc.payloadAt[i] + split.sc.payloadLen[i]);
          expect(Buffer.concat([headerPart, payload]).equals(whole.slab.bytes.subarray(s, s + whole.slab.lens[i]))).toBe(true);
          splitForwarded++;
        } else if (wasSplit[i] && split.sc.payloadLen[i] === 0) {
          // Answered, refused or fragmented: joined first, whole again.
          expect(Buffer.from(split.slab.bytes.subarray(s + 20, s + 20 + original[i].length)).equals(Buffer.from(original[i]))).toBe(true);
          splitJoined++;
        }
      }
      for (const k of ['replies', 'fragments'] as const) {
        const a = whole.sc[k];
        const b = split.sc[k];
        expect(b.count).toBe(a.count);
        for (let r = 0; r < a.count; r++) {
          expect(b.lens[r]).toBe(a.lens[r]);
          expect(Buffer.from(b.bytes.subarray(b.slotStart(r), b.slotStart(r) + b.slotSize)).equals(Buffer.from(a.bytes.subarray(a.slotStart(r), a.slotStart(r) + a.slotSize)))).toBe(true);
        }
      }
    }
    expect(splitForwarded).toBeGreaterThan(0);
    expect(splitJoined).toBeGreaterThan(0);
  });

  it('receive: every datagram is forwarded or dropped with a reason, and the counters add up', () => {
    const rng = new Rng(0x5eed02);
    const dp = tables();
    const slab = new Slab({ slots: 64, slotSize: 4096, headroom: 20 });
    const sc = createRcvScratch(64);
    const h = newIpv4Header();
    let forwarded = 0;
    let packets = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const n = 1 + rng.int(64);
      for (let i = 0; i < n; i++) {
        const s = slab.slotStart(i);
        const ihl = rng.int(4) === 0 ? 20 + 4 * rng.int(11) : 20;
        const inner = innerPacket(rng, slab.bytes, s + ihl, 4096 - ihl);
        Object.assign(h, { tos: rng.int(256), totalLength: ihl + inner, ttl: 64, protocol: rng.int(10) === 0 ? rng.int(256) : 41,
          src: rng.int(8) === 0 ? rng.u32() : rng.pick(REMOTES), dst: rng.int(8) === 0 ? rng.u32() : LOCAL });
        emitIpv4(h, slab.bytes, s);
        slab.bytes[s] = 0x40 | (ihl >> 2);
        let len = ihl + inner + rng.int(3) * rng.int(8);                     // padded datagrams
        switch (rng.int(10)) {
          case 0: slab.bytes[s] = rng.int(256); break;                       // bad version / IHL
          case 1: slab.bytes[s + 2] = rng.int(256); slab.bytes[s + 3] = rng.int(256); break;
          case 2: len = rng.int(len + 1); break;                             // truncated at any length
          case 3: len = -len; break;                                         // larger than the slot
          default: break;
        }
        slab.lens[i] = len;
      }
      const before = dp.allCounters().reduce((a, c) => a + c.dropTotal(), 0);
      rcvBatch(dp, slab, n, sc);
      const after = dp.allCounters().reduce((a, c) => a + c.dropTotal(), 0);
      let fwd = 0;
      for (let i = 0; i < n; i++) {
        const v = sc.verdict[i];
        expect(v === FORWARDED || (v >= 0 && v < Drop.Count)).toBe(true);
        if (v === FORWARDED) {
          fwd++;
          expect(slab.lens[i]).toBeGreaterThanOrEqual(40);
          expect(slab.bytes[slab.slotStart(i) + 20] >> 4).toBe(6);
        } else {
          expect(slab.lens[i]).toBe(0);
        }
      }
      expect(after - before).toBe(n - fwd);
      forwarded += fwd;
      packets += n;
    }
    expect(forwarded).toBeGreaterThan(0);
    expect(packets - forwarded).toBeGreaterThan(0);
  });

  it('ICMPv4 error handling never throws on random quotes and queued errors', () => {
    const rng = new Rng(0x5eed03);
    const dp = tables();
    const replies = new Slab({ slots: 4, slotSize: 1280 });
    for (let n = 0; n < ROUNDS * 20; n++) {
      const quote = rng.bytes(rng.int(200));
      if (quote.length >= 20 && rng.int(2) === 0) {
        quote[0] = 0x45; quote[9] = 41;
        quote.set([203, 0, 113, 1], 12);
        quote.set(rng.int(2) ? [198, 51, 100, 2] : [198, 51, 100, 3], 16);
        if (quote.length > 20) quote[20] = 0x60;
      }
      replies.count = 0;
      const e = { errno: rng.pick([90, 113, 101]), origin: rng.int(5), type: rng.pick([3, 11, 12, rng.int(256)]), code: rng.int(16), info: rng.int(70000), rfc4884Length: rng.int(2) ? 0 : rng.int(200) };
      handleQueuedError(dp, e, quote, quote.length, rng.pick(REMOTES), replies, new ErrorLimits(1e9), n);
      for (let r = 0; r < replies.count; r++) expect(replies.lens[r]).toBeLessThanOrEqual(1280);
    }
  });
});
