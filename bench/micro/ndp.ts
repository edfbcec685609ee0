// The NDP responder: parse and validate an NS, build the NA.
import { NdpResponder } from '../../src/ndp/responder.js';
import { wordsOf } from '../../src/route/prefix-table.js';
import { emitIpv6 } from '../../src/wire/ipv6.js';
import { finishIcmpv6 } from '../../src/wire/icmpv6.js';
import { parseIp } from '../../src/wire/address.js';
import { measure, type MicroResult } from './harness.js';

export async function benchNdp(): Promise<MicroResult> {
  const r = new NdpResponder({ routerFlag: true, ratePerSolicitor: 1e12 });
  r.setInterface(Uint8Array.of(2, 0, 0, 0, 0, 1), parseIp('fe80::1').bytes);
  const target = parseIp('2001:db8:ff::3').bytes;
  r.targets.set(wordsOf(target), 128, 0);
  const f = new Uint8Array(14 + 40 + 32);
  f.set([0x33, 0x33, 0xff, 0, 0, 3, 2, 0, 0, 0, 0, 0xfe, 0x86, 0xdd]);
  emitIpv6({ trafficClass: 0, flowLabel: 0, payloadLength: 32, nextHeader: 58, hopLimit: 255, src: parseIp('2001:db8:ff::fffe').bytes, dst: parseIp('ff02::1:ff00:3').bytes }, f, 14);
  f[54] = 135;
  f.set(target, 62);
  f.set([1, 1, 2, 0, 0, 0, 0, 0xfe], 78);
  finishIcmpv6(f, 14);
  const out = new Uint8Array(256);
  return measure('NS parse + NA build', 1, 500_000, () => { r.handle(f, f.length, out, 1); });
}
