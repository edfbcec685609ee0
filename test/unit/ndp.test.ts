// NDP codecs, the BPF program, and the responder's decisions, without sockets.
import { describe, expect, it } from 'vitest';
import { NS_FILTER, runFilter } from '../../src/ndp/filter.js';
import { NdpResponder } from '../../src/ndp/responder.js';
import { encodeBpf } from '../../src/sys/packet.js';
import { checkNs, emitNa, newNsInfo, NsCheck, NS_CHECK_NAMES, isSolicitedNode } from '../../src/wire/ndp.js';
import { emitIpv6, parseIpv6, NEXT_HEADER_ICMPV6, NEXT_HEADER_UDP } from '../../src/wire/ipv6.js';
import { finishIcmpv6, icmpv6ChecksumOk } from '../../src/wire/icmpv6.js';
import { formatIp, parseIp } from '../../src/wire/address.js';
import { formatMac } from '../../src/wire/ethernet.js';
import { wordsOf } from '../../src/route/prefix-table.js';
import { Rng } from '../support/rng.js';

const ROUTER_MAC = [0x02, 0, 0, 0, 0, 0xfe];
const SERVER_MAC = Uint8Array.of(0x02, 0, 0, 0, 0, 0x01);
const SERVER_LL = parseIp('fe80::1').bytes;

interface NsSpec { src?: string; dst?: string; target?: string; hop?: number; code?: number; slla?: boolean; next?: number; extraOption?: number[] }

/** An Ethernet frame carrying an NS. */
function nsFrame(spec: NsSpec = {}): Uint8Array {
  const target = parseIp(spec.target ?? '2001:db8:ff::3').bytes;
  const src = parseIp(spec.src ?? '2001:db8:ff::fffe').bytes;
  const dst = spec.dst ? parseIp(spec.dst).bytes : Uint8Array.of(0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, target[13], target[14], target[15]);
  const slla = spec.slla ?? !src.every((b) => b === 0);
  const opts = [...(slla ? [1, 1, ...ROUTER_MAC] : []), ...(spec.extraOption ?? [])];
  const icmpLen = 24 + opts.length;
  const f = new Uint8Array(14 + 40 + icmpLen);
  f.set([0x33, 0x33, ...dst.subarray(12)], 0);
  f.set(ROUTER_MAC, 6);
  f[12] = 0x86;
  f[13] = 0xdd;
  emitIpv6({ trafficClass: 0, flowLabel: 0, payloadLength: icmpLen, nextHeader: spec.next ?? NEXT_HEADER_ICMPV6, hopLimit: spec.hop ?? 255, src, dst }, f, 14);
  f[54] = 135;
  f[55] = spec.code ?? 0;
  f.set(target, 62);
  f.set(opts, 78);
  finishIcmpv6(f, 14);
  return f;
}

function responder(rate = 1000): NdpResponder {
  const r = new NdpResponder({ routerFlag: true, ratePerSolicitor: rate });
  r.setInterface(SERVER_MAC, SERVER_LL);
  r.targets.set(wordsOf(parseIp('2001:db8:ff::3').bytes), 128, 0);
  return r;
}

describe('BPF filter program', () => {
  it('accepts exactly IPv6 → ICMPv6 → type 135', () => {
    expect(runFilter(NS_FILTER, nsFrame())).toBeGreaterThan(0);
    const na = nsFrame();
    na[54] = 136;
    expect(runFilter(NS_FILTER, na)).toBe(0);
    expect(runFilter(NS_FILTER, nsFrame({ next: NEXT_HEADER_UDP }))).toBe(0);
    const v4 = nsFrame();
    v4[12] = 0x08;
    v4[13] = 0x00;
    expect(runFilter(NS_FILTER, v4)).toBe(0);
    expect(runFilter(NS_FILTER, nsFrame().subarray(0, 40))).toBe(0);
  });

  it('encodes to 8-byte struct sock_filter entries, little-endian', () => {
    const bytes = encodeBpf(NS_FILTER);
    expect(bytes.length).toBe(NS_FILTER.length * 8);
    // ldh [12]: opcode 0x28, jt 0, jf 0, k 12
    expect(Array.from(bytes.subarray(0, 8))).toEqual([0x28, 0, 0, 0, 12, 0, 0, 0]);
  });
});

describe('Neighbor Solicitation validation (RFC 4861 §7.1.1)', () => {
  const cases: Array<[string, NsSpec | ((f: Uint8Array) => Uint8Array), NsCheck]> = [
    ['a normal multicast NS', {}, NsCheck.Ok],
    ['a DAD NS to the solicited-node group', { src: '::' }, NsCheck.Ok],
    ['hop limit 64', { hop: 64 }, NsCheck.BadHopLimit],
    ['code 1', { code: 1 }, NsCheck.BadCode],
    ['a multicast target', { target: 'ff02::1', dst: 'ff02::1:ff00:1' }, NsCheck.MulticastTarget],
    ['DAD to all-nodes', { src: '::', dst: 'ff02::1' }, NsCheck.DadNotSolicitedNode],
    ['DAD with SLLA', { src: '::', slla: true }, NsCheck.DadWithSourceLinkLayer],
    ['an option of length 0', { extraOption: [14, 0, 0, 0, 0, 0, 0, 0] }, NsCheck.BadOption],
    ['a bad checksum', (f) => { f[56] ^= 1; return f; }, NsCheck.BadChecksum],
    ['an ICMPv6 body under 24 bytes', (f) => {
      const g = f.slice(0, 14 + 40 + 20);
      g[18] = 0;
      g[19] = 20;
      finishIcmpv6(g, 14);
      return g;
    }, NsCheck.TooShort],
    ['a payload length beyond the frame', (f) => f.subarray(0, f.length - 4), NsCheck.Truncated],
    ['a multicast source', { src: 'ff02::1', slla: true }, NsCheck.MulticastSource],
    ['an SLLA option of 16 bytes on Ethernet', { slla: false, extraOption: [1, 2, ...ROUTER_MAC, 0, 0, 0, 0, 0, 0, 0, 0] }, NsCheck.BadSourceLinkLayer],
  ];
  for (const [what, spec, want] of cases) {
    it(`${what} → ${NS_CHECK_NAMES[want]}`, () => {
      const f = typeof spec === 'function' ? spec(nsFrame()) : nsFrame(spec);
      expect(checkNs(f, 14, f.length - 14, newNsInfo())).toBe(want);
    });
  }

  it('recognises solicited-node groups', () => {
    expect(isSolicitedNode(parseIp('ff02::1:ff00:3').bytes, 0)).toBe(true);
    expect(isSolicitedNode(parseIp('ff02::1').bytes, 0)).toBe(false);
    expect(isSolicitedNode(parseIp('ff02::1:fe00:3').bytes, 0)).toBe(false);
  });
});

describe('Neighbor Advertisement', () => {
  it('round-trips: emitNa writes what parseIpv6 and the checksum agree on', () => {
    const out = new Uint8Array(128);
    const target = parseIp('2001:db8:ff::3').bytes;
    const n = emitNa(out, 8, SERVER_LL, parseIp('2001:db8:ff::fffe').bytes, target, 0, 0xc0, SERVER_MAC);
    expect(n).toBe(72);
    const h = parseIpv6(out, 8);
    expect([formatIp(h.src), formatIp(h.dst), h.hopLimit, h.payloadLength]).toEqual(['fe80::1', '2001:db8:ff::fffe', 255, 32]);
    expect([out[48], out[52], formatIp(out.slice(56, 72)), out[72], out[73], formatMac(out, 74)]).toEqual([136, 0xc0, '2001:db8:ff::3', 2, 1, '02:00:00:00:00:01']);
    expect(icmpv6ChecksumOk(out, 8, 32)).toBe(true);
  });
});

describe('responder decisions', () => {
  function answer(r: NdpResponder, f: Uint8Array): Uint8Array | null {
    const out = new Uint8Array(256);
    const n = r.handle(f, f.length, out, 1000);
    return n > 0 ? out.subarray(0, n) : null;
  }

  it('a multicast NS: unicast to the SLLA, S=1 R=1 O=0, TLLA, from the link-local address', () => {
    const na = answer(responder(), nsFrame())!;
    expect(formatMac(na, 0)).toBe('02:00:00:00:00:fe');
    expect(formatMac(na, 6)).toBe('02:00:00:00:00:01');
    expect(formatIp(na.slice(22, 38))).toBe('fe80::1');
    expect(formatIp(na.slice(38, 54))).toBe('2001:db8:ff::fffe');
    expect(na[58]).toBe(0xc0);
    expect(na.length).toBe(14 + 40 + 32);
  });

  it('a unicast NS (NUD): S=1 and no TLLA, as the kernel answers', () => {
    const na = answer(responder(), nsFrame({ dst: '2001:db8:ff::3' }))!;
    expect(na[58]).toBe(0xc0);
    expect(na.length).toBe(14 + 40 + 24);
  });

  it('a DAD NS: to ff02::1 and 33:33:00:00:00:01, S=0, TLLA', () => {
    const na = answer(responder(), nsFrame({ src: '::' }))!;
    expect(formatMac(na, 0)).toBe('33:33:00:00:00:01');
    expect(formatIp(na.slice(38, 54))).toBe('ff02::1');
    expect(na[58]).toBe(0x80);
    expect(na.length).toBe(14 + 40 + 32);
  });

  it('with two SLLA options the first counts, as the kernel', () => {
    const r = responder();
    const out = answer(r, nsFrame({ extraOption: [1, 1, 0x02, 0x11, 0x22, 0x33, 0x44, 0x55] }));
    expect(Array.from(out!.subarray(0, 6))).toEqual(ROUTER_MAC);
  });

  it('per solicitor on the whole source address: two that a 32-bit fold would merge keep their own budgets; 1000 answers a second in all', () => {
    const r = responder(2);
    // XOR of their four words is equal: a fold keyed them together.
    const a = '2001:db8:0:1::1';
    const b = '2001:db8:0:1:0:1::';
    for (let i = 0; i < 2; i++) expect(answer(r, nsFrame({ src: a }))).not.toBeNull();
    expect(answer(r, nsFrame({ src: a }))).toBeNull();
    expect(answer(r, nsFrame({ src: b }))).not.toBeNull();
    const all = new NdpResponder({ routerFlag: false, ratePerSolicitor: 5, ratePerSecond: 1000 });
    all.setInterface(SERVER_MAC, SERVER_LL);
    all.targets.set(wordsOf(parseIp('2001:db8:ff::3').bytes), 128, 0);
    let answered = 0;
    for (let i = 0; i < 1500; i++) {
      const f = nsFrame({ src: `2001:db8:5::${i.toString(16)}` });
      if (all.handle(f, f.length, new Uint8Array(256), 7) > 0) answered++;
    }
    expect(answered).toBe(1000);
    expect(all.counters.rateLimited).toBe(500);
  });

  it('not ours: counted, no answer; rate limited per solicitor', () => {
    const r = responder(5);
    expect(answer(r, nsFrame({ target: '2001:db8:ff::9' }))).toBeNull();
    expect(r.counters.notOurs).toBe(1);
    let answered = 0;
    for (let i = 0; i < 50; i++) if (answer(r, nsFrame())) answered++;
    expect(answered).toBe(5);
    expect(r.counters.rateLimited).toBe(45);
    // Another solicitor has its own bucket.
    expect(answer(r, nsFrame({ src: '2001:db8:ff::fffd' }))).not.toBeNull();
  });

  it('never throws on random or mutated frames, and every frame is counted once (seeded)', () => {
    const rng = new Rng(4861);
    const r = responder();
    const seeds = [nsFrame(), nsFrame({ src: '::' }), nsFrame({ dst: '2001:db8:ff::3' })];
    const out = new Uint8Array(256);
    let frames = 0;
    for (let n = 0; n < 20_000; n++) {
      let f: Uint8Array;
      if (n % 3 === 0) f = rng.bytes(rng.int(120));
      else {
        f = rng.pick(seeds).slice();
        for (let k = rng.int(3); k >= 0; k--) f[14 + rng.int(f.length - 14)] = rng.int(256);
        f = f.subarray(0, rng.int(f.length + 1));
      }
      r.handle(f, f.length, out, n);
      frames++;
    }
    const c = r.counters;
    const invalid = c.invalid.reduce((a, b) => a + b, 0);
    // Every frame ends in exactly one place: answered, not ours, rate limited or invalid by reason.
    expect(c.answered + c.notOurs + c.rateLimited + invalid).toBe(frames);
  });
});
