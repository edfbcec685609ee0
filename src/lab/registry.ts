// A broker's registry of N tunnels for the scale benchmark and the scale
// test: tunnel 0 is the topology's real client 1, tunnels 1..N-1 are
// synthetic, with client endpoints in 198.18.0.0/15 (RFC 2544, for
// benchmarks), pairs in 2001:db8:f0::/47 and routed /64s in
// 2001:db8:1000::/47. Nothing is sent to the synthetic endpoints but what
// the lab's namespaces hold.
import { writeFileSync } from 'node:fs';
import { SERVER_V4, type Topology } from './topology.js';

/** Where the tunnels are: the YAML file, a tunnel journal, or a journal with pools around the pairs and the /64s. */
export type Store = 'file' | 'journal' | 'pools';

export const SYNTHETIC_POOLS = { pairs: '2001:db8:f0::/47', routed64: '2001:db8:1000::/47' };

const hex = (n: number): string => n.toString(16);

/** Tunnel i (i >= 1; tunnel 0 is the topology's real client 1), as a record. */
export function synthetic(i: number): { name: string; client_ipv4: string; server_ipv6: string; client_ipv6: string; routed_prefixes: string[] } {
  return {
    name: `s${i}`,
    client_ipv4: `198.${18 + (i >> 16)}.${(i >> 8) & 0xff}.${i & 0xff}`,
    server_ipv6: `2001:db8:f${hex(i >> 16)}:${hex(i & 0xffff)}::/127`,
    client_ipv6: `2001:db8:f${hex(i >> 16)}:${hex(i & 0xffff)}::1`,
    routed_prefixes: [`2001:db8:${hex(0x1000 + (i >> 16))}:${hex(i & 0xffff)}::/64`],
  };
}

function syntheticYaml(i: number): string {
  const r = synthetic(i);
  return `  - name: ${r.name}
    client_ipv4: ${r.client_ipv4}
    server_ipv6: ${r.server_ipv6}
    client_ipv6: ${r.client_ipv6}
    routed_prefixes: [${r.routed_prefixes.join(', ')}]
`;
}

/** The server's file (and journal): tunnels 1..n-1 (+ extra) in the file, or in the journal. */
export function writeRegistry(t: Topology, n: number, socket: string, file: string, store: Store, extraTunnels = 0): void {
  const journal = `${file}.jsonl`;
  const c = t.clients[0];
  const parts = [`mode: server
interface: sixtun0
# The lab's endpoints are documentation and benchmarking addresses.
endpoint_ranges: [documentation, benchmarking]
local_ipv4: ${SERVER_V4}
external_interface: ext0
control_socket: ${socket}
metrics: {listen: "[::1]:9641", per_tunnel: false}
${store !== 'file' ? `tunnel_journal: ${journal}\n` : ''}${store === 'pools' ? `pools: {pairs: "${SYNTHETIC_POOLS.pairs}", routed64: "${SYNTHETIC_POOLS.routed64}"}\n` : ''}tunnels:
  - name: ${c.name}
    client_ipv4: ${c.v4}
    server_ipv6: ${c.serverV6}/127
    client_ipv6: ${c.clientV6}
    routed_prefixes: [${c.routed}]
`];
  if (store === 'file') {
    for (let i = 1; i < n + extraTunnels; i++) parts.push(syntheticYaml(i));
  } else {
    const lines: string[] = [];
    for (let i = 1; i < n + extraTunnels; i++) lines.push(JSON.stringify({ op: 'put', tunnel: synthetic(i) }));
    writeFileSync(journal, lines.join('\n') + '\n');
  }
  writeFileSync(file, parts.join(''));
}

