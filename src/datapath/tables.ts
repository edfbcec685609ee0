// What the datapath reads per packet: tunnels by id, remote IPv4 → tunnel,
// and one prefix table (inner address → tunnel) used both to route
// transmitted packets and to check received sources (anti-spoofing).
import { Counters } from './reasons.js';
import { PrefixTable, wordsOf } from '../route/prefix-table.js';
import { Tunnel, type TunnelSpec } from '../route/tunnel.js';
import { U32Map } from '../route/u32-map.js';
import { addressIs } from '../wire/ipv6.js';

export type Mode = 'server' | 'client';

/** What status and metrics read of a daemon's tunnels: the datapath
 * thread's tables, or the control thread's mirror of them. */
export interface TunnelView {
  readonly byName: ReadonlyMap<string, Tunnel>;
  readonly global: Counters;
}

export class DatapathTables implements TunnelView {
  readonly mode: Mode;
  localV4: number;
  readonly tunnels: Array<Tunnel | null> = [];
  /** Remote IPv4 (u32) → tunnel id. */
  readonly byRemote = new U32Map();
  readonly byName = new Map<string, Tunnel>();
  readonly prefixes = new PrefixTable();
  /** Drops that belong to no tunnel (unknown remote, no route, malformed). */
  readonly global: Counters;
  private readonly freeIds: number[] = [];
  /** A server's pools: a destination in one that no tunnel holds is
   * answered with Destination Unreachable (the kernel routes a whole pool here). */
  readonly pools = new PrefixTable();
  /** Source of those errors: a global address of the server (null: counted, not answered). */
  unreachableSource: Uint8Array | null = null;
  /** The host's own IPv6 addresses, four int32 words each: an ICMPv6 error
   * from one of them into a tunnel is the kernel's (see xmit's fromServerStack). */
  hostAddresses: Int32Array<ArrayBufferLike> = new Int32Array(0);

  constructor(mode: Mode, localV4: number, global = new Counters()) {
    this.mode = mode;
    this.localV4 = localV4 >>> 0;
    this.global = global;
  }

  /** Adds a tunnel under a free id, or under the id and counters row the
   * control thread chose for it (the datapath thread's tables). */
  add(spec: TunnelSpec, slot?: { id: number; counters: Counters }): Tunnel {
    if (this.byName.has(spec.name)) throw new Error(`tunnel ${spec.name} exists`);
    if (this.byRemote.has(spec.remoteV4)) throw new Error(`remote ${spec.remoteV4} already used by another tunnel`);
    if (slot && this.tunnels[slot.id]) throw new Error(`tunnel id ${slot.id} is taken`);
    // A freed id first (kept on a stack: a search for a free slot made 10^5 adds quadratic).
    const id = slot ? slot.id : this.freeIds.length > 0 ? this.freeIds.pop()! : this.tunnels.length;
    const t = new Tunnel(id, spec, slot?.counters);
    this.tunnels[id] = t;
    this.byName.set(spec.name, t);
    this.byRemote.set(t.spec.remoteV4, id);
    for (const [words, length] of this.prefixesOf(t)) this.prefixes.set(words, length, id);
    return t;
  }

  remove(name: string): Tunnel | undefined {
    const t = this.byName.get(name);
    if (!t) return undefined;
    for (const [words, length] of this.prefixesOf(t)) this.prefixes.delete(words, length);
    this.byRemote.delete(t.spec.remoteV4);
    this.byName.delete(name);
    this.tunnels[t.id] = null;
    this.freeIds.push(t.id);
    return t;
  }

  /** Moves a tunnel to a new remote IPv4 (dynamic endpoint). */
  setRemote(name: string, remoteV4: number): void {
    const t = this.byName.get(name);
    if (!t) throw new Error(`no tunnel ${name}`);
    const other = this.byRemote.get(remoteV4 >>> 0);
    if (other >= 0 && other !== t.id) throw new Error(`remote already used by another tunnel`);
    this.byRemote.delete(t.spec.remoteV4);
    t.setRemote(remoteV4);
    this.byRemote.set(t.spec.remoteV4, t.id);
  }

  /** The inner prefixes a tunnel owns. A server routes to (and accepts from)
   * the client's address (the whole pair prefix when it is a /64, since a
   * client may number more than one address in it) and its routed prefixes;
   * the server's own end of a /127 too, so that what arrives for it finds
   * the tunnel whose address it is (and goes to the server's own stack).
   * A client sends everything to its one tunnel and accepts any source. */
  private prefixesOf(t: Tunnel): Array<[ArrayLike<number>, number]> {
    if (this.mode === 'client') return [[new Uint32Array(4), 0]];
    const out: Array<[ArrayLike<number>, number]> = [];
    const server = t.words.subarray(0, 4);
    const client = t.words.subarray(4);
    if (t.spec.pairLength >= 127) out.push([client, 128], [server, 128]);
    else out.push([client, t.spec.pairLength]);
    for (const p of t.spec.routed) out.push([wordsOf(p.bytes), p.length]);
    return out;
  }

  /** Whether the address at b[off] is one of hostAddresses (a handful: a scan). */
  isHostAddress(b: Uint8Array, off: number): boolean {
    const h = this.hostAddresses;
    for (let i = 0; i < h.length; i += 4) if (addressIs(b, off, h, i)) return true;
    return false;
  }

  /** Sum of every counter, for "packets in = forwarded + dropped" checks. */
  allCounters(): Counters[] {
    return [this.global, ...this.tunnels.filter((t): t is Tunnel => t !== null).map((t) => t.counters)];
  }
}
