// `sixtun status`: counters and state from a running daemon.
import { usageError } from './args.js';
import { parseArgs } from 'node:util';
import { controlRequest } from '../control/control-server.js';
import { resolveSocket, UsageError, SOCKET_OPTION_HELP } from './socket.js';

export const STATUS_HELP = `Usage: sixtun status [NAME] [--filter TEXT] [--limit N] [--offset N] [--json] [--socket PATH]
       sixtun status --cluster [--json] [--socket PATH]

Shows a running daemon's tunnels, endpoints, routed prefixes, packets and
bytes each way with the time of the last one, and drops per reason.
With NAME, only that tunnel; on a server with many tunnels, --filter and
--limit/--offset page through them (the daemon sends only those).
With --cluster (servers sharing a registry in etcd): every server that ever
reported, its tunnels, when it last reported, and whether it is alive.

Options:
  --cluster       the servers of the shared registry
  --filter TEXT   tunnels whose name, client IPv4 or client IPv6 contains TEXT
  --limit N       at most N tunnels (the table: 1000 unless given; --json: all)
  --offset N      skip the first N (with --limit: pages)
  --json          print the raw JSON
  --socket PATH   ${SOCKET_OPTION_HELP}
  -h, --help      this text
`;

interface TunnelStatus {
  name: string;
  remote_ipv4: string;
  client_ipv6: string;
  routed_prefixes: string[];
  mtu: number;
  tx: { packets: number; bytes: number; last: string | null };
  rx: { packets: number; bytes: number; last: string | null };
  drops: Record<string, number>;
}

const TABLE_LIMIT = 1000;

/** "3 s ago", "12 min ago", "5 h ago", "2 d ago", or "never". */
export function ago(iso: string | null, now: number): string {
  if (iso === null) return 'never';
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 120) return `${s} s ago`;
  if (s < 7200) return `${Math.round(s / 60)} min ago`;
  if (s < 172_800) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86_400)} d ago`;
}

export async function status(argv: string[]): Promise<number> {
  let values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv, allowPositionals: true, strict: true,
      options: {
        json: { type: 'boolean' }, socket: { type: 'string' }, filter: { type: 'string' }, limit: { type: 'string' }, offset: { type: 'string' },
        cluster: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    process.stderr.write(`sixtun status: ${usageError(e)}\n\n${STATUS_HELP}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(STATUS_HELP);
    return 0;
  }
  const count = (v: string | undefined, flag: string): number | undefined => {
    if (v === undefined) return undefined;
    if (!/^\d+$/.test(v)) throw new UsageError(`${flag} expects a number, got ${JSON.stringify(v)}`);
    return Number(v);
  };
  if (values.cluster) return cluster(values.socket, values.json === true);
  let result: Record<string, unknown>;
  try {
    if (positionals.length > 1) throw new UsageError(`one tunnel NAME at most, got ${positionals.join(' ')}`);
    // A table of 10^5 rows helps nobody (and costs the daemon seconds): a page unless asked.
    const limit = count(values.limit, '--limit') ?? (values.json ? undefined : TABLE_LIMIT);
    const req = { cmd: 'status', tunnel: positionals[0], filter: values.filter, limit, offset: count(values.offset, '--offset') };
    result = (await controlRequest(await resolveSocket(values.socket), req)) as Record<string, unknown>;
  } catch (e) {
    process.stderr.write(`sixtun status: ${(e as Error).message}\n`);
    return e instanceof UsageError ? 2 : 1;
  }
  if (values.json) {
    process.stdout.write(JSON.stringify(result, null, 2) + '\n');
    return 0;
  }
  const rows = [['TUNNEL', 'REMOTE', 'CLIENT IPV6', 'ROUTED', 'MTU', 'TX PKTS', 'TX BYTES', 'LAST TX', 'RX PKTS', 'RX BYTES', 'LAST RX', 'DROPS']];
  const now = Date.now();
  for (const t of result.tunnels as TunnelStatus[]) {
    const drops = Object.entries(t.drops).map(([k, v]) => `${k}=${v}`).join(' ') || '-';
    rows.push([
      t.name, t.remote_ipv4, t.client_ipv6, (t.routed_prefixes ?? []).join(',') || '-', String(t.mtu),
      String(t.tx.packets), String(t.tx.bytes), ago(t.tx.last, now), String(t.rx.packets), String(t.rx.bytes), ago(t.rx.last, now), drops,
    ]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  process.stdout.write(`${result.mode} ${result.interface} local ${result.local_ipv4} pid ${result.pid}\n`);
  for (const r of rows) process.stdout.write(r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd() + '\n');
  const shown = (result.tunnels as unknown[]).length;
  if (result.matched !== undefined && shown < (result.matched as number)) {
    process.stdout.write(`${shown} of ${result.matched as number} matching tunnels shown (${result.tunnel_count as number} in all): --offset and --limit for more\n`);
  }
  const global = Object.entries(result.drops_without_tunnel as Record<string, number>).map(([k, v]) => `${k}=${v}`).join(' ');
  if (global) process.stdout.write(`drops without a tunnel: ${global}\n`);
  const off = result.offload as { mode: string; udp_gro: boolean; super_packets: number; segments: number; coalesced_packets: number; coalesced_segments: number } | undefined;
  if (off) {
    const mode = off.mode === 'tso+gro' && !off.udp_gro ? 'tso+gro (TCP only)' : off.mode;
    process.stdout.write(off.mode === 'off'
      ? 'offload off\n'
      : `offload ${mode}: ${off.super_packets} super-packets cut into ${off.segments} segments; ${off.coalesced_segments} segments written as ${off.coalesced_packets} packets\n`);
  }
  const ndp = result.ndp as { mode: string; seen?: number; answered?: number; not_ours?: number; rate_limited?: number; other_host?: number; invalid?: Record<string, number> } | null;
  if (ndp) {
    const invalid = Object.entries(ndp.invalid ?? {}).map(([k, v]) => `${k}=${v}`).join(' ') || '-';
    process.stdout.write(ndp.mode === 'userspace'
      ? `ndp userspace: seen ${ndp.seen} answered ${ndp.answered} not-ours ${ndp.not_ours} rate-limited ${ndp.rate_limited} other-host ${ndp.other_host} invalid ${invalid}\n`
      : `ndp ${ndp.mode}\n`);
  }
  for (const w of result.kernel_interference as string[]) process.stdout.write(`warning: ${w}\n`);
  return 0;
}

/** `sixtun status --cluster`: the servers of the shared registry. */
async function cluster(socket: string | undefined, json: boolean): Promise<number> {
  let result: { servers: Array<{ name: string; groups: string[]; pid: number; tunnels: number; started: string; reported: string; alive: boolean }> };
  try {
    result = (await controlRequest(await resolveSocket(socket), { cmd: 'cluster' })) as typeof result;
  } catch (e) {
    process.stderr.write(`sixtun status: ${(e as Error).message}\n`);
    return 1;
  }
  if (json) {
    process.stdout.write(JSON.stringify(result, null, 2) + '\n');
    return 0;
  }
  const now = Date.now();
  const rows = [['SERVER', 'GROUPS', 'STATE', 'TUNNELS', 'LAST REPORT', 'STARTED', 'PID']];
  for (const s of result.servers) {
    rows.push([s.name, s.groups.join(',') || '-', s.alive ? 'alive' : 'DEAD', String(s.tunnels), ago(s.reported, now), s.started, String(s.pid)]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  for (const r of rows) process.stdout.write(r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd() + '\n');
  return 0;
}
