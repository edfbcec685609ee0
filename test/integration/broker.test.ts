// Running a tunnel broker: live tunnel changes, the /nic/update URL, the
// client following its own address, exports, idle tunnels.
import { afterAll, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { describeRoot, useLab } from '../support/root.js';
import { buildTopology, HOST_V6, ROUTER_V6, SERVER_V4, ISP_CLIENT_SIDE_V4, ISP_SERVER_SIDE_V4, type Topology, type ClientInfo } from '../../src/lab/topology.js';
import { runDir, startClient, startDaemon, startServer, status, tcpTransfer, tunnelOf } from '../../src/lab/daemons.js';
import { cli, helperScript, ping } from '../helpers/programs.js';
import { Lab, waitFor } from '../../src/lab/netns.js';
import { loadConfig, type ServerConfig } from '../../src/config/config.js';


function ndpAnswers(lab: Lab, t: Topology, target: string): number {
  const r = JSON.parse(lab.exec(t.router, [process.execPath, helperScript('send-ns'), JSON.stringify({ iface: 'to-srv', target, src: ROUTER_V6, listenMs: 300 })])) as { replies: unknown[] };
  return r.replies.length;
}

/** Moves a client namespace to a new IPv4 address on the isp segment. */
function renumber(lab: Lab, c: ClientInfo, from: string, to: string): void {
  lab.ip(c.ns, ['addr', 'del', `${from}/24`, 'dev', 'wan0']);
  lab.ip(c.ns, ['addr', 'add', `${to}/24`, 'dev', 'wan0']);
  lab.ip(c.ns, ['route', 'replace', 'default', 'via', ISP_CLIENT_SIDE_V4]);
}

describeRoot('live tunnel changes', () => {
  const lab = useLab('brk');
  const dir = runDir('brk');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('adds, changes and removes tunnel B while a transfer runs through tunnel A, which completes byte-exact with no loss counted', async () => {
    const t = buildTopology(lab, { clients: 2 });
    const [a, b] = t.clients;
    const server = await startServer(t, dir, {}, [a]);
    await startClient(t, a, dir);
    await startClient(t, b, dir);
    const sock = ['--socket', server.socket];
    const transfer = tcpTransfer(lab, t.host, a.ns, a.clientV6, 48 * 1024 * 1024, 5041);

    const add = await cli(['tunnel', 'add', b.name, '--client-ipv4', b.v4, '--server-ipv6', `${b.serverV6}/127`, '--client-ipv6', b.clientV6, '--routed-prefix', b.routed, ...sock]);
    expect(add.code, add.err).toBe(0);
    expect(add.out).toBe(`added tunnel ${b.name}: ${b.v4} → ${b.serverV6}/127 (client ${b.clientV6}), routes ${b.routed}\n`);
    expect(ping(lab, b.ns, HOST_V6).received).toBe(3);
    const set = await cli(['tunnel', 'set', b.name, '--routed-prefix', '2001:db8:300::/64', '--json', ...sock]);
    expect(set.code, set.err).toBe(0);
    expect(JSON.parse(set.out)).toMatchObject({ added: [], removed: [], changed: [b.name], tunnel: { name: b.name, routed_prefixes: ['2001:db8:300::/64'] } });
    expect(lab.ipJson<Array<{ dst: string }>>(t.server, ['-6', 'route', 'show', 'proto', '246']).map((r) => r.dst).sort()).toEqual([a.routed, '2001:db8:300::/64', `${a.serverV6}/127`, `${b.serverV6}/127`]);
    const rm = await cli(['tunnel', 'remove', b.name, ...sock]);
    expect(rm.code, rm.err).toBe(0);
    expect(rm.out).toMatch(new RegExp(`^removed tunnel ${b.name}: ${b.v4} → `));

    const r = await transfer;
    expect(r.received).toBe(r.sent);
    const sa = tunnelOf(await status(server), a.name);
    expect(sa.drops).toEqual({});
    // B left nothing behind: no route, no address, no NDP answers; the file holds only A.
    expect(lab.ipJson<Array<{ dst: string }>>(t.server, ['-6', 'route', 'show', 'proto', '246']).map((x) => x.dst).sort()).toEqual([a.routed, `${a.serverV6}/127`]);
    const addrs = lab.ipJson<Array<{ addr_info: Array<{ local: string }> }>>(t.server, ['-6', 'addr', 'show', 'dev', 'sixtun0'])[0].addr_info.map((x) => x.local);
    expect(addrs).not.toContain(b.serverV6);
    expect(ndpAnswers(lab, t, b.clientV6)).toBe(0);
    expect(ndpAnswers(lab, t, a.clientV6)).toBe(1);
    expect((loadConfig(server.config) as ServerConfig).tunnels.map((x) => x.name)).toEqual([a.name]);
    // Refusals name what is wrong and change nothing.
    const dup = await cli(['tunnel', 'add', a.name, '--client-ipv4', b.v4, '--server-ipv6', `${b.serverV6}/127`, '--client-ipv6', b.clientV6, ...sock]);
    expect(dup.code).toBe(2);
    expect(dup.err).toMatch(/exists/);
    const overlap = await cli(['tunnel', 'add', 'c', '--client-ipv4', '198.51.100.77', '--server-ipv6', `${a.serverV6}/127`, '--client-ipv6', a.clientV6, ...sock]);
    expect(overlap.code).toBe(2);
    // The change came from flags: the error names the flag and the other tunnel, not a line of the file.
    expect(overlap.err).toBe(`sixtun tunnel add: --server-ipv6: ${a.serverV6}/127 overlaps ${a.serverV6}/127 (server_ipv6 of tunnel ${a.name})\n`);
    const bad = await cli(['tunnel', 'add', 'd', '--client-ipv4', '198.51.100.78', '--server-ipv6', '2001:db8:ff::40', '--client-ipv6', '2001:db8:ff::41', ...sock]);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/^sixtun tunnel add: --server-ipv6: expected an IPv6 address with its prefix length/);
    expect(bad.err).not.toMatch(/\.yaml:\d+/);
    const noEndpoint = await cli(['tunnel', 'add', 'e', '--server-ipv6', '2001:db8:ff::40/127', '--client-ipv6', '2001:db8:ff::41', ...sock]);
    expect(noEndpoint.code).toBe(2);
    expect(noEndpoint.err).toMatch(/^sixtun tunnel add: --client-ipv4 is required/);
    const missing = await cli(['tunnel', 'remove', 'nosuch', ...sock]);
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/^sixtun tunnel remove: no tunnel named nosuch/);
  });
});

describeRoot('dynamic endpoints through /nic/update', () => {
  const lab = useLab('upd');
  const lab2 = useLab('upk');
  const lab3 = useLab('upa');
  const dir = runDir('upd');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('answers like Tunnel Broker, moves the tunnel, refuses what it must, and the client updates itself', async () => {
    const t = buildTopology(lab, { clients: 1 });
    const c = t.clients[0];
    const server = await startServer(t, dir, { extra: `update_api: {listen: "${SERVER_V4}:8080", burst: 12}\n` });
    const client = await startClient(t, c, dir);
    const key = await cli(['tunnel', 'key', c.name, '--socket', server.socket]);
    expect(key.code, key.err).toBe(0);
    // Not a terminal: the key alone, for KEY=$(sixtun tunnel key NAME).
    expect(key.out).toMatch(/^[A-Za-z0-9_-]{16,}\n$/);
    const k = key.out.trim();
    expect(readFileSync(server.config, 'utf8')).toMatch(/update_key_hash: scrypt\$16384\$8\$1\$/);
    expect(readFileSync(server.config, 'utf8')).not.toContain(k);
    const url = (q: string): string => `http://${SERVER_V4}:8080/nic/update?hostname=${q}`;
    const curl = (ns: string, auth: string, u: string): string => lab.exec(ns, ['curl', '-s', '-u', auth, u]).trim();

    // The client moves to a new address: traffic stops (unknown remote) until it tells the server.
    renumber(lab, c, c.v4, '198.51.100.20');
    await waitFor(() => /local IPv4 changed/.test(client.proc.output()), 3000, 20, 'client notices its new address');
    expect(ping(lab, c.ns, HOST_V6, { count: 1 }).received).toBe(0);
    expect(curl(c.ns, `${c.name}:wrong`, url(c.name))).toBe('badauth');
    expect(curl(c.ns, `${c.name}:${k}`, url('nosuch'))).toBe('nohost');
    expect(curl(c.ns, `${c.name}:${k}`, url(c.name))).toBe('good 198.51.100.20');
    // The log says which endpoint it was and which it is (the request came from the new one).
    await waitFor(() => server.proc.output().includes(`msg="endpoint changed" tunnel=${c.name} from=${c.v4} to=198.51.100.20 by=198.51.100.20`), 2000, 10, 'the change logged');
    expect(ping(lab, c.ns, HOST_V6).received).toBe(3);
    expect(curl(c.ns, `${c.name}:${k}`, url(c.name))).toBe('nochg 198.51.100.20');
    // Tunnel Broker's second form, credentials in the query (routers such as a FRITZ!Box).
    expect(lab.exec(c.ns, ['curl', '-s', `http://${SERVER_V4}:8080/nic/update?username=${c.name}&password=${k}&hostname=${c.name}`]).trim()).toBe('nochg 198.51.100.20');
    // Special ranges, the server's own address, and its connected subnet (the ISP's router is there).
    for (const bad of ['10.0.0.1', '127.0.0.1', '224.0.0.1', '198.18.0.1', SERVER_V4, ISP_SERVER_SIDE_V4]) {
      expect(curl(c.ns, `${c.name}:${k}`, `${url(c.name)}&myip=${bad}`)).toBe(`badip ${bad}`);
    }
    // An address that does not answer an Echo Request (no host there): not taken.
    expect(curl(c.ns, `${c.name}:${k}`, `${url(c.name)}&myip=198.51.100.99`)).toBe('badip 198.51.100.99');
    await waitFor(() => /update refused.*198\.51\.100\.99.*no answer to ICMP echo/.test(server.proc.output()), 2000, 10, 'the refusal logged');
    const s = tunnelOf(await status(server), c.name) as unknown as { remote_ipv4: string; endpoint_changes: number };
    expect([s.remote_ipv4, s.endpoint_changes]).toEqual(['198.51.100.20', 1]);
    // 20 calls in a second: the rate limit answers abuse.
    const answers = [];
    for (let i = 0; i < 20; i++) answers.push(curl(c.ns, `${c.name}:${k}`, url(c.name)));
    expect(answers).toContain('abuse');

    // sixtun client with the update block does it by itself.
    await lab.stop(client.proc);
    await new Promise((r) => setTimeout(r, 2500)); // let the rate limit refill
    // Its configuration as the server exports it, key filled in: no local_ipv4 to pin it, an update block.
    const exported = await cli(['export', c.name, '--format', 'sixtun', '--key', k, '--socket', server.socket]);
    expect(exported.code, exported.err).toBe(0);
    expect(exported.out).not.toMatch(/^local_ipv4:/m);
    expect(parseYaml(exported.out)).toMatchObject({ update: { url: url(c.name), user: c.name, key: k } });
    writeFileSync(join(dir, 'self.yaml'), exported.out + `control_socket: ${join(dir, 'self.sock')}\n`);
    const self = await startDaemon(lab, c.ns, 'client', join(dir, 'self.yaml'), join(dir, 'self.sock'));
    renumber(lab, c, '198.51.100.20', '198.51.100.21');
    await waitFor(() => /endpoint update sent.*good 198\.51\.100\.21/.test(self.proc.output()), 5000, 20, 'the client’s own update');
    expect(ping(lab, c.ns, HOST_V6).received).toBe(3);
  });

  it('under abuse: a stranger’s wrong keys and 500 held-open connections do not keep the owner out', async () => {
    const lab = lab3;
    const t = buildTopology(lab, { clients: 1 });
    const c = t.clients[0];
    const sub = join(dir, 'abuse');
    rmSync(sub, { recursive: true, force: true });
    mkdirSync(sub);
    const server = await startServer(t, sub, { extra: `update_api: {listen: "${SERVER_V4}:8080", burst: 5}\n` });
    const k = (await cli(['tunnel', 'key', c.name, '--socket', server.socket])).out.trim();
    const url = `http://${SERVER_V4}:8080/nic/update?hostname=${c.name}`;
    // The stranger is the ISP's router (another source address than the client's).
    const stranger = (): string => lab.exec(t.isp, ['curl', '-s', '-m', '5', '-u', `${c.name}:guess`, url]).trim();
    const answers = Array.from({ length: 12 }, stranger);
    expect(answers.slice(0, 5)).toEqual(Array(5).fill('badauth'));
    expect(answers.slice(5)).toEqual(Array(7).fill('abuse'));
    expect(lab.exec(c.ns, ['curl', '-s', '-m', '5', '-u', `${c.name}:${k}`, url]).trim()).toBe(`nochg ${c.v4}`);
    // 500 connections from the stranger that never finish their request: it keeps 16.
    const loris = lab.spawn(t.isp, [process.execPath, helperScript('slowloris'), SERVER_V4, '8080', '500', '4']);
    const held = (): number => lab.exec(t.server, ['ss', '-Htn', 'state', 'established', '( sport = :8080 )']).split('\n').filter((l) => l.trim() !== '').length;
    await waitFor(() => held() >= 16, 5000, 20, 'the stranger holds its connections');
    const owner = lab.exec(c.ns, ['curl', '-s', '-m', '1', '-u', `${c.name}:${k}`, url]).trim();
    expect(owner).toBe(`nochg ${c.v4}`);
    expect(await loris.exited).toBe(0);
    expect((JSON.parse(loris.output().trim()) as { open: number }).open).toBeLessThanOrEqual(16);
  });

  it('the configuration file survives kill -9 at a random moment during 100 updates', async () => {
    const lab = lab2;
    const t = buildTopology(lab, { clients: 1 });
    const c = t.clients[0];
    const sub = join(dir, 'kill');
    rmSync(sub, { recursive: true, force: true });
    mkdirSync(sub);
    const server = await startServer(t, sub, { extra: `update_api: {listen: "${SERVER_V4}:8080", burst: 1000}\n` });
    const k = (await cli(['tunnel', 'key', c.name, '--socket', server.socket])).out.trim();
    const values = ['198.51.100.30', '198.51.100.31'];
    // Endpoints that answer the server's Echo Requests.
    for (const v of values) lab.ip(c.ns, ['addr', 'add', `${v}/24`, 'dev', 'wan0']);
    const loop = `for i in $(seq 100); do curl -s -m 2 -u ${c.name}:${k} "http://${SERVER_V4}:8080/nic/update?hostname=${c.name}&myip=$([ $((i % 2)) = 0 ] && echo ${values[0]} || echo ${values[1]})"; echo; done`;
    const updates = lab.spawn(t.isp, ['sh', '-c', loop]);
    await waitFor(() => (updates.output().match(/good/g) ?? []).length >= 5 + Math.floor(Math.random() * 20), 20_000, 5, 'some updates');
    process.kill(server.proc.pid, 'SIGKILL');
    await updates.exited;
    const cfg = loadConfig(server.config) as ServerConfig;
    expect([c.v4, ...values]).toContain(cfg.tunnels[0].clientIpv4);
    expect(cfg.tunnels[0].updateKeyHash).toMatch(/^scrypt\$/);
  });
});

describeRoot('exports and idle tunnels', () => {
  const lab = useLab('exp');
  const lab2 = useLab('idl');
  const dir = runDir('exp');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('exports client configurations the real tools accept, and a sixtun client connects with its own format', async () => {
    const t = buildTopology(lab, { clients: 1 });
    const c = t.clients[0];
    const server = await startServer(t, dir);
    // iproute2: every line parses; this kernel has no sit module, so creating the device is all that fails.
    const ip = await cli(['export', c.name, '--format', 'iproute2', '--socket', server.socket]);
    expect(ip.code, ip.err).toBe(0);
    const batch = ip.out.split('\n').filter((l) => l.startsWith('ip ')).map((l) => l.slice(3)).join('\n') + '\n';
    const probe = lab.ns('probe');
    const r = await new Promise<{ code: number; err: string }>((resolve) => {
      const p = execFile('ip', ['-n', probe, '-force', '-batch', '-'], { encoding: 'utf8' }, (e, _o, err) => resolve({ code: e ? 1 : 0, err }));
      p.stdin!.end(batch);
    });
    for (const line of r.err.split('\n').filter((l) => l.trim() !== '')) {
      expect(line).toMatch(/No such device|Cannot find device|Command failed|add tunnel .* failed/);
    }
    // netplan: the structure netplan's schema asks for.
    const np = parseYaml((await cli(['export', c.name, '--format', 'netplan', '-c', server.config])).out) as { network: { version: number; tunnels: Record<string, Record<string, unknown>> } };
    expect(np.network.version).toBe(2);
    const [dev, tun] = Object.entries(np.network.tunnels)[0];
    expect(dev.length).toBeLessThanOrEqual(15);
    expect(tun).toMatchObject({ mode: 'sit', remote: SERVER_V4, local: c.v4, addresses: [`${c.clientV6}/127`], routes: [{ to: '::/0', via: c.serverV6 }] });
    for (const f of ['ifupdown', 'networkd']) {
      const out = await cli(['export', c.name, '--format', f, '--socket', server.socket]);
      expect(out.code).toBe(0);
      expect(out.out).toContain(SERVER_V4);
      expect(out.out).toContain(c.clientV6);
    }
    // sixtun: a kernel-less client using the exported configuration connects.
    const sx = await cli(['export', c.name, '--format', 'sixtun', '--socket', server.socket]);
    writeFileSync(join(dir, 'exported.yaml'), sx.out + `control_socket: ${join(dir, 'exported.sock')}\n`);
    await startDaemon(lab, c.ns, 'client', join(dir, 'exported.yaml'), join(dir, 'exported.sock'));
    expect(ping(lab, c.ns, HOST_V6).received).toBe(3);
    expect((await cli(['export', 'nosuch', '--format', 'sixtun', '--socket', server.socket])).code).toBe(2);
  });

  it('stops answering NDP for a tunnel idle longer than idle_timeout, and resumes with traffic', async () => {
    const lab = lab2;
    const dir = runDir('idl');
    const t = buildTopology(lab, { clients: 1 });
    const c = t.clients[0];
    const server = await startServer(t, dir, { extra: 'idle_timeout: 2\n' }, t.clients);
    await waitFor(() => /tunnel idle: NDP answers stop/.test(server.proc.output()), 6000, 50, 'idle');
    expect(ndpAnswers(lab, t, c.clientV6)).toBe(0);
    expect(((await status(server)).tunnels[0] as unknown as { idle: boolean }).idle).toBe(true);
    await startClient(t, c, dir);
    ping(lab, c.ns, c.serverV6, { count: 2 });
    await waitFor(() => /tunnel active again/.test(server.proc.output()), 6000, 50, 'active');
    expect(ndpAnswers(lab, t, c.clientV6)).toBe(1);
    await lab.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });
});
