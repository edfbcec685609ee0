// xmitBatch and rcvBatch over slabs, without sockets: the behaviour contract
// (RFC 4213, RFC 6040, RFC 4443) one rule at a time.
import { describe, expect, it } from 'vitest';
import { Slab } from '../../src/sys/slab.js';
import { SOCKADDR_IN_LEN } from '../../src/sys/sockaddr.js';
import { DatapathTables } from '../../src/datapath/tables.js';
import { wordsOf } from '../../src/route/prefix-table.js';
import { createXmitScratch, FRAGMENTS_PER_DATAGRAM, xmitBatch, type XmitScratch } from '../../src/datapath/xmit.js';
import { createRcvScratch, rcvBatch, INNER_OFFSET } from '../../src/datapath/rcv.js';
import { handleQueuedError, parseRecvErr, ErrorOutcome, SO_EE_ORIGIN_ICMP, SO_EE_ORIGIN_LOCAL } from '../../src/datapath/icmp-errors.js';
import { ERRORS_PER_DESTINATION, ErrorLimits, TOO_BIG_PER_DESTINATION } from '../../src/datapath/rate-limits.js';
import { DROP_NAMES, Drop, FORWARDED, TO_SERVER } from '../../src/datapath/reasons.js';
import { MIN_PMTU, PMTU_EXPIRY_MS, type TunnelSpec } from '../../src/route/tunnel.js';
import { checkIpv4, emitIpv4, newIpv4Header, parseIpv4, parseIpv4Address, Ipv4Check } from '../../src/wire/ipv4.js';
import { emitIpv6, parseIpv6, NEXT_HEADER_ICMPV6, NEXT_HEADER_UDP } from '../../src/wire/ipv6.js';
import { emitIcmpv6Error, finishIcmpv6, icmpv6ChecksumOk, mayAnswerWithError, ICMPV6_PACKET_TOO_BIG, ICMPV6_DEST_UNREACHABLE, ICMPV6_REDIRECT, ICMPV6_TIME_EXCEEDED } from '../../src/wire/icmpv6.js';
import { formatIp, parseIp, parsePrefix } from '../../src/wire/address.js';

const LOCAL = parseIpv4Address('203.0.113.1');
const REMOTE = parseIpv4Address('198.51.100.2');
const HOST = '2001:db8:beef::1';

function spec(over: Partial<TunnelSpec> = {}): TunnelSpec {
  return {
    name: 'home', localV4: LOCAL, remoteV4: REMOTE, serverV6: parseIp('2001:db8:ff::2').bytes, clientV6: parseIp('2001:db8:ff::3').bytes,
    pairLength: 127, routed: [parsePrefix('2001:db8:100::/64')], mtu: 1480, ttl: 255, tosInherit: false, pmtuDiscovery: true, ...over,
  };
}

function scratch(batch = 8): XmitScratch {
  return createXmitScratch(batch, 1000);
}

/** Writes an IPv6/UDP packet of `len` bytes at buf[off]. */
function ipv6Packet(buf: Uint8Array, off: number, src: string, dst: string, len: number, tc = 0, hop = 64): void {
  emitIpv6({ trafficClass: tc, flowLabel: 0, payloadLength: len - 40, nextHeader: NEXT_HEADER_UDP, hopLimit: hop, src: parseIp(src).bytes, dst: parseIp(dst).bytes }, buf, off);
  for (let i = 40; i < len; i++) buf[off + i] = i & 0xff;
}

function txSlab(): Slab {
  return new Slab({ slots: 8, slotSize: 2048, headroom: 20, nameStride: SOCKADDR_IN_LEN });
}

function server(over: Partial<TunnelSpec> = {}): DatapathTables {
  const dp = new DatapathTables('server', LOCAL);
  dp.add(spec(over));
  return dp;
}

describe('xmit: encapsulation (RFC 4213 §3.5)', () => {
  it('writes a valid outer IPv4 header in the headroom: TTL 255, DF, protocol 41, addresses, checksum', () => {
    const dp = server();
    const slab = txSlab();
    ipv6Packet(slab.bytes, slab.dataStart(0), HOST, '2001:db8:ff::3', 100);
    slab.lens[0] = 100;
    xmitBatch(dp, slab, 1, scratch(), 0);
    expect(slab.lens[0]).toBe(120);
    expect(checkIpv4(slab.bytes, 0, 120)).toBe(Ipv4Check.Ok);
    const h = newIpv4Header();
    parseIpv4(slab.bytes, 0, h);
    expect(h).toMatchObject({ ttl: 255, protocol: 41, dontFragment: true, totalLength: 120, src: LOCAL, dst: REMOTE, tos: 0 });
    // The sockaddr for sendmmsg names the remote.
    expect(Array.from(slab.names!.subarray(4, 8))).toEqual([198, 51, 100, 2]);
  });

  it('routes by longest prefix: a routed /64 goes to its tunnel; an unknown destination is dropped as no-route', () => {
    const dp = server();
    dp.add(spec({ name: 'other', remoteV4: parseIpv4Address('198.51.100.9'), clientV6: parseIp('2001:db8:ff::5').bytes, serverV6: parseIp('2001:db8:ff::4').bytes, routed: [] }));
    const slab = txSlab();
    ipv6Packet(slab.bytes, slab.dataStart(0), HOST, '2001:db8:100::99', 80);
    ipv6Packet(slab.bytes, slab.dataStart(1), HOST, '2001:db8:ff::5', 80);
    ipv6Packet(slab.bytes, slab.dataStart(2), HOST, '2001:db8:999::1', 80);
    ipv6Packet(slab.bytes, slab.dataStart(3), HOST, 'ff02::1', 80);
    slab.lens.set([80, 80, 80, 80]);
    const sc = scratch();
    xmitBatch(dp, slab, 4, sc, 0);
    expect(Array.from(sc.slotTunnel.subarray(0, 4))).toEqual([0, 1, -1, -1]);
    expect(slab.bytes[slab.slotStart(1) + 19]).toBe(9);
    expect(dp.global.drops[Drop.NoRoute]).toBe(1);
    expect(dp.global.drops[Drop.MulticastDestination]).toBe(1);
  });

  it('a destination in a pool that no tunnel holds: dropped as unassigned and answered with Destination Unreachable (no route), rate limited, never to an error', () => {
    const dp = server();
    dp.pools.set(wordsOf(parsePrefix('2001:db8:ff::/120').bytes), 120, 0);
    const slab = txSlab();
    const sc = scratch();
    const send = (dst: string, withSource: boolean, icmpError = false): void => {
      dp.unreachableSource = withSource ? parseIp('2001:db8:ff::1').bytes : null;
      ipv6Packet(slab.bytes, slab.dataStart(0), HOST, dst, 80);
      if (icmpError) {
        slab.bytes[slab.dataStart(0) + 6] = NEXT_HEADER_ICMPV6;
        slab.bytes[slab.dataStart(0) + 40] = ICMPV6_DEST_UNREACHABLE;
      }
      slab.lens[0] = 80;
      xmitBatch(dp, slab, 1, sc, 0);
    };
    send('2001:db8:ff::9', true);
    expect(sc.verdict[0]).toBe(Drop.Unassigned);
    expect(dp.global.drops[Drop.Unassigned]).toBe(1);
    expect(sc.replies.count).toBe(1);
    const r = sc.replies.bytes;
    const o = sc.replies.dataStart(0);
    const h = parseIpv6(r, o);
    expect([formatIp(h.src), formatIp(h.dst), r[o + 40], r[o + 41]]).toEqual(['2001:db8:ff::1', HOST, ICMPV6_DEST_UNREACHABLE, 0]);
    expect(icmpv6ChecksumOk(r, o, sc.replies.lens[0] - 40)).toBe(true);
    expect(dp.global.icmpSent).toBe(1);
    // Held by a tunnel: forwarded. Outside every pool: no-route, unanswered.
    send('2001:db8:ff::3', true);
    expect(sc.verdict[0]).toBe(-1);
    send('2001:db8:999::1', true);
    expect([sc.verdict[0], sc.replies.count]).toEqual([Drop.NoRoute, 0]);
    // No source address, or an ICMPv6 error to answer: counted, unanswered.
    send('2001:db8:ff::9', false);
    send('2001:db8:ff::9', true, true);
    expect([dp.global.drops[Drop.Unassigned], sc.replies.count, dp.global.icmpSent]).toEqual([3, 0, 1]);
  });

  it('drops packets that are not IPv6 or whose length disagrees, as bad-ipv6', () => {
    const dp = server();
    const slab = txSlab();
    ipv6Packet(slab.bytes, slab.dataStart(0), HOST, '2001:db8:ff::3', 80);
    slab.bytes[slab.dataStart(0)] = 0x45;
    ipv6Packet(slab.bytes, slab.dataStart(1), HOST, '2001:db8:ff::3', 80);
    slab.lens.set([80, 79, 30]);
    xmitBatch(dp, slab, 3, scratch(), 0);
    expect(dp.global.drops[Drop.BadIpv6]).toBe(3);
    expect(Array.from(slab.lens.subarray(0, 3))).toEqual([0, 0, 0]);
  });

  it('ttl inherit copies the inner hop limit; tos inherit copies the traffic class', () => {
    const dp = server({ ttl: 0, tosInherit: true });
    const slab = txSlab();
    ipv6Packet(slab.bytes, slab.dataStart(0), HOST, '2001:db8:ff::3', 60, 0xb8, 17);
    slab.lens[0] = 60;
    xmitBatch(dp, slab, 1, scratch(), 0);
    expect(slab.bytes[8]).toBe(17);
    expect(slab.bytes[1]).toBe(0xb8);
    expect(checkIpv4(slab.bytes, 0, 80)).toBe(Ipv4Check.Ok);
  });

  it('copies inner ECN to the outer header, CE becoming ECT(0) (RFC 6040 §4.1), without copying DSCP by default', () => {
    for (const [inner, outer] of [[0, 0], [1, 1], [2, 2], [3, 2]]) {
      const dp = server();
      const slab = txSlab();
      ipv6Packet(slab.bytes, slab.dataStart(0), HOST, '2001:db8:ff::3', 60, 0xb8 | inner);
      slab.lens[0] = 60;
      xmitBatch(dp, slab, 1, scratch(), 0);
      expect(slab.bytes[1]).toBe(outer);
      expect(checkIpv4(slab.bytes, 0, 80)).toBe(Ipv4Check.Ok);
    }
  });

  it('answers a packet over the tunnel MTU with a Packet Too Big from the tunnel’s server address', () => {
    const dp = server();
    dp.byName.get('home')!.learnPathMtu(1400, 0, 0);
    const slab = txSlab();
    ipv6Packet(slab.bytes, slab.dataStart(0), HOST, '2001:db8:ff::3', 1400);
    slab.lens[0] = 1400;
    const sc = scratch();
    xmitBatch(dp, slab, 1, sc, 1);
    expect(slab.lens[0]).toBe(0);
    expect(dp.byName.get('home')!.counters.drops[Drop.TooBig]).toBe(1);
    expect(sc.replies.count).toBe(1);
    const r = sc.replies.bytes;
    const o = sc.replies.dataStart(0);
    const h = parseIpv6(r, o);
    expect(formatIp(h.src)).toBe('2001:db8:ff::2');
    expect(formatIp(h.dst)).toBe(HOST);
    expect(h.nextHeader).toBe(NEXT_HEADER_ICMPV6);
    expect(r[o + 40]).toBe(ICMPV6_PACKET_TOO_BIG);
    expect((r[o + 44] << 24) | (r[o + 45] << 16) | (r[o + 46] << 8) | r[o + 47]).toBe(1380);
    expect(sc.replies.lens[0]).toBe(1280);
    expect(icmpv6ChecksumOk(r, o, sc.replies.lens[0] - 40)).toBe(true);
  });

  it('below 1280 + 20 on the path: no DF, and datagrams over the path MTU are fragmented by sixtun (RFC 4213 §3.2.2)', () => {
    const dp = server();
    const t = dp.byName.get('home')!;
    t.learnPathMtu(1290, 0, 0);
    expect(t.effectiveMtu(1)).toBe(1280);
    expect(t.dontFragment()).toBe(false);
    const slab = txSlab();
    ipv6Packet(slab.bytes, slab.dataStart(0), HOST, '2001:db8:ff::3', 1280);
    ipv6Packet(slab.bytes, slab.dataStart(1), HOST, '2001:db8:ff::3', 400);
    slab.lens.set([1280, 400]);
    const sc = scratch();
    xmitBatch(dp, slab, 2, sc, 1);
    // The big one became fragments; the small one goes whole, without DF.
    expect(slab.lens[0]).toBe(0);
    expect(slab.lens[1]).toBe(420);
    expect(slab.bytes[slab.slotStart(1) + 6] & 0x40).toBe(0);
    expect(sc.fragments.count).toBe(2);
    const h = newIpv4Header();
    const payload: number[] = [];
    for (let f = 0; f < 2; f++) {
      const o = sc.fragments.slotStart(f);
      expect(checkIpv4(sc.fragments.bytes, o, sc.fragments.lens[f])).toBe(Ipv4Check.Ok);
      parseIpv4(sc.fragments.bytes, o, h);
      expect(h.totalLength).toBeLessThanOrEqual(1290);
      expect(h.moreFragments).toBe(f === 0);
      expect(h.fragmentOffset * 8).toBe(payload.length);
      payload.push(...sc.fragments.bytes.subarray(o + 20, o + h.totalLength));
    }
    // Reassembled, the fragments hold exactly the inner packet.
    expect(Uint8Array.from(payload)).toEqual(slab.bytes.slice(slab.dataStart(0), slab.dataStart(0) + 1280));
  });
});

describe('low path MTU', () => {
  it('a whole batch of the largest packets at the floor path MTU becomes fragments, none dropped; each datagram has one non-zero ID', () => {
    const dp = server();
    const t = dp.byName.get('home')!;
    // An ICMP claiming 100: taken as the floor, 552.
    expect(t.learnPathMtu(100, 0, 0)).toBe(true);
    expect(t.pathMtu).toBe(MIN_PMTU);
    const batch = 128;
    const slab = new Slab({ slots: batch, slotSize: 2048, headroom: 20, nameStride: SOCKADDR_IN_LEN });
    for (let i = 0; i < batch; i++) {
      ipv6Packet(slab.bytes, slab.dataStart(i), HOST, '2001:db8:ff::3', 1280);
      slab.lens[i] = 1280;
    }
    t.ipId = 0xfffe;
    const sc = scratch(batch);
    xmitBatch(dp, slab, batch, sc, 1);
    expect(t.counters.drops[Drop.TxBusy]).toBe(0);
    expect(sc.fragments.count).toBe(batch * FRAGMENTS_PER_DATAGRAM);
    const ids = new Map<number, Set<number>>();
    const h = newIpv4Header();
    for (let f = 0; f < sc.fragments.count; f++) {
      parseIpv4(sc.fragments.bytes, sc.fragments.slotStart(f), h);
      expect(h.totalLength).toBeLessThanOrEqual(MIN_PMTU);
      const slot = sc.fragmentSlot[f];
      ids.set(slot, (ids.get(slot) ?? new Set()).add(h.id));
    }
    expect(ids.size).toBe(batch);
    for (const set of ids.values()) {
      expect(set.size).toBe(1);
      expect([...set][0]).not.toBe(0);
    }
    // The ID wrapped past 0xffff to 1, not 0.
    expect([...ids.get(0)!][0]).toBe(0xffff);
    expect([...ids.get(1)!][0]).toBe(1);
  });

  it('the learned path MTU only goes down (expiry raises it), never below 552; an MTU of 0 takes the RFC 1191 plateau below the refused size', () => {
    const t = server().byName.get('home')!;
    expect(t.learnPathMtu(1400, 1500, 0)).toBe(true);
    expect(t.learnPathMtu(1450, 1500, 1)).toBe(false);
    expect(t.pathMtu).toBe(1400);
    expect(t.learnPathMtu(0, 1400, 2)).toBe(true);
    expect(t.pathMtu).toBe(1006);
    expect(t.learnPathMtu(0, 1006, 3)).toBe(true);
    expect(t.pathMtu).toBe(MIN_PMTU);
    expect(t.learnPathMtu(68, 600, 4)).toBe(false);
    // After expiry the configured MTU holds again, and a larger MTU may be learned.
    expect(t.effectiveMtu(4 + PMTU_EXPIRY_MS + 1)).toBe(1480);
    expect(t.learnPathMtu(0, 1500, 5 + PMTU_EXPIRY_MS)).toBe(true);
    expect(t.pathMtu).toBe(1492);
  });
});

/** A received datagram: outer IPv4 + inner IPv6 at slot i. */
function received(slab: Slab, i: number, outerSrc: number, innerSrc: string, innerDst: string, opts: { ecnOuter?: number; tc?: number; pad?: number; ihl?: number; dst?: number } = {}): void {
  const s = slab.slotStart(i);
  const ihl = (opts.ihl ?? 5) * 4;
  const innerLen = 80;
  const h = newIpv4Header();
  Object.assign(h, { tos: opts.ecnOuter ?? 0, totalLength: ihl + innerLen + (opts.pad ?? 0), ttl: 64, protocol: 41, src: outerSrc, dst: opts.dst ?? LOCAL });
  emitIpv4(h, slab.bytes, s);
  if (ihl > 20) {
    slab.bytes[s] = 0x40 | (ihl / 4);
    slab.bytes.fill(1, s + 20, s + ihl);
  }
  ipv6Packet(slab.bytes, s + ihl, innerSrc, innerDst, innerLen, opts.tc ?? 0);
  slab.lens[i] = ihl + innerLen + (opts.pad ?? 0);
}

function rxSlab(): Slab {
  return new Slab({ slots: 8, slotSize: 2048, headroom: INNER_OFFSET });
}

describe('rcv: decapsulation checks (RFC 4213 §3.6)', () => {
  it('accepts the tunnel’s own source and leaves the inner packet at offset 20, trimmed to the IPv6 length', () => {
    const dp = server();
    const slab = rxSlab();
    received(slab, 0, REMOTE, '2001:db8:ff::3', HOST, { pad: 6 });
    received(slab, 1, REMOTE, '2001:db8:100::7', HOST, { ihl: 6 });
    received(slab, 2, REMOTE, 'fe80::1', 'ff02::1');
    const sc = createRcvScratch(8);
    rcvBatch(dp, slab, 3, sc);
    expect(Array.from(slab.lens.subarray(0, 3))).toEqual([80, 80, 80]);
    // With IPv4 options the inner packet was moved to offset 20.
    expect(slab.bytes[slab.slotStart(1) + 20] >> 4).toBe(6);
    expect(formatIp(parseIpv6(slab.bytes, slab.slotStart(1) + 20).src)).toBe('2001:db8:100::7');
  });

  it('accepts link-scope multicast whatever its flags (ff02, ff12, ff32: RFC 4291 §2.7 scope 2), as the kernel', () => {
    const dp = server();
    const slab = rxSlab();
    ['ff02::1', 'ff12::1:2', 'ff32::abcd'].forEach((dst, i) => received(slab, i, REMOTE, 'fe80::1', dst));
    rcvBatch(dp, slab, 3, createRcvScratch(8));
    expect(Array.from(slab.lens.subarray(0, 3))).toEqual([80, 80, 80]);
  });

  it('drops with a named reason, never throwing', () => {
    const dp = server();
    const slab = rxSlab();
    const cases: Array<[() => void, number, boolean]> = [
      [() => received(slab, 0, parseIpv4Address('192.0.2.9'), '2001:db8:ff::3', HOST), Drop.UnknownRemote, true],
      [() => received(slab, 0, REMOTE, '2001:db8:ff::3', HOST, { dst: parseIpv4Address('203.0.113.2') }), Drop.NotLocal, true],
      [() => received(slab, 0, REMOTE, '2001:db8:ff::5', HOST), Drop.SpoofedSource, false],
      [() => received(slab, 0, REMOTE, '2001:db8:ff::2', HOST), Drop.SpoofedSource, false],
      [() => received(slab, 0, REMOTE, '::1', HOST), Drop.MartianSource, false],
      [() => received(slab, 0, REMOTE, 'ff02::1', HOST), Drop.MartianSource, false],
      [() => received(slab, 0, REMOTE, '::ffff:192.0.2.1', HOST), Drop.MartianSource, false],
      [() => received(slab, 0, REMOTE, '::192.0.2.1', HOST), Drop.MartianSource, false],
      [() => received(slab, 0, REMOTE, '2001:db8:ff::3', '::1'), Drop.MartianDestination, false],
      [() => received(slab, 0, REMOTE, '2001:db8:ff::3', 'ff0e::1'), Drop.MartianDestination, false],
      [() => received(slab, 0, REMOTE, '2001:db8:ff::3', 'ff15::1'), Drop.MartianDestination, false],
      [() => received(slab, 0, REMOTE, '2001:db8:ff::3', HOST, { ecnOuter: 3, tc: 0 }), Drop.EcnCeNotEct, false],
      [() => { received(slab, 0, REMOTE, '2001:db8:ff::3', HOST); slab.lens[0] = -70000; }, Drop.Oversize, true],
      [() => { received(slab, 0, REMOTE, '2001:db8:ff::3', HOST); slab.bytes[20] = 0x45; }, Drop.InnerNotIpv6, false],
      [() => { received(slab, 0, REMOTE, '2001:db8:ff::3', HOST); slab.bytes[24] = 0x10; }, Drop.InnerTruncated, false],
      [() => { received(slab, 0, REMOTE, '2001:db8:ff::3', HOST); slab.bytes[2] = 0; slab.bytes[3] = 50; }, Drop.InnerTruncated, false],
      [() => { received(slab, 0, REMOTE, '2001:db8:ff::3', HOST); slab.bytes[9] = 4; }, Drop.BadIpv4, true],
    ];
    for (const [make, reason, global] of cases) {
      make();
      const counters = global ? dp.global : dp.byName.get('home')!.counters;
      const before = counters.drops[reason];
      rcvBatch(dp, slab, 1, createRcvScratch(8));
      expect(slab.lens[0], DROP_NAMES[reason]).toBe(0);
      expect(counters.drops[reason] - before, DROP_NAMES[reason]).toBe(1);
    }
  });

  it('applies the RFC 6040 §4.2 decapsulation table', () => {
    // [outer, inner] → inner after, or 'drop'
    const table: Array<[number, number, number | 'drop']> = [
      [0, 0, 0], [0, 1, 1], [0, 2, 2], [0, 3, 3],
      [2, 0, 0], [2, 1, 1], [2, 2, 2], [2, 3, 3],
      [1, 0, 0], [1, 1, 1], [1, 2, 1], [1, 3, 3],
      [3, 0, 'drop'], [3, 1, 3], [3, 2, 3], [3, 3, 3],
    ];
    for (const [outer, inner, want] of table) {
      const dp = server();
      const slab = rxSlab();
      received(slab, 0, REMOTE, '2001:db8:ff::3', HOST, { ecnOuter: outer, tc: 0xb8 | inner });
      rcvBatch(dp, slab, 1, createRcvScratch(8));
      if (want === 'drop') {
        expect(slab.lens[0]).toBe(0);
      } else {
        const tc = parseIpv6(slab.bytes, 20).trafficClass;
        expect(tc & 3, `outer ${outer} inner ${inner}`).toBe(want);
        expect(tc & 0xfc).toBe(0xb8);
      }
    }
  });

  it('a client accepts any unicast source from its server', () => {
    const dp = new DatapathTables('client', REMOTE);
    dp.add(spec({ localV4: REMOTE, remoteV4: LOCAL }));
    const slab = rxSlab();
    received(slab, 0, LOCAL, HOST, '2001:db8:ff::3', { dst: REMOTE });
    rcvBatch(dp, slab, 1, createRcvScratch(8));
    expect(slab.lens[0]).toBe(80);
  });
});

/** A control buffer holding one IP_RECVERR cmsg as the kernel lays it out. */
function recvErrCmsg(origin: number, type: number, code: number, info: number, errno = 113): { ctrl: Uint8Array; len: number } {
  const ctrl = new Uint8Array(64);
  const dv = new DataView(ctrl.buffer);
  const len = 16 + 16 + 16;
  dv.setBigUint64(0, BigInt(len), true);
  dv.setInt32(8, 0, true);
  dv.setInt32(12, 11, true);
  dv.setUint32(16, errno, true);
  ctrl[20] = origin;
  ctrl[21] = type;
  ctrl[22] = code;
  dv.setUint32(24, info, true);
  return { ctrl, len };
}

describe('ICMPv4 errors from the error queue', () => {
  function quoted(innerQuote: number, dst = REMOTE, inner: [string, string] = [HOST, '2001:db8:ff::3']): { buf: Uint8Array; len: number } {
    const buf = new Uint8Array(20 + 1480);
    const h = newIpv4Header();
    Object.assign(h, { totalLength: 1500, ttl: 255, protocol: 41, src: LOCAL, dst, dontFragment: true });
    emitIpv4(h, buf, 0);
    ipv6Packet(buf, 20, inner[0], inner[1], 1480);
    return { buf, len: 20 + innerQuote };
  }
  const unreachable = { errno: 113, origin: SO_EE_ORIGIN_ICMP, type: 3, code: 1, info: 0, rfc4884Length: 0 };

  it('relays an error only about a packet the tunnel carries: a forged quote cannot aim sixtun\'s ICMPv6 at a stranger', () => {
    const dp = server();
    const replies = new Slab({ slots: 4, slotSize: 1280 });
    // Right outer addresses (the off-path host knows both endpoints), inner packet between two strangers.
    const forged = quoted(48, REMOTE, ['2001:db8:bad::1', '2001:db8:bad::2']);
    expect(handleQueuedError(dp, unreachable, forged.buf, forged.len, REMOTE, replies, new ErrorLimits(10), 1)).toBe(ErrorOutcome.Ignored);
    expect(replies.count).toBe(0);
    expect(dp.byName.get('home')!.counters.drops[Drop.IcmpNotOurs]).toBe(1);
    // To the tunnel's routed prefix: relayed.
    const routed = quoted(48, REMOTE, [HOST, '2001:db8:100::9']);
    expect(handleQueuedError(dp, unreachable, routed.buf, routed.len, REMOTE, replies, new ErrorLimits(10), 1)).toBe(ErrorOutcome.Relayed);
  });

  it('RFC 4884: only the original datagram is quoted on, not the extension objects after it', () => {
    const dp = server();
    const replies = new Slab({ slots: 4, slotSize: 1280 });
    const { buf } = quoted(200);
    // 128 bytes of original datagram (RFC 4884 §5.1), then an extension structure.
    buf.fill(0xee, 128, 220);
    expect(handleQueuedError(dp, { ...unreachable, rfc4884Length: 128 }, buf, 220, REMOTE, replies, new ErrorLimits(10), 1)).toBe(ErrorOutcome.Relayed);
    expect(replies.lens[0]).toBe(40 + 8 + 128 - 20);
  });

  it('errors are limited per destination and in all; Packet Too Big only per destination, so a heavy sender cannot starve it', () => {
    const limits = new ErrorLimits(100);
    const a = parseIp('2001:db8:a::1').bytes;
    const b = parseIp('2001:db8:b::1').bytes;
    let toA = 0;
    for (let i = 0; i < 100; i++) if (limits.allow(false, a, 0, 1)) toA++;
    expect(toA).toBe(ERRORS_PER_DESTINATION);
    // Others share what is left of the budget (burst 50) …
    let others = 0;
    for (let i = 0; i < 100; i++) if (limits.allow(false, parseIp(`2001:db8:c::${i.toString(16)}`).bytes, 0, 1)) others++;
    expect(others).toBe(50 - ERRORS_PER_DESTINATION);
    // … which is gone now; Packet Too Big still reaches b, up to its own per-destination burst.
    expect(limits.allow(false, b, 0, 1)).toBe(false);
    let tooBig = 0;
    for (let i = 0; i < 200; i++) if (limits.allow(true, b, 0, 1)) tooBig++;
    expect(tooBig).toBe(TOO_BIG_PER_DESTINATION);
  });

  it('never answers an ICMPv6 error, also behind extension headers, nor a multicast or unspecified source (RFC 4443 §2.4 (e))', () => {
    const pkt = (next: number, ext: number[], type: number, src = HOST): Uint8Array => {
      const buf = new Uint8Array(40 + ext.length + 8);
      emitIpv6({ trafficClass: 0, flowLabel: 0, payloadLength: ext.length + 8, nextHeader: next, hopLimit: 64, src: parseIp(src).bytes, dst: parseIp('2001:db8:ff::3').bytes }, buf, 0);
      buf.set(ext, 40);
      buf[40 + ext.length] = type;
      return buf;
    };
    const hopByHop = [NEXT_HEADER_ICMPV6, 0, 1, 4, 0, 0, 0, 0];
    const firstFragment = [NEXT_HEADER_ICMPV6, 0, 0, 0, 0, 0, 0, 1];
    const laterFragment = [NEXT_HEADER_ICMPV6, 0, 0x05, 0x00, 0, 0, 0, 1];
    const dstOptsThenFragment = [44, 0, 1, 4, 0, 0, 0, 0, ...firstFragment];
    const may = (b: Uint8Array): boolean => mayAnswerWithError(b, 0, b.length, false);
    expect(may(pkt(NEXT_HEADER_ICMPV6, [], 1))).toBe(false);
    expect(may(pkt(NEXT_HEADER_ICMPV6, [], 128))).toBe(true);
    expect(may(pkt(0, hopByHop, 1))).toBe(false);
    expect(may(pkt(0, hopByHop, 128))).toBe(true);
    expect(may(pkt(44, firstFragment, 3))).toBe(false);
    expect(may(pkt(60, dstOptsThenFragment, 2))).toBe(false);
    // A later fragment: what it carries cannot be seen.
    expect(may(pkt(44, laterFragment, 1))).toBe(true);
    expect(may(pkt(NEXT_HEADER_ICMPV6, [], 128, 'ff02::1'))).toBe(false);
    expect(may(pkt(NEXT_HEADER_ICMPV6, [], 128, '::'))).toBe(false);
  });

  it('parses the IP_RECVERR control message', () => {
    const { ctrl, len } = recvErrCmsg(SO_EE_ORIGIN_ICMP, 3, 4, 1400, 90);
    const out = { errno: 0, origin: 0, type: 0, code: 0, info: 0, rfc4884Length: 0 };
    expect(parseRecvErr(ctrl, len, out)).toBe(true);
    expect(out).toEqual({ errno: 90, origin: 2, type: 3, code: 4, info: 1400, rfc4884Length: 0 });
    expect(parseRecvErr(ctrl, 10, out)).toBe(false);
  });

  it('Fragmentation Needed and a local EMSGSIZE set the path MTU', () => {
    for (const e of [
      { errno: 90, origin: SO_EE_ORIGIN_ICMP, type: 3, code: 4, info: 1400, rfc4884Length: 0 },
      { errno: 90, origin: SO_EE_ORIGIN_LOCAL, type: 0, code: 0, info: 1400, rfc4884Length: 0 },
    ]) {
      const dp = server();
      const { buf, len } = quoted(8);
      const replies = new Slab({ slots: 4, slotSize: 1280 });
      expect(handleQueuedError(dp, e, buf, e.origin === SO_EE_ORIGIN_LOCAL ? 0 : len, REMOTE, replies, new ErrorLimits(10), 5)).toBe(ErrorOutcome.PathMtu);
      expect(dp.byName.get('home')!.pathMtu).toBe(1400);
      expect(dp.byName.get('home')!.effectiveMtu(6)).toBe(1380);
    }
  });

  it('relays unreachable and TTL expiry to the inner sender when 48 inner bytes are quoted, else counts', () => {
    for (const [type, code, v6type] of [[3, 1, ICMPV6_DEST_UNREACHABLE], [11, 0, ICMPV6_TIME_EXCEEDED]]) {
      const dp = server();
      const replies = new Slab({ slots: 4, slotSize: 1280 });
      const { buf, len } = quoted(48);
      expect(handleQueuedError(dp, { errno: 113, origin: SO_EE_ORIGIN_ICMP, type, code, info: 0, rfc4884Length: 0 }, buf, len, REMOTE, replies, new ErrorLimits(10), 1)).toBe(ErrorOutcome.Relayed);
      const h = parseIpv6(replies.bytes, 0);
      expect(formatIp(h.dst)).toBe(HOST);
      expect(formatIp(h.src)).toBe('2001:db8:ff::2');
      expect(replies.bytes[40]).toBe(v6type);
      expect(icmpv6ChecksumOk(replies.bytes, 0, replies.lens[0] - 40)).toBe(true);
      const short = quoted(8);
      expect(handleQueuedError(dp, { errno: 113, origin: SO_EE_ORIGIN_ICMP, type, code, info: 0, rfc4884Length: 0 }, short.buf, short.len, REMOTE, replies, new ErrorLimits(10), 1)).toBe(ErrorOutcome.Ignored);
      expect(dp.byName.get('home')!.counters.drops[Drop.IcmpQuoteShort]).toBe(1);
    }
  });

  it('ignores errors quoting packets sixtun never sent', () => {
    const dp = server();
    const replies = new Slab({ slots: 4, slotSize: 1280 });
    const { buf, len } = quoted(48, parseIpv4Address('192.0.2.77'));
    expect(handleQueuedError(dp, { errno: 113, origin: SO_EE_ORIGIN_ICMP, type: 3, code: 1, info: 0, rfc4884Length: 0 }, buf, len, parseIpv4Address('192.0.2.77'), replies, new ErrorLimits(10), 1)).toBe(ErrorOutcome.Ignored);
    expect(replies.count).toBe(0);
    expect(dp.global.drops[Drop.IcmpNotOurs]).toBe(1);
  });
});

/** An ICMPv6 error of `type` at buf[off] from src to dst quoting a UDP packet from dst to quotedDst; its length. */
function kernelError(buf: Uint8Array, off: number, type: number, src: string, dst: string, quotedDst: string): number {
  const quoted = new Uint8Array(80);
  ipv6Packet(quoted, 0, dst, quotedDst, 80);
  return emitIcmpv6Error(buf, off, type, 0, 0, parseIp(src).bytes, quoted, 0, 80);
}

describe('the server address is the server stack’s: sixtun hands it what is for it', () => {
  it('from the client: handed to the server’s own stack (the local TUN’s slab), not the main TUN; counted', () => {
    const dp = server();
    const slab = rxSlab();
    received(slab, 0, REMOTE, '2001:db8:ff::3', '2001:db8:ff::2');
    received(slab, 1, REMOTE, '2001:db8:ff::3', HOST);
    const sc = createRcvScratch(8);
    rcvBatch(dp, slab, 2, sc);
    expect([slab.lens[0], sc.verdict[0], slab.lens[1], sc.verdict[1]]).toEqual([0, TO_SERVER, 80, FORWARDED]);
    const local = sc.toLocal;
    expect([local.count, local.lens[0], formatIp(parseIpv6(local.bytes, local.slotStart(0)).dst)]).toEqual([1, 80, '2001:db8:ff::2']);
    const c = dp.byName.get('home')!.counters;
    expect([c.toServer, c.rxPackets, c.rxBytes]).toEqual([1, 1, 80]);
  });

  it('from the host (through the main TUN) to a server address: looped back to its own stack, never sent to the client', () => {
    const dp = server();
    const slab = txSlab();
    ipv6Packet(slab.bytes, slab.dataStart(0), HOST, '2001:db8:ff::2', 90);
    slab.lens[0] = 90;
    const sc = scratch();
    xmitBatch(dp, slab, 1, sc, 0);
    expect([slab.lens[0], sc.verdict[0], sc.toLocal.count, sc.toLocal.lens[0]]).toEqual([0, TO_SERVER, 1, 90]);
  });

  it('the local TUN’s slab full: dropped as to-server-address, never sent to the client', () => {
    const dp = server();
    const slab = rxSlab();
    for (let i = 0; i < 3; i++) received(slab, i, REMOTE, '2001:db8:ff::3', '2001:db8:ff::2');
    const sc = { ...createRcvScratch(8), toLocal: new Slab({ slots: 2, slotSize: 1480 }) };
    rcvBatch(dp, slab, 3, sc);
    expect(Array.from(sc.verdict.subarray(0, 3))).toEqual([TO_SERVER, TO_SERVER, Drop.ToServerAddress]);
    expect(Array.from(slab.lens.subarray(0, 3))).toEqual([0, 0, 0]);
    expect(dp.byName.get('home')!.counters.drops[Drop.ToServerAddress]).toBe(1);
  });

  it('an error of the host’s own stack takes the tunnel’s server address as source, checksum fixed; a router’s error is left alone', () => {
    const dp = server();
    dp.add(spec({ name: 'other', remoteV4: parseIpv4Address('198.51.100.9'), serverV6: parseIp('2001:db8:ff::4').bytes, clientV6: parseIp('2001:db8:ff::5').bytes, routed: [] }));
    const ext = '2001:db8:ff::1';
    dp.hostAddresses = new Int32Array(wordsOf(parseIp(ext).bytes));
    const slab = txSlab();
    // Time Exceeded for a packet the client sent beyond the server; Port Unreachable for one to
    // the other tunnel's server address; Time Exceeded from a router on the Internet.
    const lens = [
      kernelError(slab.bytes, slab.dataStart(0), ICMPV6_TIME_EXCEEDED, ext, '2001:db8:ff::3', HOST),
      kernelError(slab.bytes, slab.dataStart(1), ICMPV6_DEST_UNREACHABLE, ext, '2001:db8:ff::3', '2001:db8:ff::4'),
      kernelError(slab.bytes, slab.dataStart(2), ICMPV6_TIME_EXCEEDED, HOST, '2001:db8:ff::3', '2001:db8:beef::9'),
    ];
    slab.lens.set(lens);
    const sc = scratch();
    xmitBatch(dp, slab, 3, sc, 0);
    const inner = (i: number): [string, boolean] => [formatIp(parseIpv6(slab.bytes, slab.slotStart(i) + 20).src), icmpv6ChecksumOk(slab.bytes, slab.slotStart(i) + 20, lens[i] - 40)];
    expect(Array.from(sc.verdict.subarray(0, 3))).toEqual([FORWARDED, FORWARDED, FORWARDED]);
    expect([inner(0), inner(1), inner(2)]).toEqual([['2001:db8:ff::2', true], ['2001:db8:ff::4', true], [HOST, true]]);
  });

  it('an ICMPv6 Redirect into a tunnel is dropped and named (kernel SIT, a device per tunnel, never sends one)', () => {
    const dp = server();
    const slab = txSlab();
    const p = slab.dataStart(0);
    emitIpv6({ trafficClass: 0, flowLabel: 0, payloadLength: 40, nextHeader: NEXT_HEADER_ICMPV6, hopLimit: 255, src: parseIp('fe80::cb00:7101').bytes, dst: parseIp('2001:db8:ff::3').bytes }, slab.bytes, p);
    slab.bytes.fill(0, p + 40, p + 80);
    slab.bytes[p + 40] = ICMPV6_REDIRECT;
    finishIcmpv6(slab.bytes, p);
    slab.lens[0] = 80;
    const sc = scratch();
    xmitBatch(dp, slab, 1, sc, 0);
    expect([slab.lens[0], sc.verdict[0]]).toEqual([0, Drop.RedirectIntoTunnel]);
    expect(dp.byName.get('home')!.counters.drops[Drop.RedirectIntoTunnel]).toBe(1);
  });
});

