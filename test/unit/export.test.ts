// sixtun's own export format: valid YAML a sixtun client takes as it is,
// whatever the addresses look like (2001:db8:ff00:: needs quotes), with what
// lets the client follow its own address changes.
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseConfig, type ClientConfig } from '../../src/config/config.js';
import { renderExport, type ExportedTunnel } from '../../src/control/export.js';

const FIRST_OF_POOL: ExportedTunnel = {
  name: 'alice', serverIpv4: '203.0.113.1', clientIpv4: '198.51.100.2', serverIpv6: '2001:db8:ff00::', clientIpv6: '2001:db8:ff00::1',
  pairLength: 127, routedPrefixes: ['2001:db8:1000::/64'], mtu: 1480, ttl: 255, updateUrl: 'http://203.0.113.1:8080/nic/update?hostname=alice', user: 'alice',
};

describe('export --format sixtun', () => {
  it('the first pair of a /127 pool (an address ending in ::) is a valid client configuration, with an update block and no local_ipv4', () => {
    const text = renderExport(FIRST_OF_POOL, 'sixtun', 'SECRET');
    const cfg = parseConfig(text, 'client.yaml') as ClientConfig;
    expect([cfg.mode, cfg.serverIpv6, cfg.clientIpv6.length, cfg.localIpv4]).toEqual(['client', '2001:db8:ff00::', 127, null]);
    expect(cfg.update).toEqual({ url: FIRST_OF_POOL.updateUrl, user: 'alice', key: 'SECRET' });
    expect(text).toContain('# Routed to you: 2001:db8:1000::/64');
  });

  it('without a key: a placeholder and how to get it; without the server’s update API: no update block', () => {
    const text = renderExport(FIRST_OF_POOL, 'sixtun');
    expect(text).toMatch(/# key: the update key `sixtun tunnel key alice` showed/);
    expect((parse(text) as { update: { key: string } }).update.key).toBe('KEY');
    const plain = renderExport({ ...FIRST_OF_POOL, updateUrl: null }, 'sixtun');
    expect(parse(plain)).not.toHaveProperty('update');
    expect(parseConfig(plain, 'client.yaml').mode).toBe('client');
  });
});
