// Client-side configurations for a tunnel, like Tunnel Broker's example
// configurations: for a client that uses kernel SIT (iproute2, netplan,
// ifupdown, systemd-networkd) or sixtun.
import { stringify } from 'yaml';
import type { ServerConfig, TunnelConfig } from '../config/config.js';
import { formatIp, formatPrefix } from '../wire/address.js';

export const EXPORT_FORMATS = ['iproute2', 'netplan', 'ifupdown', 'networkd', 'sixtun'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export interface ExportedTunnel {
  name: string;
  serverIpv4: string;
  clientIpv4: string;
  serverIpv6: string;
  clientIpv6: string;
  pairLength: number;
  routedPrefixes: string[];
  mtu: number;
  ttl: number;
  /** The server's /nic/update URL for this tunnel (null: the server has no update API), and its user. */
  updateUrl: string | null;
  user: string;
}

/** Where a client reaches the update API: the listen address, or the server's
 * endpoint when it listens on every address. */
function updateUrl(cfg: ServerConfig, t: TunnelConfig): string | null {
  const api = cfg.updateApi;
  if (api === null) return null;
  const wildcard = api.host === '0.0.0.0' || api.host === '::';
  const host = wildcard ? cfg.localIpv4 : api.host.includes(':') ? `[${api.host}]` : api.host;
  return `http://${host}:${api.port}/nic/update?hostname=${encodeURIComponent(t.name)}`;
}

export function exportedTunnel(cfg: ServerConfig, t: TunnelConfig): ExportedTunnel {
  return {
    name: t.name, serverIpv4: cfg.localIpv4, clientIpv4: t.clientIpv4, serverIpv6: formatIp(t.serverIpv6.bytes), clientIpv6: t.clientIpv6,
    pairLength: t.serverIpv6.length, routedPrefixes: t.routedPrefixes.map(formatPrefix), mtu: cfg.mtu, ttl: cfg.ttl === 0 ? 255 : cfg.ttl,
    updateUrl: updateUrl(cfg, t), user: t.user,
  };
}

/** Interface name on the client: "he-" style, at most 15 characters. */
function ifname(t: ExportedTunnel): string {
  return `6in4-${t.name}`.slice(0, 15);
}

/** A sixtun client's configuration for the tunnel, written by the YAML
 * library (an address such as 2001:db8:ff00:: needs quotes). No local_ipv4:
 * the client finds its own (behind NAT it is not the endpoint the server
 * sees), and with the server's update URL it follows its address changes. */
function sixtunClient(t: ExportedTunnel, routed: string, key: string | undefined): string {
  const head = `# Tunnel ${t.name}: sixtun client -c client.yaml (no sit module needed)
${routed}# The server knows this client at ${t.clientIpv4}; local_ipv4 is left out: the client finds its own.
`;
  const base = stringify({
    mode: 'client', interface: 'sixtun0', server_ipv4: t.serverIpv4, client_ipv6: `${t.clientIpv6}/${t.pairLength}`, server_ipv6: t.serverIpv6,
    default_route: true, mtu: t.mtu, ttl: t.ttl,
  });
  if (t.updateUrl === null) return head + base;
  const keyNote = key === undefined ? '# key: the update key `sixtun tunnel key ' + t.name + '` showed (sixtun export --key KEY fills it in)\n' : '';
  return head + base + `# When this client's IPv4 address changes, it tells the server here.\n${keyNote}` +
    stringify({ update: { url: t.updateUrl, user: t.user, key: key ?? 'KEY' } });
}

export function renderExport(t: ExportedTunnel, format: ExportFormat, key?: string): string {
  const dev = ifname(t);
  const routed = t.routedPrefixes.length ? `# Routed to you: ${t.routedPrefixes.join(', ')} (number your LAN from them)\n` : '';
  switch (format) {
    case 'iproute2':
      return `# Tunnel ${t.name}: run as root on the client (needs the sit module)
${routed}ip tunnel add ${dev} mode sit remote ${t.serverIpv4} local ${t.clientIpv4} ttl ${t.ttl}
ip link set ${dev} mtu ${t.mtu}
ip link set ${dev} up
ip addr add ${t.clientIpv6}/${t.pairLength} dev ${dev}
ip route add ::/0 via ${t.serverIpv6} dev ${dev}
`;
    case 'netplan':
      return `# Tunnel ${t.name}: /etc/netplan/60-${dev}.yaml
${routed}network:
  version: 2
  tunnels:
    ${dev}:
      mode: sit
      remote: ${t.serverIpv4}
      local: ${t.clientIpv4}
      ttl: ${t.ttl}
      mtu: ${t.mtu}
      addresses:
        - "${t.clientIpv6}/${t.pairLength}"
      routes:
        - to: "::/0"
          via: "${t.serverIpv6}"
`;
    case 'ifupdown':
      return `# Tunnel ${t.name}: add to /etc/network/interfaces
${routed}auto ${dev}
iface ${dev} inet6 v4tunnel
    address ${t.clientIpv6}
    netmask ${t.pairLength}
    endpoint ${t.serverIpv4}
    local ${t.clientIpv4}
    ttl ${t.ttl}
    mtu ${t.mtu}
    gateway ${t.serverIpv6}
`;
    case 'networkd':
      return `# Tunnel ${t.name}: three files for systemd-networkd
${routed}# /etc/systemd/network/${dev}.netdev
[NetDev]
Name=${dev}
Kind=sit
MTUBytes=${t.mtu}

[Tunnel]
Local=${t.clientIpv4}
Remote=${t.serverIpv4}
TTL=${t.ttl}

# /etc/systemd/network/${dev}.network
[Match]
Name=${dev}

[Network]
Address=${t.clientIpv6}/${t.pairLength}
Gateway=${t.serverIpv6}

# and in the .network file of the interface that holds ${t.clientIpv4}, under [Network]:
# Tunnel=${dev}
`;
    case 'sixtun':
      return sixtunClient(t, routed, key);
  }
}
