// One 6in4 tunnel as the datapath sees it: endpoints as u32, addresses as
// words, MTU state, and a precomputed partial checksum of the outer header
// (gVisor's EncodePartial idea: per packet only length, ID, TOS, TTL and
// flags change).
import { Counters, ROW_PATH_MTU, ROW_PATH_MTU_EXPIRES } from '../datapath/reasons.js';
import { IPPROTO_IPV6_IN_IPV4, readI32 } from '../wire/ipv4.js';
import { AF_INET } from '../sys/constants.js';
import { IPV6_MIN_MTU } from '../wire/ipv6.js';
import type { IpPrefix } from '../wire/address.js';

/** How long a learned path MTU holds before it is probed again (RFC 1191 §6.3: 10 min). */
export const PMTU_EXPIRY_MS = 10 * 60 * 1000;
/** The lowest path MTU an ICMP can teach (the kernel's net.ipv4.route.min_pmtu):
 * lower claims are taken as this, so no one can make the tunnel send tiny fragments. */
export const MIN_PMTU = 552;
/** RFC 1191 §7: plateaus for a Fragmentation Needed without a next-hop MTU
 * (RFC 792 style): the next one below the size of the datagram refused. */
const MTU_PLATEAUS = [65535, 32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296, 68];

export interface TunnelSpec {
  name: string;
  localV4: number;
  remoteV4: number;
  /** The server's tunnel address and the pair's prefix length (127 or 64). */
  serverV6: Uint8Array;
  clientV6: Uint8Array;
  pairLength: number;
  routed: IpPrefix[];
  /** A client's own inner sources: its pair prefix and its LAN (a server's
   * are looked up in its tables). What an ICMPv4 error may be relayed to. */
  ownSources?: IpPrefix[];
  /** Tunnel MTU (TUN MTU): 1280..1480. */
  mtu: number;
  /** Outer TTL, 0 = inherit the inner hop limit. */
  ttl: number;
  tosInherit: boolean;
  pmtuDiscovery: boolean;
}

export class Tunnel {
  readonly id: number;
  readonly spec: TunnelSpec;
  readonly counters: Counters;
  /** The server's address (words 0..3) and the client's (4..7), as int32 words. */
  readonly words = new Int32Array(8);
  /** Sum of the outer header words that do not change per packet
   * (version/IHL, protocol, addresses), unfolded; TTL added when fixed. */
  headerSum = 0;
  ipId = 0;

  constructor(id: number, spec: TunnelSpec, counters = new Counters()) {
    this.id = id;
    this.spec = spec;
    this.counters = counters;
    for (let i = 0; i < 4; i++) {
      this.words[i] = readI32(spec.serverV6, 4 * i);
      this.words[4 + i] = readI32(spec.clientV6, 4 * i);
    }
    this.setRemote(spec.remoteV4);
  }

  /** The remote's sockaddr_in at out[off], in a batch's name area (whose
   * padding, bytes 8..15, is never written and stays zero). A method of the
   * tunnel, so that the u32 address never crosses a call as an argument
   * (above 2^31 it would be boxed into a heap number: an allocation per
   * packet on the paths that use it, fragments and echo replies). */
  writeRemote(out: Uint8Array, off: number): void {
    const r = this.spec.remoteV4;
    out[off] = AF_INET & 0xff;
    out[off + 1] = AF_INET >> 8;
    out[off + 2] = 0;
    out[off + 3] = 0;
    out[off + 4] = r >>> 24;
    out[off + 5] = (r >>> 16) & 0xff;
    out[off + 6] = (r >>> 8) & 0xff;
    out[off + 7] = r & 0xff;
  }

  /** Learned IPv4 path MTU to the remote (0: none learned); in the counters'
   * row, so that the control thread can show it. */
  get pathMtu(): number { return this.counters.row[ROW_PATH_MTU]; }
  set pathMtu(v: number) { this.counters.row[ROW_PATH_MTU] = v; }
  get pathMtuExpires(): number { return this.counters.row[ROW_PATH_MTU_EXPIRES]; }
  set pathMtuExpires(v: number) { this.counters.row[ROW_PATH_MTU_EXPIRES] = v; }

  /** Our own IPv4 changed (a client with a dynamic address). */
  setLocal(localV4: number): void {
    this.spec.localV4 = localV4 >>> 0;
    this.setRemote(this.spec.remoteV4);
  }

  /** Endpoint change (dynamic client IPv4): recomputes what depends on it. */
  setRemote(remoteV4: number): void {
    this.spec.remoteV4 = remoteV4 >>> 0;
    const l = this.spec.localV4;
    const r = this.spec.remoteV4;
    this.headerSum = 0x4500 + IPPROTO_IPV6_IN_IPV4 + (l >>> 16) + (l & 0xffff) + (r >>> 16) + (r & 0xffff);
    this.pathMtu = 0;
  }

  /** The inner MTU right now (RFC 4213 §3.2.2): the configured tunnel MTU,
   * lowered to the learned path MTU − 20, never below 1280. */
  effectiveMtu(now: number): number {
    if (this.pathMtu === 0) return this.spec.mtu;
    if (now > this.pathMtuExpires) {
      this.pathMtu = 0;
      return this.spec.mtu;
    }
    const viaPath = this.pathMtu - 20;
    if (viaPath < IPV6_MIN_MTU) return IPV6_MIN_MTU;
    return viaPath < this.spec.mtu ? viaPath : this.spec.mtu;
  }

  /** Whether the outer header carries DF now: with PMTU discovery, unless the
   * path is too small for 1280 + 20 and sixtun fragments instead (§3.2.2). */
  dontFragment(): boolean {
    return this.spec.pmtuDiscovery && (this.pathMtu === 0 || this.pathMtu - 20 >= IPV6_MIN_MTU);
  }

  /** The IPv4 ID of the next datagram that may be fragmented: 1..65535,
   * never 0 (the kernel takes an ID of 0 as "pick one", per fragment). */
  nextIpId(): number {
    this.ipId = this.ipId >= 0xffff ? 1 : this.ipId + 1;
    return this.ipId;
  }

  /** A Fragmentation Needed (or our own interface's EMSGSIZE) reported mtu
   * for a datagram of `refused` bytes. As the kernel: it only ever lowers
   * the path MTU (expiry raises it), never below MIN_PMTU; an mtu of 0 (a
   * router older than RFC 1191) is guessed from the plateau table. Returns
   * whether the path MTU changed. */
  learnPathMtu(mtu: number, refused: number, now: number): boolean {
    let v = mtu;
    if (v === 0) {
      v = MIN_PMTU;
      for (const p of MTU_PLATEAUS) {
        if (p < refused) {
          v = p;
          break;
        }
      }
    }
    if (v < MIN_PMTU) v = MIN_PMTU;
    const current = this.pathMtu !== 0 && now <= this.pathMtuExpires ? this.pathMtu : this.spec.mtu + 20;
    if (v >= current) return false;
    this.pathMtu = v;
    this.pathMtuExpires = now + PMTU_EXPIRY_MS;
    return true;
  }
}
