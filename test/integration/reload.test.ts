// SIGHUP: the server re-reads its file and applies only the difference;
// unchanged tunnels keep forwarding throughout.
import { afterAll, expect, it } from 'vitest';
import { rmSync, writeFileSync } from 'node:fs';
import { describeRoot, useLab } from '../support/root.js';
import { buildTopology, HOST_V6, serverConfigYaml } from '../../src/lab/topology.js';
import { runDir, startClient, startServer, status, tcpTransfer } from '../../src/lab/daemons.js';
import { ping } from '../helpers/programs.js';
import { waitFor } from '../../src/lab/netns.js';

describeRoot('SIGHUP reload', () => {
  const lab = useLab('hup');
  const dir = runDir('hup');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('adds and removes tunnels without touching a running transfer on another', async () => {
    const t = buildTopology(lab, { clients: 2 });
    const [c1, c2] = t.clients;
    const server = await startServer(t, dir, {}, [c1]);
    await startClient(t, c1, dir);
    await startClient(t, c2, dir);
    expect(ping(lab, c2.ns, HOST_V6, { count: 1 }).received).toBe(0);

    const transfer = tcpTransfer(lab, t.host, c1.ns, c1.clientV6, 32 * 1024 * 1024, 5021);
    // Add client 2 while client 1's transfer runs.
    writeFileSync(server.config, serverConfigYaml(t, { controlSocket: server.socket }, [c1, c2]));
    process.kill(server.proc.pid, 'SIGHUP');
    await waitFor(() => server.proc.output().includes('msg="reloaded"'), 5000, 20, 'reload');
    expect(server.proc.output()).toMatch(/msg="reloaded" added=\["client2"\] removed=\[\] changed=\[\]/);
    expect(ping(lab, c2.ns, HOST_V6).received).toBe(3);
    const r = await transfer;
    expect(r.received).toBe(r.sent);

    // Remove it again: its address, route and proxy entry go; client 1 stays.
    writeFileSync(server.config, serverConfigYaml(t, { controlSocket: server.socket }, [c1]));
    process.kill(server.proc.pid, 'SIGHUP');
    await waitFor(() => (server.proc.output().match(/msg="reloaded"/g) ?? []).length === 2, 5000, 20, 'second reload');
    expect((await status(server)).tunnels.map((x) => x.name)).toEqual(['client1']);
    expect(lab.ipJson<unknown[]>(t.server, ['-6', 'route', 'show', c2.routed])).toEqual([]);
    const addrs = lab.ipJson<Array<{ addr_info: Array<{ local: string }> }>>(t.server, ['-6', 'addr', 'show', 'dev', 'sixtun0'])[0].addr_info.map((a) => a.local);
    expect(addrs).not.toContain(c2.serverV6);
    expect(ping(lab, c2.ns, HOST_V6, { count: 1 }).received).toBe(0);
    expect(ping(lab, c1.ns, HOST_V6).received).toBe(3);

    // A broken file is refused and the running tunnels stay.
    writeFileSync(server.config, 'mode: server\nmtu: 99\n');
    process.kill(server.proc.pid, 'SIGHUP');
    await waitFor(() => server.proc.output().includes('reload refused'), 5000, 20, 'refused reload');
    expect(ping(lab, c1.ns, HOST_V6).received).toBe(3);
  });
});
