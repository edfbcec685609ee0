// The rules across tunnels (unique names and endpoints, no overlapping
// prefixes), kept as an index that one change is checked against in
// O(log n): a broker with 10^5 tunnels validates `tunnel add` without looking
// at the others. Prefixes are nested or disjoint, so a new prefix overlaps an
// existing one exactly when one of its ancestors is there (a lookup per prefix
// length in use) or an existing prefix starts inside it (a binary search).
import { formatPrefix, hex128, lastAddress, maskBytes, type IpPrefix } from '../wire/address.js';
import type { TunnelConfig } from './config.js';

interface Entry {
  start: string;
  end: string;
  length: number;
  prefix: IpPrefix;
  tunnel: string;
  /** The field that holds it: server_ipv6 or routed_prefixes[k]. */
  what: string;
}

/** The inner space a tunnel holds: its pair and its routed prefixes. */
export function spacesOf(t: TunnelConfig): Array<{ prefix: IpPrefix; what: string }> {
  const pair = { ...t.serverIpv6, bytes: maskBytes(t.serverIpv6.bytes, t.serverIpv6.length) };
  return [{ prefix: pair, what: 'server_ipv6' }, ...t.routedPrefixes.map((p, k) => ({ prefix: p, what: `routed_prefixes[${k}]` }))];
}

function entryOf(prefix: IpPrefix, tunnel: string, what: string): Entry {
  return { start: hex128(maskBytes(prefix.bytes, prefix.length)), end: hex128(lastAddress(prefix)), length: prefix.length, prefix, tunnel, what };
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

const byStart = (a: Entry, b: Entry): number => (a.start < b.start ? -1 : a.start > b.start ? 1 : a.length - b.length);

/** A conflict of one tunnel with the others: its field and what is wrong. */
export interface Conflict {
  field: string;
  message: string;
}

export class TunnelIndex {
  private readonly names = new Map<string, TunnelConfig>();
  private readonly remotes = new Map<string, string>();
  private readonly exact = new Map<string, Entry>();
  /** How many entries have each prefix length: the ancestor lookups to make. */
  private readonly lengths = new Map<number, number>();
  private sorted: Entry[] = [];
  /** Where each pool's next allocation starts looking. */
  private readonly cursors = new Map<string, bigint>();

  constructor(tunnels: TunnelConfig[] = []) {
    for (const t of tunnels) {
      this.names.set(t.name, t);
      this.remotes.set(t.clientIpv4, t.name);
      for (const s of spacesOf(t)) this.track(entryOf(s.prefix, t.name, s.what));
    }
    this.sorted.sort(byStart);
  }

  get size(): number {
    return this.names.size;
  }

  get(name: string): TunnelConfig | undefined {
    return this.names.get(name);
  }

  /** The tunnel whose endpoint is ipv4, if any. */
  holderOf(ipv4: string): string | undefined {
    return this.remotes.get(ipv4);
  }

  private track(e: Entry): void {
    this.exact.set(`${e.start}/${e.length}`, e);
    this.lengths.set(e.length, (this.lengths.get(e.length) ?? 0) + 1);
    this.sorted.push(e);
  }

  /** Where entry e would go (the first entry not before it). */
  private lowerBound(e: Entry): number {
    let lo = 0;
    let hi = this.sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (byStart(this.sorted[mid], e) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** An existing prefix that overlaps p, not held by tunnel `except`. */
  private overlapping(p: IpPrefix, except: string | null): Entry | null {
    const e = entryOf(p, '', '');
    for (const len of this.lengths.keys()) {
      if (len > p.length) continue;
      const a = this.exact.get(`${hex128(maskBytes(p.bytes, len))}/${len}`);
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
        const past = toBig(lastAddress(other.prefix)) + 1n;
        c = ((past > c + size ? past : c + size) + size - 1n) / size * size;
      }
    }
    return null;
  }

  /** What stops t from joining (or replacing the tunnel of its name), or null. */
  conflict(t: TunnelConfig, localIpv4: string): Conflict | null {
    const replacing = this.names.has(t.name) ? t.name : null;
    const holder = this.remotes.get(t.clientIpv4);
    if (holder !== undefined && holder !== replacing) return { field: 'client_ipv4', message: `duplicate remote IPv4 ${t.clientIpv4} (also tunnel ${holder})` };
    if (t.clientIpv4 === localIpv4) return { field: 'client_ipv4', message: 'must not be the server’s own local_ipv4' };
    const mine = spacesOf(t).map((s) => entryOf(s.prefix, t.name, s.what));
    for (const [k, m] of mine.entries()) {
      const other = this.overlapping(m.prefix, replacing);
      if (other) return { field: m.what, message: `${formatPrefix(m.prefix)} overlaps ${formatPrefix(other.prefix)} (${other.what} of tunnel ${other.tunnel})` };
      const own = mine.slice(0, k).find((o) => o.start <= m.end && m.start <= o.end);
      if (own) return { field: m.what, message: `${formatPrefix(m.prefix)} overlaps ${formatPrefix(own.prefix)} (${own.what})` };
    }
    return null;
  }

  /** Adds t, or replaces the tunnel of its name (checked with conflict() first). */
  put(t: TunnelConfig): void {
    this.remove(t.name);
    this.names.set(t.name, t);
    this.remotes.set(t.clientIpv4, t.name);
    for (const s of spacesOf(t)) {
      const e = entryOf(s.prefix, t.name, s.what);
      this.exact.set(`${e.start}/${e.length}`, e);
      this.lengths.set(e.length, (this.lengths.get(e.length) ?? 0) + 1);
      this.sorted.splice(this.lowerBound(e), 0, e);
    }
  }

  remove(name: string): void {
    const t = this.names.get(name);
    if (!t) return;
    this.names.delete(name);
    if (this.remotes.get(t.clientIpv4) === name) this.remotes.delete(t.clientIpv4);
    for (const s of spacesOf(t)) {
      const e = entryOf(s.prefix, name, s.what);
      const key = `${e.start}/${e.length}`;
      if (this.exact.get(key)?.tunnel === name) this.exact.delete(key);
      const n = (this.lengths.get(e.length) ?? 1) - 1;
      if (n > 0) this.lengths.set(e.length, n);
      else this.lengths.delete(e.length);
      for (let i = this.lowerBound(e); i < this.sorted.length && this.sorted[i].start === e.start; i++) {
        if (this.sorted[i].tunnel === name && this.sorted[i].length === e.length) {
          this.sorted.splice(i, 1);
          break;
        }
      }
    }
  }
}
