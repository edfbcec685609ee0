// TSO and GRO in userspace: a 64 KiB TCP super-packet cut into 1420-byte
// segments (checksums included), and 46 received segments of one flow
// coalesced back into one packet (checksums verified). Per segment.
import { Coalescer, PendingBytes, newSuperPacket, parseTcp6Super, writeSegment } from '../../src/datapath/offload.js';
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
  return [segment, coalesce];
}
