// rcvBatch on a batch of 64 1300-byte datagrams from two remotes.
import { Slab } from '../../src/sys/slab.js';
import { createRcvScratch, rcvBatch } from '../../src/datapath/rcv.js';
import { emitIpv4, newIpv4Header, parseIpv4Address } from '../../src/wire/ipv4.js';
import { emitIpv6 } from '../../src/wire/ipv6.js';
import { parseIp } from '../../src/wire/address.js';
import { benchTables } from './xmit.js';
import { measure, type MicroResult } from './harness.js';

export async function benchRcv(): Promise<MicroResult> {
  const dp = benchTables();
  const slab = new Slab({ slots: 64, slotSize: 2048, headroom: 20 });
  const sc = createRcvScratch(64);
  const templates = [0, 1].map((k) => {
    const b = new Uint8Array(60);
    const h = newIpv4Header();
    Object.assign(h, { totalLength: 1300, ttl: 64, protocol: 41, src: parseIpv4Address(`198.51.100.${2 + k}`), dst: parseIpv4Address('203.0.113.1') });
    emitIpv4(h, b, 0);
    emitIpv6({ trafficClass: 0, flowLabel: 0, payloadLength: 1240, nextHeader: 6, hopLimit: 64, src: parseIp(`2001:db8:ff::${3 + 2 * k}`).bytes, dst: parseIp('2001:db8:beef::1').bytes }, b, 20);
    return b;
  });
  return measure('rcvBatch (64 × 1300 B, 2 remotes)', 64, 50_000, () => {
    for (let i = 0; i < 64; i++) {
      slab.bytes.set(templates[i & 1], slab.slotStart(i));
      slab.lens[i] = 1300;
    }
    rcvBatch(dp, slab, 64, sc);
  });
}
