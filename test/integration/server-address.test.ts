// The server's end of each tunnel pair is the kernel's, as with kernel SIT,
// with nothing per tunnel in the kernel: sixtun hands what is for a server
// address to a second TUN whose packets a rule makes local, so the kernel's
// own stack answers TCP, UDP and ICMPv6 for it. Checked with the kernel's own
// peers: TCP sockets, ping, traceroute.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import { describeRoot, useLab } from '../support/root.js';
import { buildTopology, HOST_V6, SERVER_EXT_V6, type Topology } from '../../src/lab/topology.js';
import { SIXTUN_BIN, runDir, startClient, startServer, status, tcpTransfer, tunnelOf, type RunningDaemon } from '../../src/lab/daemons.js';
import { spawnSync } from 'node:child_process';
import { ping } from '../helpers/programs.js';
import { waitFor } from '../../src/lab/netns.js';
import type { Lab } from '../../src/lab/netns.js';

/** Hop addresses `traceroute -6` (UDP probes, as people run it) prints from ns to addr. */
function traceroute(lab: Lab, ns: string, addr: string): string[] {
  const out = lab.exec(ns, ['traceroute', '-6', '-n', '-q', '1', '-w', '2', '-m', '4', addr], { timeoutMs: 60_000 });
  return out.split('\n').slice(1).map((l) => l.trim().split(/\s+/)[1]).filter((h): h is string => h !== undefined);
}

/** What a client's socket gets from the server's tunnel address: "connected", or the error code. */
function connectOutcome(lab: Lab, ns: string, kind: 'tcp' | 'udp', addr: string, port: number): string {
  const script = kind === 'tcp'
    ? `const s = require('node:net').connect(${port}, '${addr}', () => { console.log('connected'); s.destroy(); });
       s.on('error', (e) => console.log(e.code)); s.setTimeout(10000, () => { console.log('timeout'); s.destroy(); });`
    // A connected UDP socket gets the ICMPv6 Port Unreachable as ECONNREFUSED.
    : `const s = require('node:dgram').createSocket('udp6');
       let done = false;
       const end = (what) => { if (done) return; done = true; console.log(what); s.close(); };
       s.on('error', (e) => end(e.code));
       s.connect(${port}, '${addr}', () => { let n = 0; const go = () => { if (!done) n++ < 20 ? s.send('x', () => setTimeout(go, 200)) : end('timeout'); }; go(); });`;
  return lab.exec(ns, [process.execPath, '-e', script], { timeoutMs: 30_000 }).trim();
}

describeRoot('server addresses are the kernel’s: local routes, no address per tunnel', () => {
  const lab = useLab('saddr');
  const dir = runDir('saddr');
  let t: Topology;
  let server: RunningDaemon;
  beforeAll(async () => {
    t = buildTopology(lab, { clients: 2 });
    // No per-destination ICMPv6 budget (net.ipv6.icmp.ratelimit) in the server's namespace: the
    // kernel spends it on the Redirects that client-to-client traffic makes it
    // send (sixtun drops them), and the tests here count on its errors.
    lab.sysctl(t.server, 'net.ipv6.icmp.ratelimit', '0');
    // Reachable from upstream too: the proxy answers NDP for the server addresses.
    server = await startServer(t, dir, { extra: 'ndp_server_addresses: true\n' });
    for (const c of t.clients) await startClient(t, c, dir);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('nothing per tunnel for the server addresses: the TUN has its link-local only; one rule, one local route, on the local TUN', () => {
    const addrs = lab.ipJson<Array<{ addr_info: Array<{ local: string }> }>>(t.server, ['-6', 'addr', 'show', 'dev', 'sixtun0'])[0].addr_info.map((a) => a.local);
    expect(addrs).toEqual(['fe80::cb00:7101']);
    const routes = lab.ipJson<Array<{ dst: string }>>(t.server, ['-6', 'route', 'show', 'proto', '246']).map((r) => r.dst).sort();
    expect(routes).toEqual([...t.clients.map((c) => `${c.serverV6}/127`), ...t.clients.map((c) => c.routed)].sort());
    const rules = lab.ipJson<Array<{ iif?: string; table: string; priority: number; protocol?: string }>>(t.server, ['-6', 'rule', 'show']).filter((r) => r.iif === 'sixtun0-l');
    expect(rules).toHaveLength(1);
    const table = rules[0].table;
    expect(rules[0].priority).toBe(1000);
    expect(lab.ipJson<Array<{ type: string; dst: string; dev: string }>>(t.server, ['-6', 'route', 'show', 'table', table]).map((r) => [r.type, r.dst, r.dev])).toEqual([['local', 'default', 'sixtun0-l']]);
    expect(lab.ipJson<unknown[]>(t.server, ['-6', 'route', 'show', 'table', 'local', 'proto', '246'])).toEqual([]);
  });

  it('TCP from the client to a listener on the server host (bound to ::) through the server address: byte-exact', async () => {
    const c1 = t.clients[0];
    const before = tunnelOf(await status(server), c1.name) as unknown as { to_server: number };
    const r = await tcpTransfer(lab, c1.ns, t.server, c1.serverV6, 1024 * 1024, 5101);
    expect(r.received).toBe(r.sent);
    const after = tunnelOf(await status(server), c1.name) as unknown as { to_server: number };
    expect(after.to_server).toBeGreaterThan(before.to_server);
  });

  it('no listener: the kernel refuses a TCP connection (RST) and a UDP datagram (Port Unreachable)', () => {
    const c1 = t.clients[0];
    expect(connectOutcome(lab, c1.ns, 'tcp', c1.serverV6, 5199)).toBe('ECONNREFUSED');
    expect(connectOutcome(lab, c1.ns, 'udp', c1.serverV6, 5199)).toBe('ECONNREFUSED');
  });

  it('echoes to the server address are answered from the client and from the Internet, any size up to the MTU', () => {
    const [c1, c2] = t.clients;
    expect(ping(lab, c1.ns, c1.serverV6, { count: 3 }).received).toBe(3);
    expect(ping(lab, c1.ns, c1.serverV6, { count: 2, size: 1400 }).received).toBe(2);
    expect(ping(lab, t.host, c2.serverV6, { count: 3 }).received).toBe(3);
    // And from the server host itself (through the main TUN, looped back through the local one).
    expect(ping(lab, t.server, c2.serverV6, { count: 3 }).received).toBe(3);
    expect(ping(lab, c2.ns, HOST_V6, { count: 3 }).received).toBe(3);
  });

  it('client to client: traffic flows; the kernel’s ICMPv6 Redirects (one TUN for all tunnels) never enter a tunnel', async () => {
    // From client 2: the kernel's ICMPv6 errors to client 1 (traceroute) share the redirects' rate limit per source.
    const [c1, c2] = t.clients;
    const redirects = async (): Promise<number> => tunnelOf(await status(server), c2.name).drops['redirect-into-tunnel'] ?? 0;
    const before = await redirects();
    expect(ping(lab, c2.ns, c1.clientV6, { count: 3 }).received).toBe(3);
    const r = await tcpTransfer(lab, c2.ns, c1.ns, c1.clientV6, 256 * 1024, 5102);
    expect(r.received).toBe(r.sent);
    expect(await redirects()).toBeGreaterThan(before);
  });
  it('traceroute through the tunnel shows the server’s tunnel address as the first hop, as kernel SIT does', () => {
    const c1 = t.clients[0];
    // The kernel picks a host address for its errors (the external one here): sixtun gives them the tunnel's.
    const hops = traceroute(lab, c1.ns, HOST_V6);
    expect(hops[0]).toBe(c1.serverV6);
    expect(hops).not.toContain(SERVER_EXT_V6);
    expect(hops.at(-1)).toBe(HOST_V6);
    expect(traceroute(lab, c1.ns, c1.serverV6)).toEqual([c1.serverV6]);
  });


  it('the local TUN deleted by hand, and its rule: both put back, and the address answers again', async () => {
    const c1 = t.clients[0];
    const rules = (): unknown[] => lab.ipJson<Array<{ iif?: string }>>(t.server, ['-6', 'rule', 'show']).filter((r) => r.iif === 'sixtun0-l');
    lab.ip(t.server, ['link', 'del', 'sixtun0-l']);
    await waitFor(() => connectOutcome(lab, c1.ns, 'tcp', c1.serverV6, 5199) === 'ECONNREFUSED', 10_000, 100, 'the local TUN back');
    lab.ip(t.server, ['-6', 'rule', 'del', 'iif', 'sixtun0-l']);
    await waitFor(() => rules().length === 1, 10_000, 50, 'the rule back');
    expect(connectOutcome(lab, c1.ns, 'tcp', c1.serverV6, 5199)).toBe('ECONNREFUSED');
  });

  it('status as a user who is not root: the daemon runs, and the message says to be root (not "is it running?")', () => {
    const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, SIXTUN_BIN, 'status', '--socket', server.socket], { encoding: 'utf8' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/EACCES \(the control socket is root's alone: run this as root/);
    expect(r.stderr).not.toMatch(/is the daemon running/);
  });
});
