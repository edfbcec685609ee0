// Floods protocol-41 packets from the synthetic tunnels of registry.ts, for
// the forwarding-spread benchmark: each packet from one of `tunnels`
// tunnels in turn (outer source its client IPv4, inner source its client
// IPv6), an inner UDP datagram to innerDst; with flows > 1, each tunnel's
// packets take `flows` source ports in turn (several small flows per tunnel,
// none two packets in a row: nothing for GRO to glue). Bounded by count and seconds.
// Run inside the sending namespace:
//   node flood41.js '{"dst":"203.0.113.1","first":1,"tunnels":10000,"innerDst":"2001:db8:dead::1","size":128,"count":2000000,"seconds":5}'
import { openRaw4 } from '../sys/raw4.js';
import { native } from '../sys/native.js';
import { sockaddrIn } from '../sys/sockaddr.js';
import { emitIpv4, newIpv4Header, parseIpv4Address, IPPROTO_IPV6_IN_IPV4 } from '../wire/ipv4.js';
import { emitIpv6, NEXT_HEADER_UDP } from '../wire/ipv6.js';
import { upperLayerChecksum } from '../wire/icmpv6.js';
import { parseIp } from '../wire/address.js';
import { synthetic } from './registry.js';

interface Spec { dst: string; first: number; tunnels: number; flows?: number; innerDst: string; size: number; count: number; seconds: number }

const BATCH = 64;
const spec = JSON.parse(process.argv[2]) as Spec;
const len = spec.size;
// One packet per tunnel and flow, back to back (plus a batch's worth again at
// the end, so that a batch starting near the end needs no wrap): sendBatch
// walks them with slotSize = len from the batch's first packet.
const flows = spec.flows ?? 1;
const packets = spec.tunnels * flows;
const slots = packets + BATCH;
const buf = new Uint8Array(slots * len);
const h = newIpv4Header();
for (let s = 0; s < slots; s++) {
  const t = synthetic(spec.first + (s % spec.tunnels));
  const at = s * len;
  Object.assign(h, { totalLength: len, ttl: 64, protocol: IPPROTO_IPV6_IN_IPV4, src: parseIpv4Address(t.client_ipv4), dst: parseIpv4Address(spec.dst) });
  emitIpv4(h, buf, at);
  const ip = at + 20;
  emitIpv6({ trafficClass: 0, flowLabel: 0, payloadLength: len - 60, nextHeader: NEXT_HEADER_UDP, hopLimit: 64, src: parseIp(t.client_ipv6).bytes, dst: parseIp(spec.innerDst).bytes }, buf, ip);
  const udp = ip + 40;
  const port = 40000 + (Math.floor(s / spec.tunnels) % flows);
  buf[udp] = port >> 8;
  buf[udp + 1] = port & 0xff;
  buf[udp + 2] = 0;
  buf[udp + 3] = 9; // discard
  buf[udp + 4] = (len - 60) >> 8;
  buf[udp + 5] = (len - 60) & 0xff;
  // RFC 8200 §8.1: a computed zero is sent as all ones.
  const sum = upperLayerChecksum(buf, ip, NEXT_HEADER_UDP, len - 60) || 0xffff;
  buf[udp + 6] = sum >> 8;
  buf[udp + 7] = sum & 0xff;
}
const fd = openRaw4({ protocol: IPPROTO_IPV6_IN_IPV4 });
native.connect(fd, sockaddrIn(parseIpv4Address(spec.dst)));
const lens = new Int32Array(BATCH).fill(len);
const deadline = Date.now() + spec.seconds * 1000;
let sent = 0;
let next = 0;
while (sent < spec.count && Date.now() < deadline) {
  // sendBatch zeroes the length of each slot it sent.
  lens.fill(len);
  const n = native.sendBatch(fd, buf.subarray(next * len), len, 0, lens, Math.min(BATCH, spec.count - sent));
  // A full socket buffer (0): try again; the bound is count and time.
  if (n > 0) {
    sent += n;
    next = (next + n) % packets;
  }
}
native.close(fd);
process.stdout.write(JSON.stringify({ sent }) + '\n');
