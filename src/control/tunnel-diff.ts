// When a changed tunnel can be moved in place (its endpoint or credentials
// changed) rather than removed and added again.
import type { TunnelConfig } from '../config/config.js';
import { formatIp, formatPrefix } from '../wire/address.js';

/** What decides the kernel state and datapath of a tunnel, besides its endpoint. */
function addressing(t: TunnelConfig): string {
  return `${formatIp(t.serverIpv6.bytes)}/${t.serverIpv6.length} ${t.clientIpv6} ${t.routedPrefixes.map(formatPrefix).join(',')}`;
}

export function sameExceptEndpoint(a: TunnelConfig, b: TunnelConfig): boolean {
  return addressing(a) === addressing(b);
}

export function sameTunnel(a: TunnelConfig, b: TunnelConfig): boolean {
  return a.clientIpv4 === b.clientIpv4 && a.user === b.user && a.updateKeyHash === b.updateKeyHash && sameExceptEndpoint(a, b);
}

