// Client-side configurations for a tunnel, like Tunnel Broker's example
// configurations: for a client that uses kernel SIT (iproute2, netplan,
// ifupdown, systemd-networkd) or sixtun.
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
}

export function exportedTunnel(cfg: ServerConfig, t: TunnelConfig): ExportedTunnel {
  return {
    name: t.name, serverIpv4: cfg.localIpv4, clientIpv4: t.clientIpv4, serverIpv6: formatIp(t.serverIpv6.bytes), clientIpv6: t.clientIpv6,
    pairLength: t.serverIpv6.length, routedPrefixes: t.routedPrefixes.map(formatPrefix), mtu: cfg.mtu, ttl: cfg.ttl === 0 ? 255 : cfg.ttl,
  };
}

/** Interface name on the client: "he-" style, at most 15 characters. */
function ifname(t: ExportedTunnel): string {
  return `6in4-${t.name}`.slice(0, 15);
}

export function renderExport(t: ExportedTunnel, format: ExportFormat): string {
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
      return `# Tunnel ${t.name}: sixtun client -c client.yaml (no sit module needed)
${routed}mode: client
interface: sixtun0
server_ipv4: ${t.serverIpv4}
local_ipv4: ${t.clientIpv4}
client_ipv6: ${t.clientIpv6}/${t.pairLength}
server_ipv6: ${t.serverIpv6}
default_route: true
mtu: ${t.mtu}
ttl: ${t.ttl}
`;
  }
}
