// Write-back of run-time changes into the configuration file: the result is
// what a person would have written, comments and order kept.
import { describe, expect, it } from 'vitest';
import { editTunnels } from '../../src/config/edit.js';

const FILE = `# the server
mode: server
local_ipv4: 203.0.113.1
ndp: off
endpoint_ranges: [documentation]
tunnels: []
`;

const ALICE = { client_ipv4: '198.51.100.2', server_ipv6: '2001:db8:ff::2/127', client_ipv6: '2001:db8:ff::3', routed_prefixes: ['2001:db8:100::/64'] };

describe('editTunnels', () => {
  it('the first tunnel added to `tunnels: []` makes a block list, not a flow-style blob', () => {
    const { text, config } = editTunnels(FILE, 's.yaml', [{ op: 'add', name: 'alice', fields: ALICE }]);
    expect(text).toBe(`# the server
mode: server
local_ipv4: 203.0.113.1
ndp: off
endpoint_ranges: [documentation]
tunnels:
  - name: alice
    client_ipv4: 198.51.100.2
    server_ipv6: 2001:db8:ff::2/127
    client_ipv6: 2001:db8:ff::3
    routed_prefixes: [2001:db8:100::/64]
`);
    expect(config.tunnels.map((t) => t.name)).toEqual(['alice']);
  });

  it('set and remove edit in place; the last tunnel removed leaves an empty list that parses', () => {
    const added = editTunnels(FILE, 's.yaml', [{ op: 'add', name: 'alice', fields: ALICE }]).text;
    const moved = editTunnels(added, 's.yaml', [{ op: 'set', name: 'alice', fields: { client_ipv4: '198.51.100.9' } }]);
    expect(moved.text).toContain('    client_ipv4: 198.51.100.9\n');
    const removed = editTunnels(moved.text, 's.yaml', [{ op: 'remove', name: 'alice' }]);
    expect(removed.config.tunnels).toEqual([]);
    expect(removed.text).toMatch(/^tunnels: \[\]$/m);
  });
});
