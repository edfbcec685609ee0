// Crafts Neighbor Solicitations on an Ethernet link and reports the Neighbor
// Advertisements that come back. Run inside the soliciting namespace:
//   node send-ns.js '{"iface":"to-srv","target":"2001:db8:ff::3", ...}'
// Spec fields (all optional but iface and target): src, dst (IPv6; default
// the target's solicited-node group), dstMac, hopLimit (255), code (0), slla
// (true unless src is ::), badChecksum, multicastTarget, truncate (bytes to
// cut), count (1), perSecond (0 = as fast as one batch), seconds (bounded
// flood), listenMs (500).
import { native } from '../sys/native.js';
import { openPacket } from '../sys/packet.js';
import { ETH_P_IPV6 } from '../sys/constants.js';
import { sockaddrLl } from '../sys/sockaddr.js';
import { parseIp, formatIp } from '../wire/address.js';
import { emitIpv6, NEXT_HEADER_ICMPV6 } from '../wire/ipv6.js';
import { finishIcmpv6, ICMPV6_NEIGHBOR_ADVERTISEMENT, ICMPV6_NEIGHBOR_SOLICITATION } from '../wire/icmpv6.js';
import { ETHERTYPE_IPV6, formatMac, writeMulticastMac } from '../wire/ethernet.js';
import { ND_OPT_SOURCE_LL, ND_OPT_TARGET_LL } from '../wire/ndp.js';
import { readFileSync } from 'node:fs';

interface Spec {
  iface: string; target: string; src?: string; dst?: string; dstMac?: string; hopLimit?: number; code?: number;
  slla?: boolean; badChecksum?: boolean; truncate?: number; count?: number; perSecond?: number; seconds?: number; listenMs?: number;
}

const spec = JSON.parse(process.argv[2]) as Spec;
const ifindex = native.ifNameToIndex(spec.iface);
const mac = Uint8Array.from(readFileSync(`/sys/class/net/${spec.iface}/address`, 'utf8').trim().split(':').map((h) => parseInt(h, 16)));
const target = parseIp(spec.target).bytes;
const src = parseIp(spec.src ?? 'fe80::1').bytes;
const solicited = Uint8Array.from([0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, target[13], target[14], target[15]]);
const dst = spec.dst ? parseIp(spec.dst).bytes : solicited;
const dad = src.every((b) => b === 0);
const slla = spec.slla ?? !dad;

const icmpLen = 24 + (slla ? 8 : 0);
const frame = new Uint8Array(14 + 40 + icmpLen);
if (spec.dstMac) frame.set(spec.dstMac.split(':').map((h) => parseInt(h, 16)), 0);
else writeMulticastMac(frame, 0, dst, 0);
frame.set(mac, 6);
frame[12] = ETHERTYPE_IPV6 >> 8;
frame[13] = ETHERTYPE_IPV6 & 0xff;
emitIpv6({ trafficClass: 0, flowLabel: 0, payloadLength: icmpLen, nextHeader: NEXT_HEADER_ICMPV6, hopLimit: spec.hopLimit ?? 255, src, dst }, frame, 14);
const icmp = 54;
frame[icmp] = ICMPV6_NEIGHBOR_SOLICITATION;
frame[icmp + 1] = spec.code ?? 0;
frame.set(target, icmp + 8);
if (slla) {
  frame[icmp + 24] = ND_OPT_SOURCE_LL;
  frame[icmp + 25] = 1;
  frame.set(mac, icmp + 26);
}
finishIcmpv6(frame, 14);
if (spec.badChecksum) frame[icmp + 2] ^= 0xff;
const length = frame.length - (spec.truncate ?? 0);

const fd = openPacket({ ifindex, protocol: ETH_P_IPV6 });
const to = sockaddrLl(ifindex, ETH_P_IPV6, frame.subarray(0, 6));
const replies: Array<Record<string, unknown>> = [];
let sentAt = 0;
/** Milliseconds from the (last) solicitation sent to the first answer. */
let firstReplyMs: number | null = null;
const rx = new Uint8Array(2048);
const info = new Int32Array(4);
const name = new Uint8Array(20);

function drain(): void {
  for (;;) {
    const n = native.recvMsg(fd, rx, null, name, 0, info);
    if (n < 0) return;
    if (name[10] === 4 /* outgoing */ || n < 14 + 40 + 24 || rx[20] !== 58 || rx[54] !== ICMPV6_NEIGHBOR_ADVERTISEMENT) continue;
    // Only answers to our solicitations: to our source, or to all-nodes for DAD.
    const to = rx.subarray(38, 54);
    if (dad ? to[0] !== 0xff : !to.every((b, i) => b === src[i])) continue;
    if (firstReplyMs === null) firstReplyMs = performance.now() - sentAt;
    const tllaAt = n >= 14 + 40 + 32 && rx[78] === ND_OPT_TARGET_LL ? 80 : -1;
    replies.push({
      ethDst: formatMac(rx, 0), ethSrc: formatMac(rx, 6), ipSrc: formatIp(rx.slice(22, 38)), ipDst: formatIp(rx.slice(38, 54)),
      hopLimit: rx[21], router: (rx[58] & 0x80) !== 0, solicited: (rx[58] & 0x40) !== 0, override: (rx[58] & 0x20) !== 0,
      target: formatIp(rx.slice(62, 78)), tlla: tllaAt > 0 ? formatMac(rx, tllaAt) : null,
    });
  }
}

async function main(): Promise<void> {
  let sent = 0;
  const perSecond = spec.perSecond ?? 0;
  const deadline = Date.now() + (spec.seconds ?? 0) * 1000;
  const count = spec.count ?? 1;
  if (perSecond > 0) {
    // A bounded flood: perSecond frames a second in 10 ms slices, until seconds pass.
    const perSlice = Math.max(1, Math.round(perSecond / 100));
    while (Date.now() < deadline) {
      const sliceStart = Date.now();
      for (let i = 0; i < perSlice; i++) sent += native.sendTo(fd, frame, 0, length, to) > 0 ? 1 : 0;
      drain();
      const wait = 10 - (Date.now() - sliceStart);
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
  } else {
    for (let i = 0; i < count; i++) sent += native.sendTo(fd, frame, 0, length, to) > 0 ? 1 : 0;
    sentAt = performance.now();
  }
  const until = Date.now() + (spec.listenMs ?? 500);
  while (Date.now() < until) {
    drain();
    // Finely until the first answer, for its timing.
    await new Promise((r) => setTimeout(r, replies.length === 0 ? 1 : 10));
  }
  native.close(fd);
  process.stdout.write(JSON.stringify({ sent, replies: perSecond > 0 ? replies.length : replies, firstReplyMs }) + '\n');
}

void main();
