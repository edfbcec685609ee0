// One line per captured packet, tcpdump style, for `sixtun trace` without -w.
import { formatIp } from '../wire/address.js';
import { formatIpv4Address, readU32 } from '../wire/ipv4.js';
import { formatMac } from '../wire/ethernet.js';
import { LINKTYPE_ETHERNET, LINKTYPE_IPV4, LINKTYPE_IPV6, type PcapngPacket } from '../wire/pcapng.js';

const ICMPV6_NAMES: Record<number, string> = {
  1: 'destination unreachable', 2: 'packet too big', 3: 'time exceeded', 4: 'parameter problem',
  128: 'echo request', 129: 'echo reply', 133: 'router solicitation', 134: 'router advertisement',
  135: 'neighbor solicitation', 136: 'neighbor advertisement', 143: 'MLDv2 report',
};

function ipv6(d: Uint8Array, off: number): string {
  if (d.length - off < 40 || d[off] >> 4 !== 6) return `IPv6? (${d.length - off} bytes)`;
  const src = formatIp(d.slice(off + 8, off + 24));
  const dst = formatIp(d.slice(off + 24, off + 40));
  const nh = d[off + 6];
  const plen = (d[off + 4] << 8) | d[off + 5];
  const l4 = off + 40;
  let what: string;
  if (nh === 58 && d.length > l4) {
    what = `ICMP6, ${ICMPV6_NAMES[d[l4]] ?? `type ${d[l4]}`}`;
    if ((d[l4] === 135 || d[l4] === 136) && d.length >= l4 + 24) what += ` ${formatIp(d.slice(l4 + 8, l4 + 24))}`;
    if (d[l4] === 2 && d.length >= l4 + 8) what += ` mtu ${readU32(d, l4 + 4)}`;
  } else if ((nh === 6 || nh === 17) && d.length >= l4 + 4) {
    what = `${nh === 6 ? 'TCP' : 'UDP'} ${(d[l4] << 8) | d[l4 + 1]} > ${(d[l4 + 2] << 8) | d[l4 + 3]}`;
  } else {
    what = `next header ${nh}`;
  }
  return `IP6 ${src} > ${dst}: ${what}, length ${plen}`;
}

export function describePacket(p: PcapngPacket): string {
  const us = p.timestampNs / 1000n;
  const time = new Date(Number(us / 1000n)).toISOString().slice(11, 19) + '.' + String(Number(us % 1_000_000n)).padStart(6, '0');
  const d = p.data;
  let body: string;
  switch (p.linkType) {
    case LINKTYPE_IPV6:
      body = `inner ${ipv6(d, 0)}`;
      break;
    case LINKTYPE_IPV4: {
      const ihl = (d[0] & 0x0f) * 4;
      body = d.length >= 20
        ? `outer IP ${formatIpv4Address(readU32(d, 12))} > ${formatIpv4Address(readU32(d, 16))} ttl ${d[8]}: ${d[9] === 41 ? ipv6(d, ihl) : `protocol ${d[9]}`}`
        : 'outer IP? (truncated)';
      break;
    }
    case LINKTYPE_ETHERNET:
      body = d.length >= 14 ? `ndp ${formatMac(d, 6)} > ${formatMac(d, 0)}: ${ipv6(d, 14)}` : 'ndp (truncated)';
      break;
    default:
      body = `linktype ${p.linkType}`;
  }
  return `${time} ${body} [${p.comment ?? ''}]`;
}
