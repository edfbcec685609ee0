// pcapng writer/reader round trips, and trace filters.
import { describe, expect, it } from 'vitest';
import {
  BT_EPB, BT_IDB, BT_SHB, LINKTYPE_IPV6, PcapngReader, enhancedPacketLength, interfaceDescription, sectionHeader, writeEnhancedPacket,
} from '../../src/wire/pcapng.js';
import { TraceFilter } from '../../src/trace/filter.js';
import { emitIpv6, NEXT_HEADER_TCP } from '../../src/wire/ipv6.js';
import { parseIp } from '../../src/wire/address.js';
import { parseIpv4Address } from '../../src/wire/ipv4.js';
import { Rng } from '../support/rng.js';

function epb(id: number, ns: bigint, data: Uint8Array, comment: string | null): Uint8Array {
  const c = comment === null ? null : new TextEncoder().encode(comment);
  const out = new Uint8Array(enhancedPacketLength(data.length, c ? c.length : 0) + 8);
  const end = writeEnhancedPacket(out, new DataView(out.buffer), 4, id, Number(ns >> 32n), Number(ns & 0xffffffffn), data, 0, data.length, data.length + 7, c);
  expect(end - 4).toBe(enhancedPacketLength(data.length, c ? c.length : 0));
  return out.subarray(4, end);
}

describe('pcapng', () => {
  it('writes blocks whose length fields and types are right', () => {
    const shb = sectionHeader();
    const dv = new DataView(shb.buffer);
    expect([dv.getUint32(0, true), dv.getUint32(4, true), dv.getUint32(8, true), dv.getUint32(shb.length - 4, true)]).toEqual([BT_SHB, 28, 0x1a2b3c4d, 28]);
    const idb = interfaceDescription(LINKTYPE_IPV6, 65535, 'sixtun0');
    const idv = new DataView(idb.buffer);
    expect([idv.getUint32(0, true), idv.getUint16(8, true), idv.getUint32(12, true)]).toEqual([BT_IDB, 229, 65535]);
    expect(idb.length % 4).toBe(0);
    expect(idv.getUint32(idb.length - 4, true)).toBe(idb.length);
  });

  it('round-trips packets of every length 0..70 with and without comments, fed in random chunks (seeded)', () => {
    const rng = new Rng(7);
    const parts: Uint8Array[] = [sectionHeader(), interfaceDescription(LINKTYPE_IPV6, 65535, 'in'), interfaceDescription(1, 100, 'eth')];
    const sent: Array<{ data: Uint8Array; comment: string | null; ns: bigint; id: number }> = [];
    for (let len = 0; len <= 70; len++) {
      const data = rng.bytes(len);
      const comment = len % 3 === 0 ? null : `tunnel t${len}, rx, dropped: spoofed-source`.slice(0, 5 + (len % 40));
      const ns = 1_700_000_000_000_000_000n + BigInt(len) * 12345n;
      const id = len % 2;
      sent.push({ data, comment, ns, id });
      parts.push(epb(id, ns, data, comment));
    }
    const stream = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
    let o = 0;
    for (const p of parts) { stream.set(p, o); o += p.length; }
    const reader = new PcapngReader();
    const got = [];
    for (let p = 0; p < stream.length;) {
      const n = 1 + rng.int(97);
      got.push(...reader.push(stream.subarray(p, p + n)));
      p += n;
    }
    expect(got).toHaveLength(sent.length);
    got.forEach((g, i) => {
      expect(g.data).toEqual(sent[i].data);
      expect(g.comment).toBe(sent[i].comment);
      expect(g.timestampNs).toBe(sent[i].ns);
      expect(g.interfaceId).toBe(sent[i].id);
      expect(g.linkType).toBe(sent[i].id === 0 ? 229 : 1);
      expect(g.originalLength).toBe(sent[i].data.length + 7);
    });
    expect(new DataView(parts[3].buffer, parts[3].byteOffset).getUint32(0, true)).toBe(BT_EPB);
  });

  it('refuses a block with a bad length', () => {
    const bad = new Uint8Array(12);
    new DataView(bad.buffer).setUint32(4, 6, true);
    expect(() => new PcapngReader().push(bad)).toThrow(/bad block length/);
  });
});

describe('trace filters', () => {
  const pkt = new Uint8Array(80);
  emitIpv6({ trafficClass: 0, flowLabel: 0, payloadLength: 40, nextHeader: NEXT_HEADER_TCP, hopLimit: 64, src: parseIp('2001:db8:100::7').bytes, dst: parseIp('2001:db8:beef::1').bytes }, pkt, 0);
  const remote = parseIpv4Address('198.51.100.2');
  const m = (spec: ConstructorParameters<typeof TraceFilter>[0], opts: { tunnel?: string | null; dir?: 'tx' | 'rx'; dropped?: boolean; ndp?: boolean } = {}): boolean =>
    new TraceFilter(spec).matches(opts.tunnel === undefined ? 'home' : opts.tunnel, remote, opts.dir ?? 'rx', opts.dropped ?? false, opts.ndp ?? false, pkt, 0, 80);

  it('matches each condition and refuses on each mismatch', () => {
    expect(m({})).toBe(true);
    expect(m({ tunnel: 'home' })).toBe(true);
    expect(m({ tunnel: 'other' })).toBe(false);
    expect(m({ remote: '198.51.100.2' })).toBe(true);
    expect(m({ remote: '198.51.100.3' })).toBe(false);
    expect(m({ host: '2001:db8:100::/64' })).toBe(true);
    expect(m({ host: '2001:db8:beef::1' })).toBe(true);
    expect(m({ host: '2001:db8:200::/48' })).toBe(false);
    expect(m({ proto: 'tcp' })).toBe(true);
    expect(m({ proto: 'udp' })).toBe(false);
    expect(m({ proto: 'ndp' })).toBe(false);
    expect(m({ proto: 'ndp' }, { ndp: true })).toBe(true);
    expect(m({ dropped: true })).toBe(false);
    expect(m({ dropped: true }, { dropped: true })).toBe(true);
    expect(m({ direction: 'tx' })).toBe(false);
    expect(m({ direction: 'tx' }, { dir: 'tx' })).toBe(true);
    expect(m({ tunnel: 'home', dropped: true, proto: 'tcp' }, { dropped: true })).toBe(true);
  });

  it('refuses bad filters with a clear error', () => {
    expect(() => new TraceFilter({ proto: 'sctp' as never })).toThrow(/icmpv6, tcp, udp or ndp/);
    expect(() => new TraceFilter({ host: '192.0.2.1' })).toThrow(/IPv6/);
    expect(() => new TraceFilter({ direction: 'up' as never })).toThrow(/tx or rx/);
    expect(() => new TraceFilter({ remote: 'x' })).toThrow(/IPv4/);
  });
});
