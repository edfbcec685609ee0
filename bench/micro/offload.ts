// TSO and GRO in userspace: a 64 KiB TCP super-packet cut into 1420-byte
// segments (checksums included), and 46 received segments of one flow
// coalesced back into one packet (checksums verified); the same cut leaving
// payloads in place (headers only, sent gathered); and a broker's batch of
// small segments from 128 flows, where nothing coalesces. Per segment.
import { Coalescer, PendingBytes, newSuperPacket, parseTcp6Super, writeSegment, writeSegmentInPlace } from '../../src/datapath/offload.js';
import { VNET_GSO_TCPV6, newVnetHeader } from '../../src/wire/virtio-net.js';
import { writeTcp6, timestampOption } from '../../src/lab/tcp6.js';
import { measure, type MicroResult } from './harness.js';

const MSS = 1420;
const SEGMENTS = 46;
const SLOT = 2048;

export async function benchOffload(): Promise<MicroResult[]> {
  const payload = new Uint8Array(MSS * SEGMENTS).map((_, i) => (i * 13) & 0xff);
  // Staging area (the super-packet) after 64 transmit slots, as in the datapath.
  const b = new Uint8Array(64 * SLOT + 70_000);
  const at = 64 * SLOT;
  const len = writeTcp6(b, at, { seq: 1, options: timestampOption(1, 2), payload });
  const h = newVnetHeader();
  h.gsoType = VNET_GSO_TCPV6;
  h.gsoSize = MSS;
  const sp = newSuperPacket();
  const pending = new PendingBytes(64);
  const segment = await measure(`TSO: cut 64 KiB into ${SEGMENTS} segments`, SEGMENTS, 20_000, () => {
    parseTcp6Super(b, at, len, h, sp);
    for (let k = 0, off = 0; off < sp.payloadLen; off += MSS, k++) writeSegment(b, sp, off, k * SLOT + 20, pending);
    pending.finish(b);
  });

  const pendingInPlace = new PendingBytes(128);
  const inPlace = await measure(`TSO in place: cut 64 KiB into ${SEGMENTS} segments, headers only`, SEGMENTS, 20_000, () => {
    parseTcp6Super(b, at, len, h, sp);
    for (let k = 0, off = 0; off < sp.payloadLen; off += MSS, k++) writeSegmentInPlace(b, sp, off, k * SLOT + 20, pendingInPlace);
    pendingInPlace.finish(b);
  });

  const rxSlot = 65536 + 1088;
  const rx = new Uint8Array(SEGMENTS * rxSlot);
  const lens = new Int32Array(SEGMENTS);
  const segments = Array.from({ length: SEGMENTS }, (_, k) => {
    const s = new Uint8Array(2048);
    return s.subarray(0, writeTcp6(s, 0, { seq: 1 + k * MSS, options: timestampOption(1, 2), payload: payload.subarray(k * MSS, (k + 1) * MSS) }));
  });
  const co = new Coalescer(SEGMENTS, rxSlot, 20);
  const merge = { tcp: true, udp: true };
  const coalesce = await measure(`GRO: verify and coalesce ${SEGMENTS} segments`, SEGMENTS, 20_000, () => {
    for (let k = 0; k < SEGMENTS; k++) {
      rx.set(segments[k], k * rxSlot + 20);
      lens[k] = segments[k].length;
    }
    co.run(rx, lens, SEGMENTS, merge);
    co.emitHeaders(rx, lens, SEGMENTS);
  });
  const FLOWS = 128;
  const brokerRx = new Uint8Array(FLOWS * rxSlot);
  const brokerLens = new Int32Array(FLOWS);
  const small = Array.from({ length: FLOWS }, (_, k) => {
    const s = new Uint8Array(256);
    // Each from its own tunnel's address, ports in turn: as a broker's batch looks.
    return s.subarray(0, writeTcp6(s, 0, { seq: k, src: `2001:db8:f0:${k.toString(16)}::1`, srcPort: 40000 + (k % 4), payload: payload.subarray(0, 48) }));
  });
  const brokerCo = new Coalescer(FLOWS, rxSlot, 20);
  const broker = await measure(`GRO: a broker's batch, ${FLOWS} small segments of ${FLOWS} flows`, FLOWS, 20_000, () => {
    for (let k = 0; k < FLOWS; k++) {
      brokerRx.set(small[k], k * rxSlot + 20);
      brokerLens[k] = small[k].length;
    }
    brokerCo.run(brokerRx, brokerLens, FLOWS, merge);
    brokerCo.emitHeaders(brokerRx, brokerLens, FLOWS);
  });
  return [segment, inPlace, coalesce, broker];
}
