// Trace filters: a small language of its own, documented in docs/tracing.md.
// All given conditions must hold:
//   tunnel NAME, remote IPV4 (the tunnel's client IPv4), host ADDR|PREFIX
//   (inner source or destination), proto icmpv6|tcp|udp|ndp, dropped,
//   direction tx|rx (tx = towards the wire, rx = from the wire).
import { parseIpv4Address, readU32 } from '../wire/ipv4.js';
import { parsePrefix } from '../wire/address.js';
import { wordsOf } from '../route/prefix-table.js';
import { NEXT_HEADER_ICMPV6, NEXT_HEADER_TCP, NEXT_HEADER_UDP } from '../wire/ipv6.js';

export interface TraceFilterSpec {
  tunnel?: string;
  remote?: string;
  host?: string;
  proto?: 'icmpv6' | 'tcp' | 'udp' | 'ndp';
  dropped?: boolean;
  direction?: 'tx' | 'rx';
}

export const PROTOCOLS: Record<string, number> = { icmpv6: NEXT_HEADER_ICMPV6, tcp: NEXT_HEADER_TCP, udp: NEXT_HEADER_UDP, ndp: NEXT_HEADER_ICMPV6 };

export class TraceFilter {
  readonly tunnel: string | null;
  readonly remote: number | null;
  readonly hostWords: Uint32Array | null;
  readonly hostLength: number;
  readonly nextHeader: number;
  /** ndp: only the NDP capture point (and ICMPv6 types 133..137 inside the tunnel). */
  readonly ndpOnly: boolean;
  readonly droppedOnly: boolean;
  readonly direction: 'tx' | 'rx' | null;

  constructor(spec: TraceFilterSpec) {
    this.tunnel = spec.tunnel ?? null;
    this.remote = spec.remote !== undefined ? parseIpv4Address(spec.remote) : null;
    if (spec.host !== undefined) {
      const p = parsePrefix(spec.host, false);
      if (p.family !== 6) throw new RangeError(`host ${spec.host}: expected an IPv6 address or prefix`);
      this.hostWords = wordsOf(p.bytes);
      this.hostLength = p.length;
    } else {
      this.hostWords = null;
      this.hostLength = 0;
    }
    if (spec.proto !== undefined && !(spec.proto in PROTOCOLS)) throw new RangeError(`proto ${spec.proto}: expected icmpv6, tcp, udp or ndp`);
    // ndp is decided by ndpOnly below (the NDP point carries only ICMPv6 NS and NA).
    this.nextHeader = spec.proto !== undefined && spec.proto !== 'ndp' ? PROTOCOLS[spec.proto] : -1;
    this.ndpOnly = spec.proto === 'ndp';
    this.droppedOnly = spec.dropped === true;
    if (spec.direction !== undefined && spec.direction !== 'tx' && spec.direction !== 'rx') throw new RangeError(`direction ${spec.direction}: expected tx or rx`);
    this.direction = spec.direction ?? null;
  }

  /** Whether the IPv6 address at buf[off] lies in the host prefix. */
  private inHost(buf: Uint8Array, off: number): boolean {
    const w = this.hostWords!;
    for (let i = 0; i < 4; i++) {
      const bits = this.hostLength - 32 * i;
      if (bits <= 0) return true;
      const mask = bits >= 32 ? 0xffffffff : (0xffffffff << (32 - bits)) >>> 0;
      const v = readU32(buf, off + 4 * i);
      if (((v & mask) >>> 0) !== ((w[i] & mask) >>> 0)) return false;
    }
    return true;
  }

  /** Matches one packet: the tunnel's name and remote (null when none), the
   * direction, whether it was dropped, and the inner IPv6 packet at buf[ip]
   * (ip < 0 when there is none to look at). */
  matches(tunnel: string | null, remote: number | null, direction: 'tx' | 'rx', dropped: boolean, ndp: boolean, buf: Uint8Array, ip: number, len: number): boolean {
    if (this.droppedOnly && !dropped) return false;
    if (this.direction !== null && this.direction !== direction) return false;
    if (this.tunnel !== null && this.tunnel !== tunnel) return false;
    if (this.remote !== null && this.remote !== remote) return false;
    if (this.ndpOnly && !ndp) {
      if (ip < 0 || len < 41 || buf[ip + 6] !== NEXT_HEADER_ICMPV6 || buf[ip + 40] < 133 || buf[ip + 40] > 137) return false;
    }
    if (this.nextHeader >= 0 || this.hostWords !== null) {
      if (ip < 0 || len < 40 || buf[ip] >> 4 !== 6) return false;
      if (this.nextHeader >= 0 && buf[ip + 6] !== this.nextHeader) return false;
      if (this.hostWords !== null && !this.inHost(buf, ip + 8) && !this.inHost(buf, ip + 24)) return false;
    }
    return true;
  }
}
