// `sixtun tunnel add|remove|set|key NAME …` and `sixtun export NAME --format F`.
import { usageError } from './args.js';
import { parseArgs } from 'node:util';
import { controlRequest } from '../control/control-server.js';
import { resolveSocket, UsageError, SOCKET_OPTION_HELP } from './socket.js';
import { loadConfig } from '../config/config.js';
import { EXPORT_FORMATS, exportedTunnel, renderExport, type ExportFormat, type ExportedTunnel } from '../control/export.js';

export const TUNNEL_HELP = `Usage: sixtun tunnel add NAME --client-ipv4 IPV4 [--server-ipv6 ADDR/LEN --client-ipv6 ADDR]
                  [--routed-prefix PREFIX]… [--routed48] [--user USER] [--server NAME] [--json] [--socket PATH]
       sixtun tunnel set NAME [--client-ipv4 IPV4] [--routed-prefix PREFIX]… [--user USER] [--server NAME] [--json] [--socket PATH]
       sixtun tunnel remove NAME [--json] [--socket PATH]
       sixtun tunnel key NAME [--socket PATH]

Changes a running server's tunnels without a restart and without touching
the others; the change is written back to its configuration file atomically
(or appended to its tunnel journal, or written to the registry in etcd that
several servers share: then on any of them, for a tunnel of any of them). Without --server-ipv6 and --client-ipv6,
\`add\` takes the pair from the server's pools (and a /64 when no
--routed-prefix is given), as Tunnel Broker does, and prints what it took;
removing the tunnel gives them back.
\`key\` makes a new update key for the tunnel's /nic/update URL, prints it once
and keeps only its scrypt hash (when standard output is not a terminal, only
the key is printed: KEY=$(sixtun tunnel key home)).

Options:
  --client-ipv4 IPV4       the client's IPv4 endpoint
  --server-ipv6 ADDR/LEN   the server's end of the pair, e.g. 2001:db8:ff::4/127
  --client-ipv6 ADDR       the client's address in the pair
  --routed-prefix PREFIX   a prefix routed to the client (repeat for more; set replaces the list)
  --routed48               add: also a /48 from the routed48 pool
  --user USER              user name for the update URL (default: the tunnel name)
  --server NAME            which server carries it (a server_name or one of server_groups; default: every one)
  --json                   print the result as JSON (for scripts)
  --socket PATH            ${SOCKET_OPTION_HELP}
  -h, --help               this text
`;

export const EXPORT_HELP = `Usage: sixtun export NAME --format FORMAT (--socket PATH | -c FILE)

Prints the client-side configuration for tunnel NAME, like Tunnel Broker's
example configurations.

Formats:
  iproute2   ip commands (kernel sit)
  netplan    a netplan YAML file (kernel sit)
  ifupdown   an /etc/network/interfaces stanza (kernel sit)
  networkd   systemd-networkd .netdev and .network files (kernel sit)
  sixtun     a sixtun client configuration (no sit module needed); with the
             server's update_api, an update: block so the client follows
             its own address changes

Options:
  --format FORMAT   one of the above
  --key KEY         the tunnel's update key (sixtun tunnel key NAME), written
                    into the sixtun format's update: block (--key=KEY for a key
                    that starts with '-', made before keys stopped doing so)
  --socket PATH     ask a running server (default: the one running under /run/sixtun)
  -c, --config FILE read the server's configuration file instead
  -h, --help        this text
`;

interface TunnelSummary {
  name: string;
  client_ipv4: string;
  server_ipv6: string;
  client_ipv6: string;
  routed_prefixes: string[];
}

/** `added tunnel office: 198.51.100.7 → 2001:db8:ff::4/127, routes 2001:db8:100:1::/64` */
export function describeChange(op: string, t: TunnelSummary | null, name: string): string {
  const verb = op === 'add' ? 'added' : op === 'remove' ? 'removed' : 'changed';
  if (!t) return `${verb} tunnel ${name}`;
  const routes = t.routed_prefixes.length ? `, routes ${t.routed_prefixes.join(' ')}` : ', no routed prefixes';
  return `${verb} tunnel ${t.name}: ${t.client_ipv4} → ${t.server_ipv6} (client ${t.client_ipv6})${routes}`;
}

export async function tunnelCli(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv, allowPositionals: true, strict: true,
      options: {
        'client-ipv4': { type: 'string' }, 'server-ipv6': { type: 'string' }, 'client-ipv6': { type: 'string' },
        'routed-prefix': { type: 'string', multiple: true }, routed48: { type: 'boolean' }, user: { type: 'string' }, server: { type: 'string' }, socket: { type: 'string' }, json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    process.stderr.write(`sixtun tunnel: ${usageError(e)}\n\n${TUNNEL_HELP}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(TUNNEL_HELP);
    return 0;
  }
  const [op, name] = positionals;
  if (!['add', 'remove', 'set', 'key'].includes(op ?? '') || !name || positionals.length > 2) {
    process.stderr.write(`sixtun tunnel: expected add|remove|set|key NAME\n\n${TUNNEL_HELP}`);
    return 2;
  }
  const fields: Record<string, unknown> = {};
  if (values['client-ipv4']) fields.client_ipv4 = values['client-ipv4'];
  if (values['server-ipv6']) fields.server_ipv6 = values['server-ipv6'];
  if (values['client-ipv6']) fields.client_ipv6 = values['client-ipv6'];
  if (values['routed-prefix']) fields.routed_prefixes = values['routed-prefix'];
  if (values.user) fields.user = values.user;
  if (values.server) fields.server = values.server;
  try {
    // An add without the pair's addresses takes them (and a /64) from the pools.
    const allocate = op === 'add' && fields.server_ipv6 === undefined && fields.client_ipv6 === undefined;
    const result = await controlRequest(await resolveSocket(values.socket, 'server'), { cmd: 'tunnel', op, name, fields, allocate, routed48: values.routed48 === true }, 30_000);
    if (values.json) process.stdout.write(JSON.stringify(result) + '\n');
    else if (op === 'key') {
      const { key } = result as { key: string };
      // In $(…) or a pipe, the key alone; on a terminal, a sentence around it.
      process.stdout.write(process.stdout.isTTY ? `update key for ${name} (shown once, only its hash is kept): ${key}\n` : `${key}\n`);
    } else {
      process.stdout.write(describeChange(op, (result as { tunnel: TunnelSummary | null }).tunnel, name) + '\n');
    }
    return 0;
  } catch (e) {
    process.stderr.write(`sixtun tunnel ${op}: ${(e as Error).message}\n`);
    const code = (e as { code?: string }).code;
    return e instanceof UsageError || code === 'ECONFIG' || code === 'EEXIST' || code === 'ENOENT' ? 2 : 1;
  }
}

export async function exportCli(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv, allowPositionals: true, strict: true,
      options: { format: { type: 'string' }, key: { type: 'string' }, socket: { type: 'string' }, config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } },
    });
  } catch (e) {
    process.stderr.write(`sixtun export: ${usageError(e)}\n\n${EXPORT_HELP}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(EXPORT_HELP);
    return 0;
  }
  const name = positionals[0];
  const format = values.format as ExportFormat;
  if (!name || !EXPORT_FORMATS.includes(format)) {
    process.stderr.write(`sixtun export: expected NAME and --format ${EXPORT_FORMATS.join('|')}\n\n${EXPORT_HELP}`);
    return 2;
  }
  try {
    let t: ExportedTunnel;
    if (values.config) {
      const cfg = loadConfig(values.config);
      const tc = cfg.mode === 'server' ? cfg.tunnels.find((x) => x.name === name) : undefined;
      if (cfg.mode !== 'server' || !tc) throw Object.assign(new Error(`no tunnel ${name} in ${values.config}`), { code: 'ENOENT' });
      t = exportedTunnel(cfg, tc);
    } else {
      t = (await controlRequest(await resolveSocket(values.socket, 'server'), { cmd: 'export', name })) as ExportedTunnel;
    }
    process.stdout.write(renderExport(t, format, values.key));
    return 0;
  } catch (e) {
    process.stderr.write(`sixtun export: ${(e as Error).message}\n`);
    return e instanceof UsageError || (e as { code?: string }).code === 'ENOENT' || (e as { code?: string }).code === 'ECONFIG' ? 2 : 1;
  }
}
