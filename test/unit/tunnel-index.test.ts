// The incremental check of one tunnel against the others agrees with the
// check of the whole set (seeded), through adds, replacements and removals.
import { describe, expect, it } from 'vitest';
import { TunnelIndex } from '../../src/config/tunnel-index.js';
import { checkTunnelSet, tunnelFromRecord, type ServerConfig, type TunnelConfig } from '../../src/config/config.js';
import { Rng } from '../support/rng.js';
import { formatIp, formatPrefix, parsePrefix, type IpPrefix } from '../../src/wire/address.js';

function randomTunnel(rng: Rng, name: string): TunnelConfig {
  // A small space, so that conflicts are common.
  const pair = rng.int(24) * 2;
  const routed = Array.from({ length: rng.int(3) }, () => {
    const len = [48, 52, 56, 64][rng.int(4)];
    let v = (0x20010db8n << 96n) | (BigInt(0x100 | rng.int(4)) << 80n) | (BigInt(rng.int(4) << 12 | rng.int(2) << 8) << 64n);
    v &= ((1n << BigInt(len)) - 1n) << BigInt(128 - len);
    return `${Array.from({ length: 8 }, (_, g) => ((v >> BigInt(112 - 16 * g)) & 0xffffn).toString(16)).join(':')}/${len}`;
  });
  return tunnelFromRecord({
    name, client_ipv4: `198.51.100.${2 + rng.int(30)}`, server_ipv6: `2001:db8:ff::${pair.toString(16)}/127`,
    client_ipv6: `2001:db8:ff::${(pair + 1).toString(16)}`, routed_prefixes: routed,
  }, 'random', null);
}

/** Whether the whole set holds a conflict (the check a configuration file gets). */
function setConflicts(tunnels: TunnelConfig[]): boolean {
  let bad = false;
  checkTunnelSet({ localIpv4: '203.0.113.1', endpointRanges: ['documentation'], tunnels } as ServerConfig, () => { bad = true; });
  return bad;
}

describe('tunnel index', () => {
  it('accepts exactly what the whole-set check accepts, change after change (seeded)', () => {
    const rng = new Rng(0x1d3);
    let accepted = 0;
    let refused = 0;
    for (let round = 0; round < 40; round++) {
      const index = new TunnelIndex();
      const live = new Map<string, TunnelConfig>();
      for (let step = 0; step < 30; step++) {
        if (live.size > 0 && rng.int(4) === 0) {
          const name = [...live.keys()][rng.int(live.size)];
          index.remove(name);
          live.delete(name);
          continue;
        }
        // A new tunnel, or a new version of an existing one.
        const name = live.size > 0 && rng.int(3) === 0 ? [...live.keys()][rng.int(live.size)] : `t${round}-${step}`;
        const t = randomTunnel(rng, name);
        const others = [...live.values()].filter((x) => x.name !== name);
        const whole = setConflicts([...others, t]);
        const conflict = index.conflict(t, '203.0.113.1');
        expect(conflict !== null, `${name}: ${conflict?.message}`).toBe(whole);
        if (conflict === null) {
          index.put(t);
          live.set(name, t);
          accepted++;
        } else refused++;
      }
      expect(index.size).toBe(live.size);
    }
    expect(Math.min(accepted, refused)).toBeGreaterThan(100);
  });

  it('names the field, the other tunnel and its field', () => {
    const a = tunnelFromRecord({ name: 'a', client_ipv4: '198.51.100.2', server_ipv6: '2001:db8:ff::2/127', client_ipv6: '2001:db8:ff::3', routed_prefixes: ['2001:db8:100::/48'] }, 'x', null);
    const index = new TunnelIndex([a]);
    const inside = tunnelFromRecord({ name: 'b', client_ipv4: '198.51.100.3', server_ipv6: '2001:db8:ff::4/127', client_ipv6: '2001:db8:ff::5', routed_prefixes: ['2001:db8:100:7::/64'] }, 'x', null);
    expect(index.conflict(inside, '203.0.113.1')).toEqual({ field: 'routed_prefixes[0]', message: '2001:db8:100:7::/64 overlaps 2001:db8:100::/48 (routed_prefixes[0] of tunnel a)' });
    const sameRemote = tunnelFromRecord({ name: 'c', client_ipv4: '198.51.100.2', server_ipv6: '2001:db8:ff::6/127', client_ipv6: '2001:db8:ff::7' }, 'x', null);
    expect(index.conflict(sameRemote, '203.0.113.1')).toEqual({ field: 'client_ipv4', message: 'duplicate remote IPv4 198.51.100.2 (also tunnel a)' });
    // A new version of a is checked without the old one.
    const moved = tunnelFromRecord({ name: 'a', client_ipv4: '198.51.100.9', server_ipv6: '2001:db8:ff::2/127', client_ipv6: '2001:db8:ff::3', routed_prefixes: ['2001:db8:100::/48'] }, 'x', null);
    expect(index.conflict(moved, '203.0.113.1')).toBeNull();
  });
});

describe('allocation from pools', () => {
  const pool = (text: string): IpPrefix => parsePrefix(text, true);
  const tunnel = (name: string, pair: string, routed: string[] = []): TunnelConfig => {
    const p = parsePrefix(pair, false);
    const client = p.bytes.slice();
    client[15] |= 1;
    const n = Number(name.replace(/\D/g, '') || 0);
    return tunnelFromRecord({ name, client_ipv4: `198.18.${n >> 8}.${n & 0xff}`, server_ipv6: pair, client_ipv6: formatIp(client), routed_prefixes: routed }, 'x', null);
  };

  it('refuses a routed prefix that is not global unicast or too long, by the server’s policy', () => {
    const index = new TunnelIndex();
    const t = (routed: string): TunnelConfig => tunnelFromRecord({ name: 'x', client_ipv4: '198.51.100.9', server_ipv6: '2001:db8:ff::8/127', client_ipv6: '2001:db8:ff::9', routed_prefixes: [routed] }, 'j', null);
    expect(index.conflict(t('fe80::/64'), '203.0.113.1')).toMatchObject({ field: 'routed_prefixes[0]', message: expect.stringContaining('not global unicast') });
    expect(index.conflict(t('fd00::/48'), '203.0.113.1')?.message).toContain('unique local');
    expect(index.conflict(t('fd00::/48'), '203.0.113.1', { allowUlaRoutes: true })).toBeNull();
    expect(index.conflict(t('2001:db8:1::/96'), '203.0.113.1')?.message).toContain('longer than /64');
    expect(index.conflict(t('2001:db8:1::/96'), '203.0.113.1', { maxRoutedLength: 96 })).toBeNull();
  });

  it('takes the first free prefix, skips what is taken, reuses what is given back, and says when the pool is full', () => {
    const index = new TunnelIndex([tunnel('t1', '2001:db8:ff::2/127')]);
    const pairs = pool('2001:db8:ff::/125');
    const got: string[] = [];
    for (let i = 2; i <= 4; i++) {
      const p = index.allocate(pairs, 127)!;
      got.push(formatPrefix(p));
      index.put(tunnel(`t${i}`, formatPrefix(p)));
    }
    expect(got).toEqual(['2001:db8:ff::/127', '2001:db8:ff::4/127', '2001:db8:ff::6/127']);
    expect(index.allocate(pairs, 127)).toBeNull();
    index.remove('t3');
    expect(formatPrefix(index.allocate(pairs, 127)!)).toBe('2001:db8:ff::4/127');
    // A /64 pool past a /48 that covers part of it.
    const routed = new TunnelIndex([tunnel('t9', '2001:db8:ff::2/127', ['2001:db8:100::/56'])]);
    expect(formatPrefix(routed.allocate(pool('2001:db8:100::/48'), 64)!)).toBe('2001:db8:100:100::/64');
  });

  it('never hands out a prefix that overlaps one in use, through random takes and returns (seeded)', () => {
    const rng = new Rng(0xa110c);
    const index = new TunnelIndex();
    const pairs = pool('2001:db8:ff::/122');
    const live: string[] = [];
    for (let step = 0; step < 2000; step++) {
      if (live.length > 0 && rng.int(3) === 0) {
        index.remove(live.splice(rng.int(live.length), 1)[0]);
        continue;
      }
      const p = index.allocate(pairs, 127);
      if (p === null) {
        expect(live.length).toBe(32);
        continue;
      }
      const t = tunnel(`t${step}`, formatPrefix(p));
      expect(index.conflict(t, '203.0.113.1')).toBeNull();
      index.put(t);
      live.push(t.name);
    }
  });
});
