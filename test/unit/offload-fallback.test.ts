// A kernel that refuses coalesced TUN writes with EINVAL (wireguard-go met
// such kernels; this one accepts them, so no namespace can show it): the
// native write is stubbed to refuse GSO packets once. The segments must then
// go out one by one, unchanged, and GRO stay off.
import { afterEach, describe, expect, it } from 'vitest';
import { native, type Native } from '../../src/sys/native.js';
import { Datapath } from '../../src/datapath/loop.js';
import { DatapathTables } from '../../src/datapath/tables.js';
import { emitIpv4, newIpv4Header, parseIpv4Address } from '../../src/wire/ipv4.js';
import { parseIp, parsePrefix } from '../../src/wire/address.js';
import { VNET_HDR_LEN } from '../../src/wire/virtio-net.js';
import { writeTcp6 } from '../../src/lab/tcp6.js';

const CLIENT_V4 = parseIpv4Address('198.51.100.2');
const SERVER_V4 = parseIpv4Address('203.0.113.1');
const EINVAL = 22;

const saved: Partial<Native> = {};
function stub<K extends 'recvBatch' | 'writeBatch'>(name: K, fn: Native[K]): void {
  saved[name] ??= native[name];
  (native as { [P in K]: Native[P] })[name] = fn;
}
afterEach(() => Object.assign(native, saved));

describe('GRO fallback', () => {
  it('a refused coalesced write is split into its segments, written again, and GRO turned off', () => {
    const tables = new DatapathTables('client', CLIENT_V4);
    tables.add({
      name: 'server', localV4: CLIENT_V4, remoteV4: SERVER_V4, serverV6: parseIp('2001:db8:ff::2').bytes, clientV6: parseIp('2001:db8:ff::3').bytes,
      pairLength: 127, routed: [parsePrefix('::/0')], mtu: 1480, ttl: 255, tosInherit: false, pmtuDiscovery: true,
    });
    const dp = new Datapath(tables, -1, -1, { batch: 8, offload: 'tso+gro' });
    let refusedErrno = 0;
    dp.onGroRefused = (e) => { refusedErrno = e; };
    const segments: Uint8Array[] = [];
    for (let i = 0; i < 4; i++) {
      const pkt = new Uint8Array(2000);
      const len = writeTcp6(pkt, 0, { src: '2001:db8:beef::1', dst: '2001:db8:ff::3', seq: 1000 + i * 1000, payload: new Uint8Array(1000).fill(i + 1) });
      segments.push(pkt.slice(0, len));
    }
    stub('recvBatch', (_fd, slab, slotSize, _off, lens, count) => {
      expect(count).toBeGreaterThanOrEqual(4);
      segments.forEach((s, i) => {
        const h = newIpv4Header();
        Object.assign(h, { totalLength: 20 + s.length, ttl: 64, protocol: 41, src: SERVER_V4, dst: CLIENT_V4 });
        emitIpv4(h, slab, i * slotSize);
        slab.set(s, i * slotSize + 20);
        lens[i] = 20 + s.length;
      });
      return segments.length;
    });
    const writes: Array<{ gso: number; packet: Uint8Array }> = [];
    stub('writeBatch', (_fd, slab, slotSize, off, lens, count) => {
      let n = 0;
      for (let i = 0; i < count; i++) {
        if (lens[i] <= 0) continue;
        const at = i * slotSize + off;
        const gso = slab[at + 1];
        if (gso !== 0 && refusedErrno === 0) {
          lens[i] = -EINVAL;
          continue;
        }
        writes.push({ gso, packet: slab.slice(at + VNET_HDR_LEN, at + lens[i]) });
        lens[i] = 0;
        n++;
      }
      return n;
    });
    dp.onRawReadable();
    expect(refusedErrno).toBe(EINVAL);
    expect(dp.offload).toBe('tso');
    expect(writes.map((w) => w.gso)).toEqual([0, 0, 0, 0]);
    writes.forEach((w, i) => expect(Buffer.from(w.packet).equals(Buffer.from(segments[i]))).toBe(true));
    const c = tables.byName.get('server')!.counters;
    expect(c.rxPackets).toBe(4);
    expect(c.dropTotal()).toBe(0);
    expect(dp.offloadStats.coalescedPackets).toBe(0);
  });
});
