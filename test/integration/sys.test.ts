// The addon against the real kernel: TUN and raw protocol-41 sockets in two
// namespaces joined by a veth, batches, readiness in both thread kinds, errno.
import { expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { describeRoot, useLab } from '../support/root.js';
import { native, isSysError } from '../../src/sys/native.js';
import { openTun } from '../../src/sys/tun.js';
import { openRaw4 } from '../../src/sys/raw4.js';
import { withNetns } from '../../src/sys/netns.js';
import { Slab } from '../../src/sys/slab.js';
import { Watcher } from '../../src/sys/watch.js';
import { SOCKADDR_IN_LEN, writeSockaddrIn } from '../../src/sys/sockaddr.js';
import { READABLE, SOL_SOCKET, SO_BINDTODEVICE, WATCH_ERROR } from '../../src/sys/constants.js';
import {
  IPPROTO_IPV6_IN_IPV4, IPV4_HEADER_LEN, checkIpv4, emitIpv4, newIpv4Header, parseIpv4Address, Ipv4Check,
} from '../../src/wire/ipv4.js';

const A_V4 = parseIpv4Address('192.0.2.1');
const B_V4 = parseIpv4Address('192.0.2.2');

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Reads from a non-blocking fd until at least `want` packets arrived or the deadline passes. */
async function readUntil(read: () => number, want: number, timeoutMs = 3000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let got = 0;
  while (got < want && Date.now() < deadline) {
    got += read();
    if (got < want) await sleep(10);
  }
  return got;
}

/** Puts a 20-byte protocol-41 IPv4 header into each slot's headroom. */
function encapsulate(slab: Slab, count: number, src: number, dst: number): void {
  const h = newIpv4Header();
  h.ttl = 64;
  h.protocol = IPPROTO_IPV6_IN_IPV4;
  h.src = src;
  h.dst = dst;
  for (let i = 0; i < count; i++) {
    h.totalLength = slab.lens[i] + IPV4_HEADER_LEN;
    h.id = i;
    emitIpv4(h, slab.bytes, slab.slotStart(i));
    slab.lens[i] = h.totalLength;
    writeSockaddrIn(slab.names!, i * slab.nameStride, dst);
  }
}

describeRoot('native addon against the kernel (namespaces)', () => {
  const lab = useLab('sys');
  const a = lab.ns('a');
  const b = lab.ns('b');
  lab.veth(a, 'va', b, 'vb');
  lab.addr(a, 'va', '192.0.2.1/24');
  lab.addr(b, 'vb', '192.0.2.2/24');

  it('carries a TUN packet encapsulated over raw protocol 41, byte-exact, into the peer TUN', async () => {
    const tunA = withNetns(a, () => openTun({ name: 'tuna' }));
    const tunB = withNetns(b, () => openTun({ name: 'tunb' }));
    const rawA = withNetns(a, () => openRaw4({ protocol: IPPROTO_IPV6_IN_IPV4 }));
    const rawB = withNetns(b, () => openRaw4({ protocol: IPPROTO_IPV6_IN_IPV4 }));
    try {
      expect(tunA.name).toBe('tuna');
      lab.ip(a, ['link', 'set', 'tuna', 'up']);
      lab.ip(b, ['link', 'set', 'tunb', 'up']);
      lab.addr(a, 'tuna', '2001:db8:1::1/64', ['nodad']);
      lab.addr(b, 'tunb', '2001:db8:1::2/64', ['nodad']);

      // The kernel in A sends echo requests to the TUN; we read them with headroom.
      const ping = lab.spawn(a, ['ping', '-6', '-c', '3', '-i', '0.2', '-W', '1', '2001:db8:1::2']);
      const out = new Slab({ slots: 8, slotSize: 2048, headroom: IPV4_HEADER_LEN, nameStride: SOCKADDR_IN_LEN });
      let n = 0;
      await readUntil(() => {
        const got = native.readBatch(tunA.fd, out.bytes, out.slotSize, out.headroom, out.lens, out.slots);
        // Keep only echo requests (next header 58, type 128): the kernel may also emit MLD/RS.
        for (let i = 0; i < got && n === 0; i++) {
          const p = out.dataStart(i);
          if (out.bytes[p + 6] === 58 && out.bytes[p + 40] === 128) {
            out.bytes.copyWithin(out.dataStart(0), p, p + out.lens[i]);
            out.lens[0] = out.lens[i];
            n = 1;
          }
        }
        return n;
      }, 1);
      expect(n).toBe(1);
      const inner = out.bytes.slice(out.dataStart(0), out.dataStart(0) + out.lens[0]);
      expect(inner[0] >> 4).toBe(6);

      encapsulate(out, 1, A_V4, B_V4);
      expect(native.sendBatch(rawA, out.bytes, out.slotSize, 0, out.lens, 1, out.names, out.nameStride, SOCKADDR_IN_LEN)).toBe(1);

      const inb = new Slab({ slots: 8, slotSize: 2048 });
      let m = 0;
      await readUntil(() => (m = native.recvBatch(rawB, inb.bytes, inb.slotSize, 0, inb.lens, inb.slots)), 1);
      expect(m).toBe(1);
      expect(checkIpv4(inb.bytes, 0, inb.lens[0])).toBe(Ipv4Check.Ok);
      expect(inb.bytes.slice(IPV4_HEADER_LEN, inb.lens[0])).toEqual(inner);

      // Decapsulate into B's TUN: B's kernel answers with an echo reply to A through tunb.
      inb.bytes.copyWithin(0, IPV4_HEADER_LEN, inb.lens[0]);
      inb.lens[0] -= IPV4_HEADER_LEN;
      expect(native.writeBatch(tunB.fd, inb.bytes, inb.slotSize, 0, inb.lens, 1)).toBe(1);
      const reply = new Slab({ slots: 8, slotSize: 2048 });
      let sawReply = false;
      await readUntil(() => {
        const got = native.readBatch(tunB.fd, reply.bytes, reply.slotSize, 0, reply.lens, reply.slots);
        for (let i = 0; i < got; i++) {
          const p = reply.dataStart(i);
          if (reply.bytes[p + 6] === 58 && reply.bytes[p + 40] === 129) sawReply = true;
        }
        return sawReply ? 1 : 0;
      }, 1);
      expect(sawReply).toBe(true);
      await lab.stop(ping);
    } finally {
      for (const fd of [tunA.fd, tunB.fd, rawA, rawB]) native.close(fd);
    }
  });

  it('recvBatch returns a batch of at least 32 packets in one call under load', () => {
    const rawA = withNetns(a, () => openRaw4({ protocol: IPPROTO_IPV6_IN_IPV4 }));
    const rawB = withNetns(b, () => openRaw4({ protocol: IPPROTO_IPV6_IN_IPV4, bufferBytes: 4 << 20 }));
    try {
      const out = new Slab({ slots: 64, slotSize: 256, headroom: IPV4_HEADER_LEN, nameStride: SOCKADDR_IN_LEN });
      for (let i = 0; i < 64; i++) {
        out.bytes.fill(i, out.dataStart(i), out.dataStart(i) + 40);
        out.bytes[out.dataStart(i)] = 0x60;
        out.lens[i] = 40;
      }
      encapsulate(out, 64, A_V4, B_V4);
      expect(native.sendBatch(rawA, out.bytes, out.slotSize, 0, out.lens, 64, out.names, out.nameStride, SOCKADDR_IN_LEN)).toBe(64);
      const inb = new Slab({ slots: 64, slotSize: 256, nameStride: SOCKADDR_IN_LEN });
      // veth delivery is synchronous within sendmmsg, so the queue is full now.
      const got = native.recvBatch(rawB, inb.bytes, inb.slotSize, 0, inb.lens, 64, inb.names, inb.nameStride);
      expect(got).toBeGreaterThanOrEqual(32);
      for (let i = 0; i < got; i++) {
        expect(inb.lens[i]).toBe(60);
        expect(inb.bytes[inb.slotStart(i) + IPV4_HEADER_LEN + 1]).toBe(i);
        // The source sockaddr names A.
        expect(Array.from(inb.names!.subarray(i * inb.nameStride + 4, i * inb.nameStride + 8))).toEqual([192, 0, 2, 1]);
      }
    } finally {
      native.close(rawA);
      native.close(rawB);
    }
  });

  it('sendBatchV gathers each datagram from a header range and a payload range elsewhere in the buffer, byte-exact', () => {
    const rawA = withNetns(a, () => openRaw4({ protocol: IPPROTO_IPV6_IN_IPV4 }));
    const rawB = withNetns(b, () => openRaw4({ protocol: IPPROTO_IPV6_IN_IPV4, bufferBytes: 4 << 20 }));
    try {
      // Headers (IPv4 + 40 bytes of IPv6) in slots, payloads in a staging area behind them.
      const out = new Slab({ slots: 16, slotSize: 128, headroom: IPV4_HEADER_LEN, nameStride: SOCKADDR_IN_LEN, tailBytes: 16 * 300 });
      const iov = new Int32Array(16 * 4);
      for (let i = 0; i < 16; i++) {
        out.bytes.fill(0, out.dataStart(i), out.dataStart(i) + 40);
        out.bytes[out.dataStart(i)] = 0x60;
        out.lens[i] = 40 + 100 + i;
      }
      encapsulate(out, 16, A_V4, B_V4);
      for (let i = 0; i < 16; i++) {
        const payload = out.tailStart + i * 300;
        for (let k = 0; k < 100 + i; k++) out.bytes[payload + k] = (i * 7 + k) & 0xff;
        iov.set([out.slotStart(i), IPV4_HEADER_LEN + 40, payload, 100 + i], 4 * i);
      }
      // One message left out (length 0), one of a single range.
      out.lens[3] = 0;
      iov.set([out.slotStart(5), IPV4_HEADER_LEN + 40, 0, 0], 20);
      out.bytes[out.slotStart(5) + 2] = 0;
      out.bytes[out.slotStart(5) + 3] = IPV4_HEADER_LEN + 40;
      expect(native.sendBatchV(rawA, out.bytes, iov, out.lens, 16, out.names!, out.nameStride, SOCKADDR_IN_LEN)).toBe(15);
      expect(Array.from(out.lens)).toEqual(new Array(16).fill(0));
      const inb = new Slab({ slots: 16, slotSize: 512 });
      const got = native.recvBatch(rawB, inb.bytes, inb.slotSize, 0, inb.lens, 16);
      expect(got).toBe(15);
      const sent = [0, 1, 2, 4, 5, ...Array.from({ length: 10 }, (_, k) => 6 + k)];
      sent.forEach((i, j) => {
        const start = inb.slotStart(j) + IPV4_HEADER_LEN + 40;
        const want = i === 5 ? 0 : 100 + i;
        expect(inb.lens[j]).toBe(IPV4_HEADER_LEN + 40 + want);
        for (let k = 0; k < want; k++) expect(inb.bytes[start + k]).toBe((i * 7 + k) & 0xff);
      });
      expect(() => native.sendBatchV(rawA, out.bytes, Int32Array.of(0, 10, out.bytes.length, 10), Int32Array.of(20), 1, out.names!, out.nameStride, SOCKADDR_IN_LEN)).toThrow(/outside bytes/);
    } finally {
      native.close(rawA);
      native.close(rawB);
    }
  });

  it('watch fires on the main thread', async () => {
    const rawA = withNetns(a, () => openRaw4({ protocol: IPPROTO_IPV6_IN_IPV4 }));
    const rawB = withNetns(b, () => openRaw4({ protocol: IPPROTO_IPV6_IN_IPV4 }));
    try {
      const fired = new Promise<number>((resolve) => {
        const w = new Watcher(rawB, (events) => {
          w.stop();
          resolve(events);
        });
      });
      const out = new Slab({ slots: 1, slotSize: 128, headroom: IPV4_HEADER_LEN, nameStride: SOCKADDR_IN_LEN });
      out.bytes[out.dataStart(0)] = 0x60;
      out.lens[0] = 40;
      encapsulate(out, 1, A_V4, B_V4);
      native.sendBatch(rawA, out.bytes, out.slotSize, 0, out.lens, 1, out.names, out.nameStride, SOCKADDR_IN_LEN);
      expect(await fired).toBe(1);
    } finally {
      native.close(rawA);
      native.close(rawB);
    }
  });

  it('watch fires in a worker thread', async () => {
    const script = fileURLToPath(new URL('../../dist-test/test/helpers/watch-worker.js', import.meta.url));
    const worker = new Worker(script, { workerData: { ns: b } });
    try {
      const messages: Array<{ ready?: boolean; fired?: boolean; events?: number }> = [];
      const fired = new Promise<number>((resolve, reject) => {
        worker.on('error', reject);
        worker.on('message', (msg) => {
          messages.push(msg);
          if (msg.fired) resolve(msg.events);
        });
      });
      const ready = new Promise<void>((resolve) => worker.on('message', (m) => m.ready && resolve()));
      await ready;
      const rawA = withNetns(a, () => openRaw4({ protocol: IPPROTO_IPV6_IN_IPV4 }));
      const out = new Slab({ slots: 1, slotSize: 128, headroom: IPV4_HEADER_LEN, nameStride: SOCKADDR_IN_LEN });
      out.bytes[out.dataStart(0)] = 0x60;
      out.lens[0] = 40;
      encapsulate(out, 1, A_V4, B_V4);
      native.sendBatch(rawA, out.bytes, out.slotSize, 0, out.lens, 1, out.names, out.nameStride, SOCKADDR_IN_LEN);
      native.close(rawA);
      expect(await fired).toBe(1);
    } finally {
      await worker.terminate();
    }
  });

  it('a watch survives POLLERR (a queued socket error) and keeps firing', async () => {
    const rawA = withNetns(a, () => openRaw4({ protocol: IPPROTO_IPV6_IN_IPV4, recvErr: true }));
    const rawB = withNetns(b, () => openRaw4({ protocol: IPPROTO_IPV6_IN_IPV4 }));
    const events: number[] = [];
    const w = new Watcher(rawA, (ev) => {
      events.push(ev);
      // Take the error and any data so the condition clears.
      native.recvErrQueue(rawA, new Uint8Array(2048), new Uint8Array(256), null, 0, new Int32Array(4));
      native.recvBatch(rawA, new Uint8Array(2048), 2048, 0, new Int32Array(1), 1);
    });
    try {
      // Larger than the veth MTU with DF: the kernel refuses it and queues a local EMSGSIZE error.
      const big = new Slab({ slots: 1, slotSize: 2048, headroom: IPV4_HEADER_LEN, nameStride: SOCKADDR_IN_LEN });
      big.bytes[big.dataStart(0)] = 0x60;
      big.lens[0] = 1600;
      encapsulate(big, 1, A_V4, B_V4);
      native.sendBatch(rawA, big.bytes, big.slotSize, 0, big.lens, 1, big.names, big.nameStride, SOCKADDR_IN_LEN);
      expect(big.lens[0]).toBe(-90);
      await readUntil(() => (events.includes(WATCH_ERROR) ? 1 : 0), 1);
      expect(events).toContain(WATCH_ERROR);
      // Still armed: a packet from B makes it fire as readable.
      const small = new Slab({ slots: 1, slotSize: 128, headroom: IPV4_HEADER_LEN, nameStride: SOCKADDR_IN_LEN });
      small.bytes[small.dataStart(0)] = 0x60;
      small.lens[0] = 40;
      encapsulate(small, 1, B_V4, A_V4);
      native.sendBatch(rawB, small.bytes, small.slotSize, 0, small.lens, 1, small.names, small.nameStride, SOCKADDR_IN_LEN);
      await readUntil(() => (events.includes(READABLE) ? 1 : 0), 1);
      expect(events).toContain(READABLE);
    } finally {
      w.stop();
      native.close(rawA);
      native.close(rawB);
    }
  });

  it('errors carry the errno name: ENODEV for a missing interface', () => {
    let caught: unknown;
    try {
      withNetns(a, () => native.ifNameToIndex('nosuchif0'));
    } catch (e) {
      caught = e;
    }
    expect(isSysError(caught, 'ENODEV')).toBe(true);
    expect((caught as { syscall: string }).syscall).toBe('if_nametoindex');

    const raw = withNetns(a, () => openRaw4({ protocol: IPPROTO_IPV6_IN_IPV4 }));
    try {
      const name = new TextEncoder().encode('nosuchif0\0');
      expect(() => native.setsockopt(raw, SOL_SOCKET, SO_BINDTODEVICE, name)).toThrow(expect.objectContaining({ code: 'ENODEV', syscall: 'setsockopt' }));
    } finally {
      native.close(raw);
    }
  });

  it('errors carry the errno name: EPERM for a raw socket without privilege', () => {
    const addon = fileURLToPath(new URL('../../dist/src/sys/native.js', import.meta.url));
    const code = `import(${JSON.stringify(addon)}).then(({ native }) => {
      try { native.socket(2, 3, 41); console.log('opened'); }
      catch (e) { console.log(JSON.stringify({ code: e.code, errno: e.errno, syscall: e.syscall })); }
    });`;
    // nobody (65534) has no CAP_NET_RAW.
    const r = spawnSync(process.execPath, ['-e', code], { uid: 65534, gid: 65534, encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout.trim())).toEqual({ code: 'EPERM', errno: 1, syscall: 'socket' });
  });

  it('a TUN name that is too long is refused before any syscall', () => {
    expect(() => openTun({ name: 'x'.repeat(16) })).toThrow(RangeError);
  });
});
