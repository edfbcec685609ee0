// Prometheus exposition at scale: aggregate series always, per-tunnel series
// for all tunnels, none, or the busiest N.
import { describe, expect, it } from 'vitest';
import { renderMetrics } from '../../src/control/metrics.js';
import { DatapathTables } from '../../src/datapath/tables.js';
import { tunnelSpecs } from '../../src/control/daemon.js';
import { parseConfig, type ServerConfig } from '../../src/config/config.js';
import { parseIpv4Address } from '../../src/wire/ipv4.js';

function tables(n: number): DatapathTables {
  const tunnels = Array.from({ length: n }, (_, i) => `  - name: t${i}\n    client_ipv4: 198.51.100.${i + 2}\n    server_ipv6: 2001:db8:ff::${(2 * i).toString(16)}/127\n    client_ipv6: 2001:db8:ff::${(2 * i + 1).toString(16)}\n`).join('');
  const cfg = parseConfig(`mode: server\nendpoint_ranges: [documentation]\nlocal_ipv4: 203.0.113.1\nndp: off\ntunnels:\n${tunnels}`, 'm.yaml') as ServerConfig;
  const t = new DatapathTables('server', parseIpv4Address('203.0.113.1'));
  for (const spec of tunnelSpecs(cfg, '203.0.113.1')) t.add(spec);
  // Tunnel i moved i * 100 bytes each way and i packets.
  for (const [i, tunnel] of [...t.byName.values()].entries()) {
    Object.assign(tunnel.counters, { txPackets: i, rxPackets: i, txBytes: i * 100, rxBytes: i * 100 });
  }
  return t;
}

const series = (text: string, name: string): string[] => text.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));

describe('metrics', () => {
  it('aggregates all tunnels whatever the per-tunnel choice', () => {
    for (const mode of [{ mode: 'all' }, { mode: 'none' }, { mode: 'top', count: 2 }] as const) {
      const text = renderMetrics(tables(5), null, 0, null, mode);
      expect(series(text, 'sixtun_tunnels')).toEqual(['sixtun_tunnels 5']);
      expect(series(text, 'sixtun_rx_packets_total')).toEqual(['sixtun_rx_packets_total 10']);
      expect(series(text, 'sixtun_tx_bytes_total')).toEqual(['sixtun_tx_bytes_total 1000']);
    }
  });

  it('per_tunnel: all, none, or the busiest N', () => {
    expect(series(renderMetrics(tables(5), null, 0, null, { mode: 'all' }), 'sixtun_tunnel_rx_bytes_total')).toHaveLength(5);
    expect(series(renderMetrics(tables(5), null, 0, null, { mode: 'none' }), 'sixtun_tunnel_rx_bytes_total')).toEqual([]);
    expect(series(renderMetrics(tables(5), null, 0, null, { mode: 'top', count: 2 }), 'sixtun_tunnel_rx_bytes_total'))
      .toEqual(['sixtun_tunnel_rx_bytes_total{tunnel="t4"} 400', 'sixtun_tunnel_rx_bytes_total{tunnel="t3"} 300']);
  });

  it('the config says which', () => {
    const base = 'mode: server\nlocal_ipv4: 203.0.113.1\nndp: off\nmetrics:\n  listen: "[::1]:9641"\n';
    expect((parseConfig(base, 'm.yaml') as ServerConfig).metrics?.perTunnel).toEqual({ mode: 'all' });
    expect((parseConfig(base + '  per_tunnel: false\n', 'm.yaml') as ServerConfig).metrics?.perTunnel).toEqual({ mode: 'none' });
    expect((parseConfig(base + '  top: 50\n', 'm.yaml') as ServerConfig).metrics?.perTunnel).toEqual({ mode: 'top', count: 50 });
    expect(() => parseConfig(base + '  per_tunnel: false\n  top: 5\n', 'm.yaml')).toThrow(/metrics\.top: goes with per_tunnel: true/);
  });
});
