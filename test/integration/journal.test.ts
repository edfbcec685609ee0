// A server whose run-time tunnel changes go to a journal: `sixtun tunnel`
// appends one line (the configuration file is not rewritten), the change is
// live at once, and a restart comes back with it.
import { afterAll, expect, it } from 'vitest';
import { appendFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeRoot, useLab } from '../support/root.js';
import { buildTopology, HOST_V6 } from '../../src/lab/topology.js';
import { runDir, startClient, startServer, status } from '../../src/lab/daemons.js';
import { cli, ping } from '../helpers/programs.js';
import { waitFor } from '../../src/lab/netns.js';


describeRoot('tunnel journal', () => {
  const lab = useLab('jrnl');
  const poolLab = useLab('jrnp');
  const hupLab = useLab('jrnh');
  const dir = runDir('jrnl');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('changes are appended to the journal, live at once, and survive a restart; the file stays as written', async () => {
    const t = buildTopology(lab, { clients: 2 });
    const [a, b] = t.clients;
    const journal = join(dir, 'tunnels.jsonl');
    let server = await startServer(t, dir, { extra: `tunnel_journal: ${journal}\n` }, [a]);
    const fileBefore = readFileSync(server.config, 'utf8');
    await startClient(t, a, dir);
    await startClient(t, b, dir);
    const sock = ['--socket', server.socket];
    const routes = (): string[] => lab.ipJson<Array<{ dst: string }>>(t.server, ['-6', 'route', 'show', 'proto', '246']).map((r) => r.dst).sort();

    const add = await cli(['tunnel', 'add', b.name, '--client-ipv4', b.v4, '--server-ipv6', `${b.serverV6}/127`, '--client-ipv6', b.clientV6, '--routed-prefix', b.routed, ...sock]);
    expect(add.code, add.err).toBe(0);
    expect(ping(lab, b.ns, HOST_V6).received).toBe(3);
    const set = await cli(['tunnel', 'set', b.name, '--routed-prefix', '2001:db8:300::/64', ...sock]);
    expect(set.code, set.err).toBe(0);
    expect(routes()).toEqual([a.routed, '2001:db8:300::/64', `${a.serverV6}/127`, `${b.serverV6}/127`]);
    // A tunnel of the file changed at run time: the journal's version wins from now on.
    const key = await cli(['tunnel', 'key', a.name, ...sock]);
    expect(key.code, key.err).toBe(0);
    const refused = await cli(['tunnel', 'add', 'c', '--client-ipv4', '198.51.100.77', '--server-ipv6', '2001:db8:ff::40/127', '--client-ipv6', '2001:db8:ff::41', '--routed-prefix', '2001:db8:300::/56', ...sock]);
    expect(refused.code).toBe(2);
    expect(refused.err).toBe(`sixtun tunnel add: --routed-prefix: 2001:db8:300::/56 overlaps 2001:db8:300::/64 (routed_prefixes[0] of tunnel ${b.name})\n`);
    const lines = readFileSync(journal, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { op: string; tunnel: { name: string; update_key_hash?: string } });
    expect(lines.map((l) => [l.op, l.tunnel.name])).toEqual([['put', b.name], ['put', b.name], ['put', a.name]]);
    expect(lines[2].tunnel.update_key_hash).toMatch(/^scrypt\$/);
    expect(readFileSync(server.config, 'utf8')).toBe(fileBefore);

    // Restart: the journal is read on top of the file.
    process.kill(server.proc.pid, 'SIGTERM');
    expect(await server.proc.exited).toBe(0);
    server = await startServer(t, dir, { extra: `tunnel_journal: ${journal}\n` }, [a]);
    expect((await status(server)).tunnels.map((x) => x.name).sort()).toEqual([a.name, b.name]);
    expect(routes()).toEqual([a.routed, '2001:db8:300::/64', `${a.serverV6}/127`, `${b.serverV6}/127`]);
    expect(ping(lab, b.ns, HOST_V6).received).toBe(3);
    const rm = await cli(['tunnel', 'remove', b.name, ...sock]);
    expect(rm.code, rm.err).toBe(0);
    expect(routes()).toEqual([a.routed, `${a.serverV6}/127`]);
    expect(readFileSync(journal, 'utf8').trim().split('\n').pop()).toBe(JSON.stringify({ op: 'del', name: b.name }));
  });

  it('tunnel add without addresses takes the pair and a /64 from the pools, and removal gives them back', async () => {
    const lab = poolLab;
    const t = buildTopology(lab, { clients: 2 });
    const [a, b] = t.clients;
    const sub = join(dir, 'pools');
    mkdirSync(sub);
    // Pools around client 1's prefixes: the second free pair is the topology's client 2's.
    const server = await startServer(t, sub, { extra: `tunnel_journal: ${join(sub, 'tunnels.jsonl')}\npools: {pairs: 2001:db8:ff::/125, routed64: 2001:db8:100::/56}\n` }, [a]);
    const sock = ['--socket', server.socket];
    // ::/127 is free too: taken first by a tunnel that is then removed (given back, reused after the others).
    const first = await cli(['tunnel', 'add', 'first', '--client-ipv4', '198.51.100.90', ...sock]);
    expect(first.out).toBe('added tunnel first: 198.51.100.90 → 2001:db8:ff::/127 (client 2001:db8:ff::1), routes 2001:db8:100:1::/64\n');
    const add = await cli(['tunnel', 'add', b.name, '--client-ipv4', b.v4, '--json', ...sock]);
    expect(add.code, add.err).toBe(0);
    const got = (JSON.parse(add.out) as { tunnel: { server_ipv6: string; client_ipv6: string; routed_prefixes: string[] } }).tunnel;
    expect(got).toMatchObject({ server_ipv6: `${b.serverV6}/127`, client_ipv6: b.clientV6, routed_prefixes: ['2001:db8:100:2::/64'] });
    await startClient(t, b, sub);
    expect(ping(lab, b.ns, HOST_V6).received).toBe(3);
    expect((await cli(['tunnel', 'add', 'third', '--client-ipv4', '198.51.100.91', ...sock])).out).toMatch(/ → 2001:db8:ff::6\/127 /);
    const full = await cli(['tunnel', 'add', 'fourth', '--client-ipv4', '198.51.100.92', ...sock]);
    expect(full.code).toBe(1);
    expect(full.err).toBe('sixtun tunnel add: pools.pairs 2001:db8:ff::/125 is full\n');
    expect((await cli(['tunnel', 'remove', 'first', ...sock])).code).toBe(0);
    // The pair pool was full: the returned pair is found again; the /64 pool goes on from where it was.
    expect((await cli(['tunnel', 'add', 'fifth', '--client-ipv4', '198.51.100.93', ...sock])).out).toMatch(/ → 2001:db8:ff::\/127 \(client 2001:db8:ff::1\), routes 2001:db8:100:4::\/64/);
  });
  it('SIGHUP reads only what another writer appended to the journal; a bad line refuses it all; a journal rewritten without it is applied', async () => {
    const lab = hupLab;
    const t = buildTopology(lab, { clients: 2 });
    const [a, b] = t.clients;
    const sub = join(dir, 'hup');
    mkdirSync(sub);
    const journal = join(sub, 'tunnels.jsonl');
    const server = await startServer(t, sub, { extra: `tunnel_journal: ${journal}\n` }, [a]);
    await startClient(t, b, sub);
    const reloads = (): string[] => server.proc.output().split('\n').filter((l) => /msg="reload/.test(l));
    const hup = async (): Promise<string> => {
      const seen = reloads().length;
      process.kill(server.proc.pid, 'SIGHUP');
      await waitFor(() => reloads().length > seen, 10_000, 10, 'reload logged');
      return reloads()[seen];
    };
    const names = async (): Promise<string[]> => (await status(server)).tunnels.map((x) => x.name).sort();
    const put = (r: Record<string, unknown>): string => `${JSON.stringify({ op: 'put', tunnel: r })}\n`;
    const bRecord = { name: b.name, client_ipv4: b.v4, server_ipv6: `${b.serverV6}/127`, client_ipv6: b.clientV6, routed_prefixes: [b.routed] };

    appendFileSync(journal, put(bRecord));
    expect(await hup()).toContain(`msg="reloaded" added=["${b.name}"] removed=[] changed=[]`);
    expect(await names()).toEqual([a.name, b.name]);
    expect(ping(lab, b.ns, HOST_V6).received).toBe(3);

    // Line 2 takes b's routed prefix, line 3 is fine: neither is applied.
    appendFileSync(journal, put({ name: 'c', client_ipv4: '198.51.100.77', server_ipv6: '2001:db8:ff::40/127', client_ipv6: '2001:db8:ff::41', routed_prefixes: [b.routed] }));
    appendFileSync(journal, `${JSON.stringify({ op: 'del', name: b.name })}\n`);
    const refused = await hup();
    expect(refused).toContain('reload refused: configuration invalid');
    expect(refused).toContain(`${journal}:2`);
    expect(refused).toContain('overlaps');
    expect(await names()).toEqual([a.name, b.name]);
    expect(ping(lab, b.ns, HOST_V6).received).toBe(3);

    // The operator rewrites the journal without the bad line: a whole read, whose difference is applied.
    writeFileSync(journal, put(bRecord) + put({ ...bRecord, routed_prefixes: ['2001:db8:300::/64'] }));
    expect(await hup()).toContain(`msg="reloaded" added=[] removed=[] changed=["${b.name}"]`);
    const routes = lab.ipJson<Array<{ dst: string }>>(t.server, ['-6', 'route', 'show', 'proto', '246']).map((r) => r.dst).sort();
    expect(routes).toEqual([a.routed, '2001:db8:300::/64', `${a.serverV6}/127`, `${b.serverV6}/127`]);
    // And appends after the rewrite are tails again.
    appendFileSync(journal, `${JSON.stringify({ op: 'del', name: b.name })}\n`);
    expect(await hup()).toContain(`msg="reloaded" added=[] removed=["${b.name}"] changed=[]`);
    expect(await names()).toEqual([a.name]);
  });
});
