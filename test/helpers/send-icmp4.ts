// Sends ICMPv4 errors that quote a protocol-41 datagram, for tests of what
// sixtun does with errors it did or did not earn:
//   node send-icmp4.js TO TYPE CODE QUOTED_SRC QUOTED_DST COUNT [MTU [INNER_SRC INNER_DST]]
// The quote is an IPv4 header (protocol 41) plus 48 bytes of an inner IPv6
// header; MTU goes in the next-hop MTU field (Fragmentation Needed, RFC 1191).
import { native } from '../../src/sys/native.js';
import { AF_INET, SOCK_RAW } from '../../src/sys/constants.js';
import { sockaddrIn } from '../../src/sys/sockaddr.js';
import { checksum } from '../../src/wire/checksum.js';
import { emitIpv4, newIpv4Header, parseIpv4Address, IPPROTO_ICMP } from '../../src/wire/ipv4.js';
import { emitIpv6 } from '../../src/wire/ipv6.js';
import { parseIp } from '../../src/wire/address.js';

const [to, type, code, qsrc, qdst, countText, mtuText, innerSrc, innerDst] = process.argv.slice(2);
const msg = new Uint8Array(8 + 20 + 48);
msg[0] = Number(type);
msg[1] = Number(code);
const mtu = Number(mtuText ?? 0);
msg[6] = mtu >> 8;
msg[7] = mtu & 0xff;
const h = newIpv4Header();
Object.assign(h, { totalLength: 1280, ttl: 1, protocol: 41, src: parseIpv4Address(qsrc), dst: parseIpv4Address(qdst), dontFragment: true });
emitIpv4(h, msg, 8);
emitIpv6({ trafficClass: 0, flowLabel: 0, payloadLength: 1220, nextHeader: 58, hopLimit: 64, src: parseIp(innerSrc ?? '2001:db8:beef::1').bytes, dst: parseIp(innerDst ?? '2001:db8:ff::3').bytes }, msg, 28);
const c = checksum(msg, 0, msg.length);
msg[2] = c >> 8;
msg[3] = c & 0xff;
const fd = native.socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
let sent = 0;
for (let i = 0; i < Number(countText); i++) sent += native.sendTo(fd, msg, 0, msg.length, sockaddrIn(parseIpv4Address(to))) > 0 ? 1 : 0;
native.close(fd);
process.stdout.write(JSON.stringify({ sent }) + '\n');
