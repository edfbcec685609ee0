// The shipped systemd unit, docs/sixtun-server.service, as the restrictions
// it puts on sixtun (no systemd runs here as PID 1, so they are made the way
// systemd makes them): the unit's CapabilityBoundingSet= and
// NoNewPrivileges= through setpriv, ProtectSystem=full as a read-only bind
// mount of the configuration's directory (/etc), ReadWritePaths= as the one
// writable directory (the journal's). sixtun runs as its own user. A change
// that cannot be written is not made: the tunnels, the kernel and the file
// stay as they were, and the owner's key keeps working.
import { afterAll, expect, it } from 'vitest';
import { chmodSync, chownSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeRoot, useLab } from '../support/root.js';
import { buildTopology, SERVER_V4, serverConfigYaml, type Topology } from '../../src/lab/topology.js';
import { PACKAGE_ROOT, runDir, startDaemon, status, type RunningDaemon } from '../../src/lab/daemons.js';
import { cli } from '../helpers/programs.js';
import { makeUpdateKey } from '../../src/control/update-keys.js';
import type { Lab } from '../../src/lab/netns.js';

const UID = 60123;

/** The unit's [Service] settings (the last value of each key). */
function unitSettings(): Map<string, string> {
  const text = readFileSync(join(PACKAGE_ROOT, 'docs', 'sixtun-server.service'), 'utf8');
  return new Map(text.split('\n').filter((l) => /^[A-Za-z]+=/.test(l)).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

/** Starts the server in its namespace under the unit's restrictions. */
async function startUnderUnit(lab: Lab, t: Topology, etc: string, config: string, socket: string): Promise<RunningDaemon> {
  const unit = unitSettings();
  expect(unit.get('NoNewPrivileges')).toBe('yes');
  expect(unit.get('ProtectSystem')).toBe('full');
  const bounding = unit.get('CapabilityBoundingSet')!.split(/\s+/).map((c) => `+${c.replace(/^CAP_/, '').toLowerCase()}`);
  const script = `mount --bind ${etc} ${etc} && mount -o remount,bind,ro ${etc} && exec setpriv --no-new-privs --bounding-set=-all,${bounding.join(',')} -- "$@"`;
  return startDaemon(lab, t.server, 'server', config, socket, {}, [], 15_000, ['sh', '-c', script, 'sh']);
}

describeRoot('the shipped systemd unit', () => {
  const lab = useLab('unit');
  const checkLab = useLab('unck');
  const dir = runDir('unit');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('the unit checks the configuration first (ExecStartPre=sixtun check): every error at once, exit 2; what a valid one sets up', async () => {
    const unit = unitSettings();
    // systemd creates the journal's directory: without StateDirectory= a fresh host has none, and the start fails.
    expect([unit.get('StateDirectory'), unit.get('ReadWritePaths')]).toEqual(['sixtun', '/var/lib/sixtun']);
    const pre = unit.get('ExecStartPre')!.split(' ');
    expect(pre.slice(2)).toEqual(['check', '-c', '/etc/sixtun/server.yaml']);
    const t = buildTopology(checkLab, { clients: 2 });
    const good = join(dir, 'check-good.yaml');
    writeFileSync(good, serverConfigYaml(t, { controlSocket: join(dir, 'check.sock') }, t.clients), { mode: 0o600 });
    const json = await cli(['check', '-c', good, '--json']);
    expect(json.code, json.err).toBe(0);
    const report = JSON.parse(json.out) as { valid: boolean; tunnels: number; kernel: { routes: Array<{ dst: string; link: string }>; rules: Array<{ iif: string }> } };
    expect([report.valid, report.tunnels]).toEqual([true, 2]);
    // A route per pair and routed prefix, and the local TUN's one for every server address.
    expect(report.kernel.routes.map((r) => [r.dst, r.link]).sort()).toEqual([
      ...t.clients.flatMap((c) => [[`${c.serverV6}/127`, 'sixtun0'], [c.routed, 'sixtun0']]), ['::/0', 'sixtun0-l'],
    ].sort());
    expect(report.kernel.rules.map((r) => r.iif)).toEqual(['sixtun0-l']);
    // Nothing was started: no TUN in the server's namespace.
    expect(checkLab.ipJson<Array<{ ifname: string }>>(t.server, ['link', 'show']).map((l) => l.ifname)).not.toContain('sixtun0');
    const bad = join(dir, 'check-bad.yaml');
    writeFileSync(bad, readFileSync(good, 'utf8').replace(`client_ipv4: ${t.clients[0].v4}`, 'client_ipv4: 127.0.0.1').replace('ndp: userspace', 'ndp: maybe').replace(`client_ipv4: ${t.clients[1].v4}`, 'client_ipv4: 224.0.0.5'), { mode: 0o600 });
    const r = await cli(['check', '-c', bad]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/3 errors:/);
    expect(r.err).toMatch(/tunnels\[0\]\.client_ipv4: 127\.0\.0\.1 is loopback/);
    expect(r.err).toMatch(/tunnels\[1\]\.client_ipv4: 224\.0\.0\.5 is multicast/);
  });

  it('a change that cannot be written is not made; with the journal where the unit lets sixtun write, it is', async () => {
    const t = buildTopology(lab, { clients: 2 });
    const [a, b] = t.clients;
    chmodSync(dir, 0o711);
    const etc = join(dir, 'etc');
    mkdirSync(etc, { mode: 0o755 });
    // ReadWritePaths=/var/lib/sixtun, given to the user sixtun runs as.
    const state = join(dir, 'var-lib-sixtun');
    mkdirSync(state);
    chownSync(state, UID, UID);
    const { key, hash } = await makeUpdateKey();
    const socket = join(dir, 'server.sock');
    const yaml = serverConfigYaml(t, { controlSocket: socket, extra: `user: ${UID}\nupdate_api: {listen: "${SERVER_V4}:8080"}\n` }, [a])
      .replace(/(routed_prefixes: .*\n)$/, (line) => `${line}    update_key_hash: "${hash}"\n`);
    const config = join(etc, 'server.yaml');
    writeFileSync(config, yaml, { mode: 0o640 });
    // Readable by the user (SIGHUP re-reads it as that user), writable by root alone.
    chownSync(config, 0, UID);
    const before = statSync(config);
    const addB = ['tunnel', 'add', b.name, '--client-ipv4', b.v4, '--server-ipv6', `${b.serverV6}/127`, '--client-ipv6', b.clientV6, '--socket', socket];
    const routes = (): string[] => lab.ipJson<Array<{ dst: string }>>(t.server, ['-6', 'route', 'show', 'proto', '246']).map((r) => r.dst).sort();
    const url = `http://${SERVER_V4}:8080/nic/update?hostname=${a.name}`;
    const update = (k: string, ip: string): string => lab.exec(a.ns, ['curl', '-s', '-m', '5', '-u', `${a.name}:${k}`, `${url}&myip=${ip}`]).trim();

    // A second address of the client's, which answers the server's Echo Requests.
    lab.ip(a.ns, ['addr', 'add', '198.51.100.200/24', 'dev', 'wan0']);
    // The tunnels in the file, which the unit makes read-only.
    let server = await startUnderUnit(lab, t, etc, config, socket);
    const routesBefore = routes();
    const add = await cli(addB);
    expect(add.code).not.toBe(0);
    expect(add.err).toMatch(/cannot write .*server\.yaml, nothing changed: .*EROFS.*keep tunnels in a tunnel_journal/);
    expect((await status(server)).tunnels.map((x) => x.name)).toEqual([a.name]);
    expect(routes()).toEqual(routesBefore);
    // A new key that cannot be stored is not taken: the owner is not locked out.
    expect((await cli(['tunnel', 'key', a.name, '--socket', socket])).code).not.toBe(0);
    expect(update(key, a.v4)).toBe(`nochg ${a.v4}`);
    // Nor is an endpoint change that cannot be stored.
    expect(update(key, '198.51.100.200')).toBe('911');
    expect(((await status(server)).tunnels[0] as unknown as { remote_ipv4: string }).remote_ipv4).toBe(a.v4);
    expect(await lab.stop(server.proc)).toBe(0);
    expect(readFileSync(config, 'utf8')).toBe(yaml);

    // The same with a journal in the writable directory: the change is made and kept.
    writeFileSync(config, yaml.replace('tunnels:', `tunnel_journal: ${join(state, 'tunnels.jsonl')}\ntunnels:`), { mode: 0o640 });
    server = await startUnderUnit(lab, t, etc, config, socket);
    const added = await cli(addB);
    expect(added.code, added.err).toBe(0);
    expect(routes()).toContain(`${b.serverV6}/127`);
    expect(update(key, '198.51.100.200')).toBe('good 198.51.100.200');
    expect(await lab.stop(server.proc)).toBe(0);
    const journal = join(state, 'tunnels.jsonl');
    expect(readFileSync(journal, 'utf8')).toMatch(new RegExp(`"name":"${b.name}"`));
    // The journal is the user's; the file root reads is still root's alone.
    expect(statSync(journal).uid).toBe(UID);
    const after = statSync(config);
    expect([after.uid, after.gid, after.mode]).toEqual([before.uid, before.gid, before.mode]);
  });
});
