// Sends hand-made protocol-41 packets for tests of what sixtun must refuse:
//   node send41.js OUTER_SRC OUTER_DST INNER_SRC INNER_DST COUNT [ECN_OUTER ECN_INNER [INNER_LEN [PAYLOAD_LENGTH]]]
// Each carries an ICMPv6 echo request (INNER_LEN bytes of inner packet, 64 by
// default, cut short when below 48; PAYLOAD_LENGTH overrides the IPv6 field
// to lie about it). Run it inside the sending namespace.
import { openRaw4 } from '../sys/raw4.js';
import { native } from '../sys/native.js';
import { sockaddrIn } from '../sys/sockaddr.js';
import { emitIpv4, newIpv4Header, parseIpv4Address, IPPROTO_IPV6_IN_IPV4 } from '../wire/ipv4.js';
import { emitIpv6, NEXT_HEADER_ICMPV6 } from '../wire/ipv6.js';
import { finishIcmpv6, ICMPV6_ECHO_REQUEST } from '../wire/icmpv6.js';
import { parseIp } from '../wire/address.js';

const [outerSrc, outerDst, innerSrc, innerDst, countText, ecnOuter = '0', ecnInner = '0', innerLenText = '64', payloadField] = process.argv.slice(2);
const innerLen = Number(innerLenText);
const payload = Math.max(innerLen - 48, 0);
const pkt = new Uint8Array(20 + Math.max(innerLen, 48));
const h = newIpv4Header();
Object.assign(h, {
  tos: Number(ecnOuter), totalLength: pkt.length, ttl: 64, protocol: IPPROTO_IPV6_IN_IPV4,
  src: parseIpv4Address(outerSrc), dst: parseIpv4Address(outerDst),
});
emitIpv4(h, pkt, 0);
emitIpv6({
  trafficClass: Number(ecnInner), flowLabel: 0, payloadLength: 8 + payload, nextHeader: NEXT_HEADER_ICMPV6, hopLimit: 64,
  src: parseIp(innerSrc).bytes, dst: parseIp(innerDst).bytes,
}, pkt, 20);
pkt[60] = ICMPV6_ECHO_REQUEST;
finishIcmpv6(pkt, 20);
if (payloadField !== undefined) {
  pkt[24] = Number(payloadField) >> 8;
  pkt[25] = Number(payloadField) & 0xff;
}
const sendLen = 20 + innerLen;
pkt[2] = sendLen >> 8;
pkt[3] = sendLen & 0xff;
const fd = openRaw4({ protocol: IPPROTO_IPV6_IN_IPV4 });
const to = sockaddrIn(parseIpv4Address(outerDst));
let sent = 0;
// The kernel fills in the IPv4 checksum for IP_HDRINCL sockets.
for (let i = 0; i < Number(countText); i++) sent += native.sendTo(fd, pkt, 0, sendLen, to) > 0 ? 1 : 0;
native.close(fd);
process.stdout.write(JSON.stringify({ sent }) + '\n');
