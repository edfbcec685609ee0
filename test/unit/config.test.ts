// Configuration: valid files parse; every bad one names file, line, field and what is expected.
import { describe, expect, it } from 'vitest';
import { ConfigError, carries, parseConfig, type ServerConfig, type ClientConfig } from '../../src/config/config.js';
import { Rng } from '../support/rng.js';
import { configWarnings } from '../../src/config/warnings.js';

const SERVER = `mode: server
interface: sixtun0
local_ipv4: 203.0.113.1
external_interface: eth0
mtu: 1480
ttl: 255
ndp: userspace
control_socket: /run/sixtun/sixtun0.sock
tunnels:
  - name: home
    client_ipv4: 198.51.100.2
    server_ipv6: 2001:db8:ff::2/127
    client_ipv6: 2001:db8:ff::3
    routed_prefixes: [2001:db8:100::/64]
  - name: office
    client_ipv4: 198.51.100.3
    server_ipv6: 2001:db8:ff::4/127
    client_ipv6: 2001:db8:ff::5
    routed_prefixes: [2001:db8:200::/48]
endpoint_ranges: [documentation]
`;

const CLIENT = `mode: client
interface: sixtun0
server_ipv4: 203.0.113.1
local_ipv4: 198.51.100.2
client_ipv6: 2001:db8:ff::3/127
server_ipv6: 2001:db8:ff::2
default_route: true
mtu: 1480
control_socket: /run/sixtun/sixtun0.sock
`;

function error(text: string): ConfigError {
  try {
    parseConfig(text, 'test.yaml');
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

describe('configuration', () => {
  it('parses the design’s server example', () => {
    const c = parseConfig(SERVER, 's.yaml') as ServerConfig;
    expect(c.mode).toBe('server');
    expect(c.tunnels.map((t) => [t.name, t.clientIpv4, t.clientIpv6, t.serverIpv6.length, t.routedPrefixes.length]))
      .toEqual([['home', '198.51.100.2', '2001:db8:ff::3', 127, 1], ['office', '198.51.100.3', '2001:db8:ff::5', 127, 1]]);
    expect([c.mtu, c.ttl, c.ndp, c.txQueueLen, c.pmtuDiscovery]).toEqual([1480, 255, 'userspace', 5000, true]);
  });

  it('routes only global unicast prefixes no longer than /64 to a client, unless told otherwise', () => {
    const withRouted = (list: string, extra = ''): string => SERVER.replace('routed_prefixes: [2001:db8:100::/64]', `routed_prefixes: [${list}]`) + extra;
    const e = error(withRouted('fe80::/64, ff0e::/16, fd00:1::/48, 2001:db8:100::/72, ::/0'));
    expect(e.message).toContain('test.yaml:14: tunnels[0].routed_prefixes[0]: fe80::/64 is not global unicast (2000::/3)');
    expect(e.message).toContain('tunnels[0].routed_prefixes[1]: ff0e::/16 is not global unicast');
    expect(e.message).toContain('tunnels[0].routed_prefixes[2]: fd00:1::/48 is unique local (fc00::/7): set allow_ula_routes: true');
    expect(e.message).toContain('tunnels[0].routed_prefixes[3]: 2001:db8:100::/72 is longer than /64: set max_routed_length');
    expect(e.message).toContain('tunnels[0].routed_prefixes[4]: ::/0 is not global unicast');
    const allowed = parseConfig(withRouted('fd00:1::/48, 2001:db8:100::/72', 'allow_ula_routes: true\nmax_routed_length: 80\n'), 's.yaml') as ServerConfig;
    expect(allowed.tunnels[0].routedPrefixes.map((p) => p.length)).toEqual([48, 72]);
  });

  it('refuses to drop to root or to nobody, and takes a uid as a number', () => {
    expect(error(CLIENT + 'user: nobody\n').message).toMatch(/test\.yaml:10: user: nobody is shared by unrelated services/);
    expect(error(CLIENT + 'user: 65534\n').message).toMatch(/user: nobody is shared/);
    expect(error(CLIENT + 'user: root\n').message).toMatch(/user: root keeps every privilege/);
    expect((parseConfig(CLIENT + 'user: 990\n', 'c.yaml') as ClientConfig).user).toBe('990');
  });

  it('reads a registry in etcd: endpoints, prefix, auth and TLS; no tunnels in the file then; a tunnel names its server', () => {
    const base = SERVER.slice(0, SERVER.indexOf('tunnels:'));
    const c = parseConfig(`${base}server_name: fra1\nserver_groups: [eu]\nstore: {etcd: {endpoints: ["https://10.0.0.1:2379"], username: u, password: p, tls: {ca: /etc/ca.pem}}}\n`, 's.yaml') as ServerConfig;
    expect([c.serverName, c.serverGroups, c.etcd]).toEqual(['fra1', ['eu'], { endpoints: ['https://10.0.0.1:2379'], prefix: '/sixtun/', username: 'u', password: 'p', tls: { ca: '/etc/ca.pem', cert: null, key: null } }]);
    expect(error(`${base}store: {etcd: {endpoints: []}}\n`).message).toMatch(/store\.etcd\.endpoints: expected at least one URL/);
    expect(error(`${base}store: {etcd: {endpoints: ["10.0.0.1:2379"]}}\n`).message).toMatch(/store\.etcd\.endpoints\[0\]: expected an http\(s\) URL/);
    expect(error(`${base}store: {etcd: {endpoints: ["http://a:1"], prefix: /x}}\n`).message).toMatch(/store\.etcd\.prefix: expected a key prefix ending in \//);
    expect(error(`${base}store: {etcd: {endpoints: ["http://a:1"], username: u}}\n`).message).toMatch(/store\.etcd\.password: is required with username/);
    expect(error(`${base}store: {etcd: {endpoints: ["http://a:1"], tls: {cert: /c.pem}}}\n`).message).toMatch(/store\.etcd\.tls\.key: cert and key go together/);
    expect(error(`${base}store: {etcd: {endpoints: ["https://a:1"], username: u, password: p, tls: {ca: /ca.pem, cert: /c.pem, key: /k.pem}}}\n`).message)
      .toMatch(/store\.etcd\.tls: cert and key do not go with username: etcd refuses a client certificate through its JSON gateway while auth is on/);
    expect((parseConfig(`${base}store: {etcd: {endpoints: ["https://a:1"], tls: {ca: /ca.pem, cert: /c.pem, key: /k.pem}}}\n`, 's.yaml') as ServerConfig).etcd?.tls).toEqual({ ca: '/ca.pem', cert: '/c.pem', key: '/k.pem' });
    expect(error(SERVER + 'store: {etcd: {endpoints: ["http://a:1"]}}\n').message).toMatch(/tunnels: with store\.etcd the tunnels live in etcd/);
    expect(error(`${base}server_name: "a b"\n`).message).toMatch(/server_name: expected 1 to 64 letters/);
    const withServer = parseConfig(SERVER.replace('    routed_prefixes: [2001:db8:100::/64]', '    routed_prefixes: [2001:db8:100::/64]\n    server: eu'), 's.yaml') as ServerConfig;
    expect(withServer.tunnels[0].server).toBe('eu');
    expect(carries({ ...withServer, serverName: 'x', serverGroups: ['eu'] }, withServer.tunnels[0])).toBe(true);
    expect(carries({ ...withServer, serverName: 'x', serverGroups: [] }, withServer.tunnels[0])).toBe(false);
    expect(carries(withServer, withServer.tunnels[1])).toBe(true);
  });

  it('parses the design’s client example with defaults', () => {
    const c = parseConfig(CLIENT, 'c.yaml') as ClientConfig;
    expect([c.serverIpv4, c.localIpv4, c.serverIpv6, c.clientIpv6.length, c.defaultRoute]).toEqual(['203.0.113.1', '198.51.100.2', '2001:db8:ff::2', 127, true]);
    const noLocal = parseConfig(CLIENT.replace('local_ipv4: 198.51.100.2\n', ''), 'c.yaml') as ClientConfig;
    expect(noLocal.localIpv4).toBeNull();
  });

  it('accepts ttl inherit and tos inherit', () => {
    const c = parseConfig(CLIENT.replace('mtu: 1480', 'mtu: 1280\nttl: inherit\ntos: inherit'), 'c.yaml');
    expect([c.mtu, c.ttl, c.tosInherit]).toEqual([1280, 0, true]);
  });

  const bad: Array<[string, string, number | null, string, RegExp]> = [
    ['MTU out of range', SERVER.replace('mtu: 1480', 'mtu: 1500'), 5, 'mtu', /1280 to 1480/],
    ['bad IPv4', SERVER.replace('client_ipv4: 198.51.100.2', 'client_ipv4: 198.51.100.256'), 11, 'tunnels[0].client_ipv4', /IPv4 address/],
    ['prefix not aligned', SERVER.replace('[2001:db8:100::/64]', '[2001:db8:100::1/64]'), 14, 'tunnels[0].routed_prefixes[0]', /host bits/],
    ['overlapping prefixes', SERVER.replace('[2001:db8:200::/48]', '[2001:db8:100::/48]'), 19, 'tunnels[1].routed_prefixes[0]', /overlaps 2001:db8:100::\/64/],
    ['duplicate remote', SERVER.replace('client_ipv4: 198.51.100.3', 'client_ipv4: 198.51.100.2'), 16, 'tunnels[1].client_ipv4', /duplicate remote IPv4/],
    ['duplicate name', SERVER.replace('name: office', 'name: home'), 15, 'tunnels[1].name', /duplicate tunnel name/],
    ['overlapping pairs', SERVER.replace('2001:db8:ff::4/127', '2001:db8:ff::2/127').replace('client_ipv6: 2001:db8:ff::5', 'client_ipv6: 2001:db8:ff::3'), 17, 'tunnels[1].server_ipv6', /overlaps/],
    ['client outside pair', SERVER.replace('client_ipv6: 2001:db8:ff::3', 'client_ipv6: 2001:db8:ff::9'), 13, 'tunnels[0].client_ipv6', /inside the pair 2001:db8:ff::2\/127/],
    ['pair length', SERVER.replace('2001:db8:ff::2/127', '2001:db8:ff::2/120'), 12, 'tunnels[0].server_ipv6', /\/64 or \/127/],
    ['unknown field', SERVER.replace('ttl: 255', 'tll: 255'), 6, 'tll', /unknown field/],
    ['missing mode', SERVER.replace('mode: server\n', ''), null, 'mode', /required/],
    ['ndp without external interface', SERVER.replace('external_interface: eth0\n', ''), null, 'external_interface', /required when ndp is userspace/],
    ['bad ttl', CLIENT.replace('mtu: 1480', 'ttl: 0'), 8, 'ttl', /1\.\.255 or inherit/],
    ['bad yaml', 'mode: [server\n', 2, '(yaml)', /Flow sequence/],
    ['server not in client pair', CLIENT.replace('server_ipv6: 2001:db8:ff::2', 'server_ipv6: 2001:db8:ff::7'), 6, 'server_ipv6', /inside the pair/],
  ];
  for (const [what, text, line, field, expected] of bad) {
    it(`refuses ${what} with file, line, field and what is expected`, () => {
      const e = error(text);
      expect(e.file).toBe('test.yaml');
      expect(e.field).toBe(field);
      if (line !== null) expect(e.line).toBe(line);
      expect(e.expected).toMatch(expected);
      expect(e.message).toContain(`test.yaml${e.line !== null ? `:${e.line}` : ''}: ${field}:`);
    });
  }
});

describe('configuration errors, all at once', () => {
  it('names an unknown key with its line and the field it was probably meant to be, instead of a missing field', () => {
    const e = error(SERVER.replace('local_ipv4: 203.0.113.1', 'local_ipv44: 203.0.113.1'));
    expect(e.message).toBe('test.yaml:3: local_ipv44: unknown field (did you mean local_ipv4?)');
  });

  it('lists the known fields when nothing is close', () => {
    const e = error(CLIENT + 'frobnication: 3\n');
    expect(e.message).toMatch(/^test\.yaml:10: frobnication: unknown field \(known here: .*server_ipv4.*\)$/);
  });

  it('reports every error of the file, ordered by line, tunnels included', () => {
    const text = SERVER
      .replace('mtu: 1480', 'mtu: 9000')
      .replace('ttl: 255', 'ttl: 0')
      .replace('    client_ipv4: 198.51.100.3', '    client_ipv4: 198.51.100.300\n    routed_prefix: [2001:db8:200::/48]');
    const e = error(text);
    expect(e.message.split('\n')).toEqual([
      'test.yaml: 4 errors:',
      '  test.yaml:5: mtu: expected an integer from 1280 to 1480, got 9000',
      '  test.yaml:6: ttl: expected 1..255 or inherit, got 0',
      '  test.yaml:16: tunnels[1].client_ipv4: expected an IPv4 address such as 203.0.113.1, got "198.51.100.300"',
      '  test.yaml:17: tunnels[1].routed_prefix: unknown field (did you mean routed_prefixes?)',
    ]);
    // The first error stays readable as one ConfigError.
    expect([e.line, e.field]).toEqual([5, 'mtu']);
  });

  it('a bad tunnel hides no other tunnel’s errors: the cross-tunnel rules run among the whole ones', () => {
    const text = SERVER.replace('endpoint_ranges: [documentation]\n', '').replace('client_ipv4: 198.51.100.2', 'client_ipv4: 198.51.100.999')
      + '  - name: office\n    client_ipv4: 198.51.100.3\n    server_ipv6: 2001:db8:ff::6/127\n    client_ipv6: 2001:db8:ff::7\n'
      + 'endpoint_ranges: [documentation]\n';
    const lines = error(text).message.split('\n');
    expect(lines[0]).toBe('test.yaml: 3 errors:');
    expect(lines[1]).toMatch(/tunnels\[0\]\.client_ipv4: expected an IPv4 address/);
    // Named against the list position of the earlier tunnel, with nothing dangling.
    expect(lines[2]).toMatch(/tunnels\[2\]\.name: duplicate tunnel name office \(also tunnels\[1\]\)$/);
    expect(lines[3]).toMatch(/tunnels\[2\]\.client_ipv4: duplicate remote IPv4 198\.51\.100\.3 \(also tunnels\[1\]\.client_ipv4\)$/);
  });

  it('one endpoint rule: client_ipv4 never loopback, "this network", multicast or broadcast; private only with endpoint_ranges', () => {
    for (const [ip, why] of [['127.0.0.1', 'loopback'], ['0.0.0.0', '"this network"'], ['224.0.0.5', 'multicast'], ['255.255.255.255', 'broadcast']]) {
      const e = error(SERVER.replace('client_ipv4: 198.51.100.2', `client_ipv4: ${ip}`).replace('endpoint_ranges: [documentation]', 'endpoint_ranges: [documentation, private, benchmarking]'));
      expect([e.field, e.message]).toEqual(['tunnels[0].client_ipv4', expect.stringContaining(`${ip} is ${why}`)]);
    }
    const home = SERVER.replace('client_ipv4: 198.51.100.2', 'client_ipv4: 192.168.1.20');
    expect(error(home).message).toContain('tunnels[0].client_ipv4: 192.168.1.20 is private (192.168/16): allowed only with endpoint_ranges: [private]');
    expect(parseConfig(home.replace('endpoint_ranges: [documentation]', 'endpoint_ranges: [documentation, private]'), 'x.yaml').mode).toBe('server');
    expect(error(SERVER.replace('endpoint_ranges: [documentation]', 'endpoint_ranges: [lan]')).message).toMatch(/endpoint_ranges\[0\]: expected one of private, documentation, benchmarking, got "lan"/);
    // The documentation ranges too (tests and demos list them).
    expect(error(SERVER.replace('endpoint_ranges: [documentation]\n', '')).field).toBe('tunnels[0].client_ipv4');
  });

  it('warns when local_ipv4 makes update do nothing', () => {
    const update = 'update: {url: "http://203.0.113.1:8080/nic/update?hostname=home", user: home, key: "K"}\n';
    expect(configWarnings(parseConfig(CLIENT + update, 'c.yaml'))).toEqual([expect.stringMatching(/^c\.yaml: update is never used: local_ipv4 fixes/)]);
    expect(configWarnings(parseConfig(CLIENT.replace('local_ipv4: 198.51.100.2\n', '') + update, 'c.yaml'))).toEqual([]);
  });

  it('a YAML error on an unquoted address says to quote it', () => {
    const e = error(CLIENT.replace('server_ipv6: 2001:db8:ff::2', 'server_ipv6: 2001:db8:ff::').replace('client_ipv6: 2001:db8:ff::3/127', 'client_ipv6: "2001:db8:ff::1/127"'));
    expect(e.message).toContain('(quote the value: server_ipv6: "2001:db8:ff::"');
  });

  it('finds overlapping prefixes like a pairwise comparison does, for random tunnel sets (seeded)', () => {
    const rng = new Rng(0x5eed);
    const outcomes = { overlap: 0, clean: 0 };
    for (let round = 0; round < 200; round++) {
      const n = 2 + rng.int(12);
      const tunnels: string[] = [];
      const prefixes: Array<[number, number, string]> = [];
      for (let i = 0; i < n; i++) {
        // Small address space so that overlaps are common: 2001:db8:X::/L with X < 16.
        const routed = Array.from({ length: rng.int(3) }, () => {
          // Few distinct bits around the lengths in use, so that overlaps are common.
          const len = [44, 48, 52, 56, 64][rng.int(5)];
          let value = (0x20010db8n << 96n) | (BigInt(0x100 | (rng.int(4) << 4)) << 80n) | (BigInt(rng.int(4) << 12 | rng.int(2) << 8) << 64n);
          value &= ((1n << BigInt(len)) - 1n) << BigInt(128 - len);
          const groups = Array.from({ length: 8 }, (_, g) => ((value >> BigInt(112 - 16 * g)) & 0xffffn).toString(16));
          return `${groups.join(':')}/${len}`;
        });
        tunnels.push(`  - name: t${i}\n    client_ipv4: 198.51.100.${i + 2}\n    server_ipv6: 2001:db8:ff::${(2 * i).toString(16)}/127\n    client_ipv6: 2001:db8:ff::${(2 * i + 1).toString(16)}\n    routed_prefixes: [${routed.join(', ')}]\n`);
        for (const p of routed) prefixes.push([i, 0, p]);
      }
      const text = SERVER.slice(0, SERVER.indexOf('tunnels:')) + 'endpoint_ranges: [documentation]\ntunnels:\n' + tunnels.join('');
      const naive = prefixes.some(([, , p], k) => prefixes.some(([, , q], m) => m !== k && overlapsNaive(p, q)));
      let threw = false;
      try {
        parseConfig(text, 't.yaml');
      } catch (e) {
        expect(e).toBeInstanceOf(ConfigError);
        expect((e as Error).message).toMatch(/overlaps/);
        threw = true;
      }
      expect(threw, text).toBe(naive);
      outcomes[naive ? 'overlap' : 'clean']++;
    }
    // Both kinds of set were tried.
    expect(Math.min(outcomes.overlap, outcomes.clean)).toBeGreaterThan(30);
  });
});

/** Pairwise reference: one prefix contains the other's first address. */
function overlapsNaive(a: string, b: string): boolean {
  const bits = (p: string): [bigint, number] => {
    const [addr, len] = p.split('/');
    const groups = addr.split(':').map((g) => BigInt(parseInt(g, 16)));
    let v = 0n;
    for (let i = 0; i < 8; i++) v = (v << 16n) | (groups[i] ?? 0n);
    return [v, Number(len)];
  };
  const [va, la] = bits(a);
  const [vb, lb] = bits(b);
  const l = Math.min(la, lb);
  return va >> BigInt(128 - l) === vb >> BigInt(128 - l);
}

describe('client LAN options', () => {
  it('lan_interface with lan_address turns forwarding on; forwarding alone is allowed', () => {
    const c = parseConfig(CLIENT + 'lan_interface: eth1\nlan_address: 2001:db8:100::1/64\n', 'c.yaml') as ClientConfig;
    expect([c.forwarding, c.lan?.interface, c.lan?.address.length]).toEqual([true, 'eth1', 64]);
    const f = parseConfig(CLIENT + 'forwarding: true\n', 'c.yaml') as ClientConfig;
    expect([f.forwarding, f.lan]).toEqual([true, null]);
    expect((parseConfig(CLIENT, 'c.yaml') as ClientConfig).forwarding).toBe(false);
  });

  it('one without the other, or forwarding off with a LAN, is refused', () => {
    expect(error(CLIENT + 'lan_interface: eth1\n').message).toBe('test.yaml:10: lan_interface: needs lan_address too: the LAN interface’s address in your routed prefix, e.g. 2001:db8:100::1/64');
    expect(error(CLIENT + 'lan_address: 2001:db8:100::1/64\n').message).toMatch(/^test\.yaml:10: lan_address: needs lan_interface too/);
    expect(error(CLIENT + 'lan_interface: eth1\nlan_address: 2001:db8:100::1/64\nforwarding: false\n').message).toBe('test.yaml:12: forwarding: must be true with lan_interface: the client forwards between the tunnel and the LAN');
  });
});

describe('pools', () => {
  const base = 'mode: server\nendpoint_ranges: [documentation, benchmarking]\nlocal_ipv4: 203.0.113.1\nndp: off\n';
  it('reads the pools and the pair length', () => {
    const c = parseConfig(base + 'pools: {pairs: 2001:db8:ff00::/40, routed64: 2001:db8:1000::/36, routed48: 2001:db8:4000::/34}\n', 'p.yaml') as ServerConfig;
    expect([c.pools.pairs?.length, c.pools.pairLength, c.pools.routed64?.length, c.pools.routed48?.length]).toEqual([40, 127, 36, 34]);
    expect((parseConfig(base, 'p.yaml') as ServerConfig).pools).toEqual({ pairs: null, pairLength: 127, routed64: null, routed48: null });
  });

  it('refuses pools that overlap, that are too long for what they give, or are not prefixes', () => {
    expect(error(base + 'pools:\n  pairs: 2001:db8:ff00::/40\n  routed64: 2001:db8:ff00::/44\n').message).toBe('test.yaml:7: pools.routed64: 2001:db8:ff00::/44 overlaps pools.pairs 2001:db8:ff00::/40');
    expect(error(base + 'pools: {routed48: 2001:db8:8000::/48}\n').message).toMatch(/pools\.routed48: expected a prefix shorter than \/48, got \/48/);
    expect(error(base + 'pools: {pairs: 2001:db8::1}\n').message).toMatch(/pools\.pairs: expected an IPv6 prefix such as 2001:db8:ff00::\/40/);
  });
});
