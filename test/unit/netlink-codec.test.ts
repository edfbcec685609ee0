// Byte-exact encoders against requests iproute2 sent to the real kernel
// (test/fixtures/netlink/requests.json, captured with strace by capture.sh).
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { encodeLinkSetMtu, encodeLinkSetTxQueueLen, encodeLinkSetUp, decodeLink } from '../../src/netlink/link.js';
import { encodeAddrAdd, encodeAddrDel, decodeAddress } from '../../src/netlink/addr.js';
import { decodeRoute, encodeRouteAdd, encodeRouteDel, encodeRouteGet, encodeRouteReplace } from '../../src/netlink/route.js';
import { encodeNeighAddProxy, encodeNeighDelProxy, decodeNeighbour } from '../../src/netlink/neigh.js';
import { decodeRule, encodeRuleAdd, encodeRuleDel } from '../../src/netlink/rule.js';
import { decodeErrorPayload, prepareRequest } from '../../src/netlink/client.js';
import { AttrIterator, MessageBuilder, splitMessages, NetlinkDecodeError } from '../../src/netlink/message.js';
import {
  NDMSG_FLAGS, NLMSG_DONE, NLMSG_ERROR, NLMSG_HDRLEN, NLM_F_ACK_TLVS, NLM_F_CAPPED, NTF_PROXY, RTM_NEWADDR,
  RTM_NEWLINK, RTM_NEWNEIGH, RTM_NEWROUTE, RTM_NEWRULE, RTPROT_SIXTUN,
} from '../../src/netlink/constants.js';
import { parsePrefix } from '../../src/wire/address.js';
import { Rng } from '../support/rng.js';

interface Fixture { name: string; command: string; hex: string }
const fixtures = new Map<string, Fixture>(
  (JSON.parse(readFileSync(new URL('../fixtures/netlink/requests.json', import.meta.url), 'utf8')) as Fixture[])
    .map((f) => [f.name, f]),
);
const IFINDEX = 3; // d0's index in the capture namespace

function fromHex(hex: string): Uint8Array {
  return Uint8Array.from(hex.match(/../g)!.map((h) => parseInt(h, 16)));
}

/** Our request as the client would send it, with iproute2's seq; pid is 0 in both. */
function asSent(msg: Uint8Array, fixture: Uint8Array, dump = false): Uint8Array {
  const seq = new DataView(fixture.buffer).getUint32(8, true);
  prepareRequest(msg, seq, dump);
  return msg;
}

const cases: Array<[string, () => Uint8Array]> = [
  ['link-up', () => encodeLinkSetUp(IFINDEX, true)],
  ['link-down', () => encodeLinkSetUp(IFINDEX, false)],
  ['link-mtu', () => encodeLinkSetMtu(IFINDEX, 1480)],
  ['link-txqueuelen', () => encodeLinkSetTxQueueLen(IFINDEX, 5000)],
  ['addr-add-v6-nodad', () => encodeAddrAdd({ index: IFINDEX, prefix: parsePrefix('2001:db8:ff::2/127'), nodad: true })],
  ['addr-add-v4', () => encodeAddrAdd({ index: IFINDEX, prefix: parsePrefix('192.0.2.1/24', false) })],
  ['addr-del-v6', () => encodeAddrDel({ index: IFINDEX, prefix: parsePrefix('2001:db8:ff::2/127') })],
  ['route-add-v6-dev', () => encodeRouteAdd({ dst: parsePrefix('2001:db8:100::/64'), oif: IFINDEX, protocol: RTPROT_SIXTUN, metric: 1024 })],
  ['route-replace-v6-via', () => encodeRouteReplace({ dst: parsePrefix('::/0'), gateway: '2001:db8:ff::fffe', oif: IFINDEX, protocol: RTPROT_SIXTUN })],
  ['route-del-v6', () => encodeRouteDel({ dst: parsePrefix('2001:db8:100::/64'), oif: IFINDEX, protocol: RTPROT_SIXTUN, metric: 1024 })],
  ['route-get-v4', () => encodeRouteGet('192.0.2.7')],
  ['neigh-add-proxy', () => encodeNeighAddProxy(IFINDEX, '2001:db8:ff::3')],
  ['neigh-del-proxy', () => encodeNeighDelProxy(IFINDEX, '2001:db8:ff::3')],
];

describe('rtnetlink encoders are byte-exact with iproute2', () => {
  for (const [name, encode] of cases) {
    it(`${name}: ${fixtures.get(name)?.command}`, () => {
      const f = fixtures.get(name);
      expect(f, `fixture ${name}`).toBeDefined();
      const want = fromHex(f!.hex);
      // One deliberate difference: sixtun asks for an ACK on every request, gets
      // included, so a single reply is always followed by a terminator
      // (iproute2 sets NLM_F_ACK on changes but not on `ip route get`).
      want[6] |= 0x04;
      expect(Buffer.from(asSent(encode(), want)).toString('hex')).toBe(Buffer.from(want).toString('hex'));
    });
  }

  it('pins NTF_PROXY in byte 10 of struct ndmsg', () => {
    const msg = encodeNeighAddProxy(IFINDEX, '2001:db8:ff::3');
    expect(NDMSG_FLAGS).toBe(10);
    expect(msg[NLMSG_HDRLEN + 10]).toBe(NTF_PROXY);
    // ndm_state (bytes 8-9) is NUD_PERMANENT, not the proxy flag.
    expect(msg[NLMSG_HDRLEN + 8]).toBe(0x80);
    expect(msg[NLMSG_HDRLEN + 9]).toBe(0);
  });
});

describe('rtnetlink decoders read what the encoders wrote', () => {
  it('round-trips an address message', () => {
    const m = splitMessages(encodeAddrAdd({ index: 7, prefix: parsePrefix('2001:db8:ff::2/127'), nodad: true }), 0, 64)[0];
    expect(decodeAddress({ ...m, type: RTM_NEWADDR })).toEqual({
      family: 6, index: 7, prefixLength: 127, flags: 2, scope: 0, address: '2001:db8:ff::2', peer: '2001:db8:ff::2',
    });
  });

  it('round-trips a route message', () => {
    const msg = encodeRouteAdd({ dst: parsePrefix('2001:db8:100::/64'), oif: 4, gateway: '2001:db8:ff::1', metric: 10, protocol: RTPROT_SIXTUN, table: 1000 });
    const m = splitMessages(msg, 0, msg.length)[0];
    expect(decodeRoute({ ...m, type: RTM_NEWROUTE })).toMatchObject({
      family: 6, dst: '2001:db8:100::', dstLength: 64, oif: 4, gateway: '2001:db8:ff::1', metric: 10, protocol: RTPROT_SIXTUN, table: 1000,
    });
  });

  it('round-trips a rule message (iif, priority, a table above 255, protocol)', () => {
    for (const encode of [encodeRuleAdd, encodeRuleDel]) {
      const msg = encode({ family: 6, iif: 'sixtun0-l', table: 0x73740000, priority: 1000, protocol: RTPROT_SIXTUN });
      const m = splitMessages(msg, 0, msg.length)[0];
      expect(decodeRule({ ...m, type: RTM_NEWRULE })).toEqual({ family: 6, iif: 'sixtun0-l', table: 0x73740000, priority: 1000, protocol: RTPROT_SIXTUN, action: 1 });
    }
  });

  it('round-trips a neighbour message', () => {
    const msg = encodeNeighAddProxy(9, '2001:db8:ff::3');
    const m = splitMessages(msg, 0, msg.length)[0];
    expect(decodeNeighbour({ ...m, type: RTM_NEWNEIGH })).toEqual({ family: 6, index: 9, state: 0x80, flags: NTF_PROXY, dst: '2001:db8:ff::3', lladdr: null });
  });

  it('decodes a link message with name, MTU and MAC', () => {
    const msg = new MessageBuilder(RTM_NEWLINK, 0, 16).i32(4, 5).u32(8, 0x1043)
      .attrString(3, 'eth0').attrU32(4, 1500).attrBytes(1, Uint8Array.of(2, 0, 0, 0, 0, 1)).attrU32(13, 1000).finish();
    const link = decodeLink(splitMessages(msg, 0, msg.length)[0]);
    expect(link).toMatchObject({ index: 5, name: 'eth0', mtu: 1500, flags: 0x1043, txQueueLen: 1000 });
    expect(Array.from(link.mac!)).toEqual([2, 0, 0, 0, 0, 1]);
  });

  it('encodes nested attributes with the NESTED flag and the right length', () => {
    const msg = new MessageBuilder(RTM_NEWROUTE, 0, 12).beginNested(8).attrU32(2, 1400).endNested().finish();
    const it = new AttrIterator(msg, NLMSG_HDRLEN + 12, msg.length);
    expect(it.next()).toBe(true);
    expect(it.type).toBe(8);
    expect(it.nested).toBe(true);
    expect(it.dataLen).toBe(8);
    const inner = new AttrIterator(msg, it.dataOff, it.dataOff + it.dataLen);
    expect(inner.next()).toBe(true);
    expect([inner.type, inner.u32()]).toEqual([2, 1400]);
    expect(inner.next()).toBe(false);
  });
});

/** An NLMSG_ERROR as the kernel builds it with CAP_ACK and EXT_ACK. */
function errorReply(errno: number, text: string | null, capped: boolean, request: Uint8Array): Uint8Array {
  const b = new MessageBuilder(NLMSG_ERROR, (capped ? NLM_F_CAPPED : 0) | (text ? NLM_F_ACK_TLVS : 0), 0);
  const echoed = capped ? request.subarray(0, NLMSG_HDRLEN) : request;
  const payload = new Uint8Array(4 + echoed.length);
  new DataView(payload.buffer).setInt32(0, -errno, true);
  payload.set(echoed, 4);
  // The payload is not an attribute: splice it in by hand after the header.
  const head = b.finish();
  const withPayload = new Uint8Array(head.length + payload.length);
  withPayload.set(head);
  withPayload.set(payload, head.length);
  let out = withPayload;
  if (text) {
    const tlv = new MessageBuilder(0, 0, 0).attrString(1, text).finish().subarray(NLMSG_HDRLEN);
    out = new Uint8Array(withPayload.length + tlv.length);
    out.set(withPayload);
    out.set(tlv, withPayload.length);
  }
  new DataView(out.buffer).setUint32(0, out.length, true);
  return out;
}

describe('NLMSG_ERROR and NLMSG_DONE payloads', () => {
  const req = encodeLinkSetMtu(3, 1480);
  for (const capped of [true, false]) {
    it(`reads errno and the extack message (${capped ? 'capped' : 'full echo'})`, () => {
      const msg = errorReply(19, 'Device not found', capped, req);
      const m = splitMessages(msg, 0, msg.length)[0];
      expect(decodeErrorPayload(m)).toEqual({ errno: 19, message: 'Device not found', offset: null });
    });
  }

  it('an ACK is errno 0', () => {
    const msg = errorReply(0, null, true, req);
    expect(decodeErrorPayload(splitMessages(msg, 0, msg.length)[0]).errno).toBe(0);
  });

  it('a DONE carries the dump error', () => {
    const msg = new MessageBuilder(NLMSG_DONE, 0, 4).i32(0, -22).finish();
    expect(decodeErrorPayload(splitMessages(msg, 0, msg.length)[0]).errno).toBe(22);
  });
});

describe('hostile netlink input gives a decode error, never a crash or a hang', () => {
  it('rejects truncated headers and lengths that do not fit', () => {
    const ok = encodeLinkSetMtu(1, 1500);
    expect(() => splitMessages(ok, 0, 10)).toThrow(NetlinkDecodeError);
    const short = ok.slice();
    new DataView(short.buffer).setUint32(0, 8, true);
    expect(() => splitMessages(short, 0, short.length)).toThrow(NetlinkDecodeError);
    const long = ok.slice();
    new DataView(long.buffer).setUint32(0, 4096, true);
    expect(() => splitMessages(long, 0, long.length)).toThrow(NetlinkDecodeError);
  });

  it('random and mutated datagrams either split cleanly or throw NetlinkDecodeError (seeded)', () => {
    const rng = new Rng(3549);
    const seeds = cases.map(([, encode]) => encode());
    for (let n = 0; n < 20_000; n++) {
      let buf: Uint8Array;
      if (n % 2 === 0) buf = rng.bytes(rng.int(128));
      else {
        buf = rng.pick(seeds).slice();
        for (let k = rng.int(4); k >= 0; k--) buf[rng.int(buf.length)] = rng.int(256);
        buf = buf.subarray(0, rng.int(buf.length + 1));
      }
      let messages;
      try {
        messages = splitMessages(buf, 0, buf.length);
      } catch (e) {
        expect(e).toBeInstanceOf(NetlinkDecodeError);
        continue;
      }
      for (const m of messages) {
        // Every decoder tolerates whatever the attributes hold.
        decodeLink(m);
        decodeAddress(m);
        decodeRoute(m);
        decodeNeighbour(m);
        decodeErrorPayload(m);
        const it = new AttrIterator(m.buf, m.off + NLMSG_HDRLEN, m.off + m.len);
        let steps = 0;
        while (it.next()) steps++;
        expect(steps).toBeLessThanOrEqual(m.len / 4);
      }
    }
  });
});
