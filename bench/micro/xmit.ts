// xmitBatch on a batch of 64 1280-byte packets to two tunnels.
import { Slab } from '../../src/sys/slab.js';
import { SOCKADDR_IN_LEN } from '../../src/sys/sockaddr.js';
import { DatapathTables } from '../../src/datapath/tables.js';
import { createXmitScratch, xmitBatch, type XmitScratch } from '../../src/datapath/xmit.js';
import { emitIpv6 } from '../../src/wire/ipv6.js';
import { parseIp, parsePrefix } from '../../src/wire/address.js';
import { parseIpv4Address } from '../../src/wire/ipv4.js';
import { measure, type MicroResult } from './harness.js';

export function benchTables(mode: 'server' | 'client' = 'server'): DatapathTables {
  const local = parseIpv4Address('203.0.113.1');
  const dp = new DatapathTables(mode, local);
  for (let k = 0; k < 2; k++) {
    dp.add({
      name: `t${k}`, localV4: local, remoteV4: parseIpv4Address(`198.51.100.${2 + k}`), serverV6: parseIp(`2001:db8:ff::${2 + 2 * k}`).bytes,
      clientV6: parseIp(`2001:db8:ff::${3 + 2 * k}`).bytes, pairLength: 127, routed: [parsePrefix(`2001:db8:${100 + k}::/64`)],
      mtu: 1480, ttl: 255, tosInherit: false, pmtuDiscovery: true,
    });
  }
  return dp;
}

export async function benchXmit(): Promise<MicroResult> {
  const dp = benchTables();
  const slab = new Slab({ slots: 64, slotSize: 2048, headroom: 20, nameStride: SOCKADDR_IN_LEN });
  const sc: XmitScratch = createXmitScratch(64, 100);
  const templates = [0, 1].map((k) => {
    const b = new Uint8Array(40);
    emitIpv6({ trafficClass: 0, flowLabel: 0, payloadLength: 1240, nextHeader: 6, hopLimit: 64, src: parseIp('2001:db8:beef::1').bytes, dst: parseIp(`2001:db8:${100 + k}::7`).bytes }, b, 0);
    return b;
  });
  const fill = (): void => {
    for (let i = 0; i < 64; i++) {
      slab.bytes.set(templates[i & 1], slab.dataStart(i));
      slab.lens[i] = 1280;
    }
  };
  return measure('xmitBatch (64 × 1280 B, 2 tunnels)', 64, 50_000, () => {
    fill();
    xmitBatch(dp, slab, 64, sc, 1);
  });
}
