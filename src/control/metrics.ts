// Prometheus text exposition (format 0.0.4) of the daemon's counters, served
// over HTTP at /metrics when `metrics: {listen: ADDR:PORT}` is configured.
import { createServer, type Server } from 'node:http';
import { DROP_NAMES, Drop } from '../datapath/reasons.js';
import type { TunnelView } from '../datapath/tables.js';
import type { OffloadStats } from '../datapath/loop.js';
import type { NdpCounters } from '../ndp/responder.js';
import { NS_CHECK_NAMES } from '../wire/ndp.js';

function label(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

class Exposition {
  private readonly lines: string[] = [];

  family(name: string, type: 'counter' | 'gauge', help: string): void {
    this.lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  }

  sample(name: string, labels: Record<string, string>, value: number): void {
    const l = Object.entries(labels).map(([k, v]) => `${k}="${label(v)}"`).join(',');
    this.lines.push(`${name}${l ? `{${l}}` : ''} ${value}`);
  }

  text(): string {
    return this.lines.join('\n') + '\n';
  }
}

/** Which tunnels get series of their own: all, none, or the busiest N (by
 * bytes both ways). A broker with 10^5 tunnels keeps the scrape small with
 * `per_tunnel: false` or `top: N`; the aggregate series are always there. */
export type PerTunnelMetrics = { mode: 'all' } | { mode: 'none' } | { mode: 'top'; count: number };

export function renderMetrics(
  tables: TunnelView, ndp: Readonly<NdpCounters> | null, traceLost: number, offload: OffloadStats | null = null, perTunnelMode: PerTunnelMetrics = { mode: 'all' },
): string {
  const e = new Exposition();
  const all = [...tables.byName.values()];
  const totals = { txPackets: 0, txBytes: 0, rxPackets: 0, rxBytes: 0, icmpSent: 0 };
  const drops = tables.global.drops.slice(0, Drop.Count);
  for (const t of all) {
    const c = t.counters;
    totals.txPackets += c.txPackets;
    totals.txBytes += c.txBytes;
    totals.rxPackets += c.rxPackets;
    totals.rxBytes += c.rxBytes;
    totals.icmpSent += c.icmpSent;
    for (let i = 0; i < Drop.Count; i++) drops[i] += c.drops[i];
  }
  e.family('sixtun_tunnels', 'gauge', 'Tunnels configured on this daemon.');
  e.sample('sixtun_tunnels', {}, all.length);
  for (const [name, help, value] of [
    ['sixtun_tx_packets_total', 'IPv6 packets encapsulated and sent, all tunnels.', totals.txPackets],
    ['sixtun_tx_bytes_total', 'Inner bytes encapsulated and sent, all tunnels.', totals.txBytes],
    ['sixtun_rx_packets_total', 'IPv6 packets decapsulated and delivered, all tunnels.', totals.rxPackets],
    ['sixtun_rx_bytes_total', 'Inner bytes decapsulated and delivered, all tunnels.', totals.rxBytes],
    ['sixtun_icmp_sent_total', 'ICMPv6 errors generated, all tunnels.', totals.icmpSent],
  ] as const) {
    e.family(name, 'counter', help);
    e.sample(name, {}, value);
  }
  e.family('sixtun_drops_by_reason_total', 'counter', 'Packets dropped, all tunnels and none, by reason.');
  drops.forEach((v, i) => { if (v > 0) e.sample('sixtun_drops_by_reason_total', { reason: DROP_NAMES[i] }, v); });
  const tunnels = perTunnelMode.mode === 'all' ? all
    : perTunnelMode.mode === 'none' ? []
      : all.sort((a, b) => (b.counters.txBytes + b.counters.rxBytes) - (a.counters.txBytes + a.counters.rxBytes)).slice(0, perTunnelMode.count);
  const perTunnel: Array<[string, string, (t: (typeof tunnels)[number]) => number]> = [
    ['sixtun_tunnel_tx_packets_total', 'IPv6 packets encapsulated and sent to the tunnel remote.', (t) => t.counters.txPackets],
    ['sixtun_tunnel_tx_bytes_total', 'Inner bytes encapsulated and sent.', (t) => t.counters.txBytes],
    ['sixtun_tunnel_rx_packets_total', 'IPv6 packets decapsulated and delivered to the TUN.', (t) => t.counters.rxPackets],
    ['sixtun_tunnel_rx_bytes_total', 'Inner bytes decapsulated and delivered.', (t) => t.counters.rxBytes],
    ['sixtun_tunnel_icmp_sent_total', 'ICMPv6 errors generated (Packet Too Big, relayed unreachables).', (t) => t.counters.icmpSent],
  ];
  for (const [name, help, get] of perTunnel) {
    e.family(name, 'counter', help);
    for (const t of tunnels) e.sample(name, { tunnel: t.spec.name }, get(t));
  }
  e.family('sixtun_tunnel_mtu_bytes', 'gauge', 'Current inner MTU of the tunnel (lowered by path MTU discovery).');
  const now = Date.now();
  for (const t of tunnels) e.sample('sixtun_tunnel_mtu_bytes', { tunnel: t.spec.name }, t.effectiveMtu(now));
  e.family('sixtun_drops_total', 'counter', 'Packets dropped, by tunnel ("" when none could be named) and reason.');
  for (const [name, counters] of [['', tables.global] as const, ...tunnels.map((t) => [t.spec.name, t.counters] as const)]) {
    for (let i = 0; i < Drop.Count; i++) if (counters.drops[i] > 0) e.sample('sixtun_drops_total', { tunnel: name, reason: DROP_NAMES[i] }, counters.drops[i]);
  }
  if (ndp) {
    e.family('sixtun_ndp_solicitations_total', 'counter', 'Neighbor Solicitations seen by the NDP proxy, by result.');
    e.sample('sixtun_ndp_solicitations_total', { result: 'answered' }, ndp.answered);
    e.sample('sixtun_ndp_solicitations_total', { result: 'not-ours' }, ndp.notOurs);
    e.sample('sixtun_ndp_solicitations_total', { result: 'rate-limited' }, ndp.rateLimited);
    e.sample('sixtun_ndp_solicitations_total', { result: 'other-host' }, ndp.otherHost);
    ndp.invalid.forEach((v, i) => { if (v > 0) e.sample('sixtun_ndp_solicitations_total', { result: `invalid-${NS_CHECK_NAMES[i]}` }, v); });
  }
  if (offload) {
    e.family('sixtun_offload_tso_packets_total', 'counter', 'TCP super-packets read from the TUN (TSO), by what was counted.');
    e.sample('sixtun_offload_tso_packets_total', { kind: 'super-packet' }, offload.superPackets);
    e.sample('sixtun_offload_tso_packets_total', { kind: 'segment' }, offload.segments);
    e.family('sixtun_offload_gro_packets_total', 'counter', 'Coalesced packets written to the TUN (GRO), by what was counted.');
    e.sample('sixtun_offload_gro_packets_total', { kind: 'coalesced-packet' }, offload.coalescedPackets);
    e.sample('sixtun_offload_gro_packets_total', { kind: 'segment' }, offload.coalescedSegments);
  }
  e.family('sixtun_trace_lost_total', 'counter', 'Packets a trace session could not keep up with.');
  e.sample('sixtun_trace_lost_total', {}, traceLost);
  return e.text();
}

export async function serveMetrics(host: string, port: number, render: () => Promise<string>): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url !== '/metrics' && req.url !== '/')) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: GET /metrics\n');
      return;
    }
    render().then(
      (text) => res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(text),
      (e: Error) => res.writeHead(503, { 'content-type': 'text/plain' }).end(`${e.message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return server;
}
