// The rules across tunnels (unique names and endpoints, no overlapping
// prefixes), kept as an index that one change is checked against in
// O(log n): a broker with 10^5 tunnels validates `tunnel add` without looking
// at the others. Prefixes are nested or disjoint, so a new prefix overlaps an
// existing one exactly when one of its ancestors is there (a lookup per prefix
// length in use) or an existing prefix starts inside it (a binary search).
import { formatPrefix, hex128, lastAddress, maskBytes, type IpPrefix } from '../wire/address.js';
import { ENDPOINT_RANGE_CLASSES, endpointProblem } from './endpoint.js';
import { routedPrefixProblem, type ServerConfig, type TunnelConfig } from './config.js';

/** A prefix a tunnel holds, as stored (~150 bytes; 10^5 tunnels hold two
 * each): its first address as 32 hex digits (string order is address
 * order), its length, its tunnel, and its field (-1: server_ipv6, k:
 * routed_prefixes[k]). */
interface Held {
  start: string;
  length: number;
  tunnel: string;
  field: number;
}

/** A prefix being checked, whole. */
interface Probe extends Held {
  end: string;
  prefix: IpPrefix;
}

/** The inner space a tunnel holds: its pair (field -1) and its routed prefixes. */
export function spacesOf(t: TunnelConfig): Array<{ prefix: IpPrefix; field: number }> {
  const pair = { ...t.serverIpv6, bytes: maskBytes(t.serverIpv6.bytes, t.serverIpv6.length) };
  return [{ prefix: pair, field: -1 }, ...t.routedPrefixes.map((p, k) => ({ prefix: p, field: k }))];
}

function fieldName(field: number): string {
  return field < 0 ? 'server_ipv6' : `routed_prefixes[${field}]`;
}

function probeOf(prefix: IpPrefix, tunnel: string, field: number): Probe {
  return { start: hex128(maskBytes(prefix.bytes, prefix.length)), end: hex128(lastAddress(prefix)), length: prefix.length, prefix, tunnel, field };
}

function prefixOf(h: Held): IpPrefix {
  return { family: 6, bytes: Uint8Array.from(h.start.match(/../g)!, (x) => parseInt(x, 16)), length: h.length };
}

function toBig(bytes: Uint8Array): bigint {
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return v;
}

function fromBig(v: bigint): Uint8Array {
  const out = new Uint8Array(16);
  for (let i = 15; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

const byStart = (a: Held, b: Held): number => (a.start < b.start ? -1 : a.start > b.start ? 1 : a.length - b.length);

/** A conflict of one tunnel with the others: its field and what is wrong. */
export interface Conflict {
  field: string;
  message: string;
}

export class TunnelIndex {
  private readonly names = new Map<string, TunnelConfig>();
  private readonly remotes = new Map<string, string>();
  /** Per prefix length in use, the prefixes of that length by first address. */
  private readonly exact = new Map<number, Map<string, Held>>();
  private sorted: Held[] = [];
  /** Where each pool's next allocation starts looking. */
  private readonly cursors = new Map<string, bigint>();

  constructor(tunnels: TunnelConfig[] = []) {
    for (const t of tunnels) {
      this.names.set(t.name, t);
      this.remotes.set(t.clientIpv4, t.name);
      for (const s of spacesOf(t)) {
        const h = this.stored(s.prefix, t.name, s.field);
        this.sorted.push(h);
      }
    }
    this.sorted.sort(byStart);
  }

  get size(): number {
    return this.names.size;
  }

  get(name: string): TunnelConfig | undefined {
    return this.names.get(name);
  }

  all(): IterableIterator<TunnelConfig> {
    return this.names.values();
  }

  /** The tunnel whose endpoint is ipv4, if any. */
  holderOf(ipv4: string): string | undefined {
    return this.remotes.get(ipv4);
  }

  /** A held prefix, entered in the exact map (not yet in sorted). */
  private stored(prefix: IpPrefix, tunnel: string, field: number): Held {
    const h: Held = { start: hex128(maskBytes(prefix.bytes, prefix.length)), length: prefix.length, tunnel, field };
    let m = this.exact.get(h.length);
    if (!m) this.exact.set(h.length, (m = new Map()));
    m.set(h.start, h);
    return h;
  }

  /** Where h would go (the first entry not before it). */
  private lowerBound(h: Held): number {
    let lo = 0;
    let hi = this.sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (byStart(this.sorted[mid], h) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** An existing prefix that overlaps p, not held by tunnel `except`. */
  private overlapping(p: IpPrefix, except: string | null): Held | null {
    const e = probeOf(p, '', -1);
    for (const [len, m] of this.exact) {
      if (len > p.length) continue;
      const a = m.get(hex128(maskBytes(p.bytes, len)));
      if (a && a.tunnel !== except) return a;
    }
    for (let i = this.lowerBound(e); i < this.sorted.length && this.sorted[i].start <= e.end; i++) {
      if (this.sorted[i].tunnel !== except) return this.sorted[i];
    }
    return null;
  }

  /** The first free prefix of `length` inside pool at or after the pool's
   * cursor (wrapping around once): free means no tunnel's prefix overlaps it.
   * Each step jumps past the prefix in the way, so a pool filled in order
   * costs one step; null when the pool is full. */
  allocate(pool: IpPrefix, length: number): IpPrefix | null {
    const size = 1n << BigInt(128 - length);
    const first = toBig(maskBytes(pool.bytes, pool.length));
    const end = first + (1n << BigInt(128 - pool.length));
    const key = `${formatPrefix(pool)}/${length}`;
    const start = this.cursors.get(key) ?? first;
    for (const [from, to] of [[start, end], [first, start]] as const) {
      let c = from;
      while (c + size <= to) {
        const candidate = { family: 6 as const, bytes: fromBig(c), length };
        const other = this.overlapping(candidate, null);
        if (other === null) {
          this.cursors.set(key, c + size);
          return candidate;
        }
        // Past the prefix in the way, aligned up to the size wanted.
        const past = toBig(lastAddress(prefixOf(other))) + 1n;
        c = ((past > c + size ? past : c + size) + size - 1n) / size * size;
      }
    }
    return null;
  }

  /** What stops t from joining (or replacing the tunnel of its name), or null. */
  conflict(t: TunnelConfig, localIpv4: string, policy: Partial<Pick<ServerConfig, 'allowUlaRoutes' | 'maxRoutedLength' | 'endpointRanges'>> = {}): Conflict | null {
    const replacing = this.names.has(t.name) ? t.name : null;
    const holder = this.remotes.get(t.clientIpv4);
    if (holder !== undefined && holder !== replacing) return { field: 'client_ipv4', message: `duplicate remote IPv4 ${t.clientIpv4} (also tunnel ${holder})` };
    if (t.clientIpv4 === localIpv4) return { field: 'client_ipv4', message: 'must not be the server’s own local_ipv4' };
    // Without a policy (a registry's own checks): every range a server may allow.
    const endpoint = endpointProblem(t.clientIpv4, policy.endpointRanges ?? ENDPOINT_RANGE_CLASSES);
    if (endpoint) return { field: 'client_ipv4', message: `${t.clientIpv4} is ${endpoint}` };
    for (const [k, p] of t.routedPrefixes.entries()) {
      const problem = routedPrefixProblem(p, policy);
      if (problem) return { field: fieldName(k), message: problem };
    }
    const mine = spacesOf(t).map((s) => probeOf(s.prefix, t.name, s.field));
    for (const [k, m] of mine.entries()) {
      const other = this.overlapping(m.prefix, replacing);
      if (other) return { field: fieldName(m.field), message: `${formatPrefix(m.prefix)} overlaps ${formatPrefix(prefixOf(other))} (${fieldName(other.field)} of tunnel ${other.tunnel})` };
      const own = mine.slice(0, k).find((o) => o.start <= m.end && m.start <= o.end);
      if (own) return { field: fieldName(m.field), message: `${formatPrefix(m.prefix)} overlaps ${formatPrefix(own.prefix)} (${fieldName(own.field)})` };
    }
    return null;
  }

  /** Adds t, or replaces the tunnel of its name (checked with conflict() first). */
  put(t: TunnelConfig): void {
    this.remove(t.name);
    this.names.set(t.name, t);
    this.remotes.set(t.clientIpv4, t.name);
    for (const s of spacesOf(t)) {
      const h = this.stored(s.prefix, t.name, s.field);
      this.sorted.splice(this.lowerBound(h), 0, h);
    }
  }

  remove(name: string): void {
    const t = this.names.get(name);
    if (!t) return;
    this.names.delete(name);
    if (this.remotes.get(t.clientIpv4) === name) this.remotes.delete(t.clientIpv4);
    for (const s of spacesOf(t)) {
      const e = probeOf(s.prefix, name, s.field);
      const m = this.exact.get(e.length);
      if (m?.get(e.start)?.tunnel === name) {
        m.delete(e.start);
        if (m.size === 0) this.exact.delete(e.length);
      }
      for (let i = this.lowerBound(e); i < this.sorted.length && this.sorted[i].start === e.start; i++) {
        if (this.sorted[i].tunnel === name && this.sorted[i].length === e.length) {
          this.sorted.splice(i, 1);
          break;
        }
      }
    }
  }
}
