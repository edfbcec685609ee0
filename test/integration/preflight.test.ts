// Mistakes an operator makes at start-up: each is refused before anything is
// set up, with the config field or the privilege to fix.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { describeRoot, useLab } from '../support/root.js';
import { buildTopology, serverConfigYaml, writeConfig, type Topology } from '../../src/lab/topology.js';
import { SIXTUN_BIN, runDir, startServer, type RunningDaemon } from '../../src/lab/daemons.js';

describeRoot('start-up checks', () => {
  const lab = useLab('pre');
  const dir = runDir('pre');
  let t: Topology;
  let running: RunningDaemon;
  beforeAll(async () => {
    t = buildTopology(lab, { clients: 1 });
    running = await startServer(t, dir);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** `sixtun server` in ns with the topology's config changed by edit; its exit code and stderr. */
  function start(ns: string, name: string, edit: (yaml: string) => string, prefix: string[] = []): { code: number | null; err: string } {
    const socket = join(dir, `${name}.sock`);
    const file = writeConfig(dir, `${name}.yaml`, edit(serverConfigYaml(t, { controlSocket: socket })));
    const r = spawnSync('ip', ['netns', 'exec', ns, ...prefix, process.execPath, SIXTUN_BIN, 'server', '-c', file], { encoding: 'utf8', timeout: 30_000 });
    return { code: r.status, err: r.stderr };
  }

  /** Links in ns: a refused start must not have made any. */
  const links = (ns: string): string[] => lab.ipJson<Array<{ ifname: string }>>(ns, ['link', 'show']).map((l) => l.ifname).sort();

  it('local_ipv4 that no interface has', () => {
    const ns = lab.ns('a');
    lab.ip(ns, ['link', 'add', 'ext0', 'type', 'veth', 'peer', 'name', 'ext0p']);
    const r = start(ns, 'a', (y) => y);
    expect(r.code).toBe(2);
    expect(r.err).toBe(`sixtun server: ${join(dir, 'a.yaml')}: local_ipv4: 203.0.113.1 is not an address of any interface here (have: 127.0.0.1): protocol-41 packets are sent from and to it\n`);
    expect(links(ns)).toEqual(['ext0', 'ext0p', 'lo']);
  });

  it('an external_interface that does not exist', () => {
    const r = start(t.server, 'b', (y) => y.replace('external_interface: ext0', 'external_interface: eth9').replace('interface: sixtun0', 'interface: sixtun8'));
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/b\.yaml: external_interface: no interface eth9 here \(have: lo, .*ext0.*\): name the interface that faces the upstream IPv6 router\n$/);
  });

  it('not enough privilege: names the missing capability', () => {
    const ns = lab.ns('c');
    const r = start(ns, 'c', (y) => y, ['setpriv', '--bounding-set=-net_raw', '--inh-caps=-all']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^sixtun server: sixtun server needs CAP_NET_RAW \(TUN device, routes, raw protocol-41 socket\): run it as root, or give it CAP_NET_RAW/);
  });

  it('without CAP_NET_ADMIN: named before any netlink socket is opened (no setsockopt EPERM)', () => {
    const ns = lab.ns('c2');
    for (const [drop, named] of [['-net_admin', 'CAP_NET_ADMIN'], ['-net_admin,-net_raw', 'CAP_NET_ADMIN and CAP_NET_RAW']]) {
      const r = start(ns, 'c2', (y) => y, ['setpriv', `--bounding-set=${drop}`, '--inh-caps=-all']);
      expect([r.code, r.err]).toEqual([2, expect.stringMatching(new RegExp(`^sixtun server: sixtun server needs ${named} \\(`))]);
      expect(r.err).not.toMatch(/setsockopt|EPERM/);
    }
  });

  it('a TUN name in use by a running sixtun: names its pid and control socket', () => {
    const r = start(t.server, 'd', (y) => y);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`d.yaml: interface: sixtun0 is in use by sixtun server (pid ${running.proc.pid}, interface sixtun0, control socket ${running.socket}): stop it, or set interface to another name`);
  });

  it('an interface of that name that is not a TUN', () => {
    lab.ip(t.server, ['link', 'add', 'sixtun9', 'type', 'veth', 'peer', 'name', 'sixtun9p']);
    const r = start(t.server, 'e', (y) => y.replace('interface: sixtun0', 'interface: sixtun9'));
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/e\.yaml: interface: sixtun9 already exists here and is not a TUN device: set interface to a free name\n$/);
  });

  it('a control socket in use by another daemon (another namespace)', () => {
    const ns = lab.ns('f');
    const r = start(ns, 'f', (y) => y.replace(/control_socket: .*/, `control_socket: ${running.socket}`));
    expect(r.code).toBe(2);
    expect(r.err).toContain(`control_socket: ${running.socket} is in use by sixtun server (pid ${running.proc.pid}, interface sixtun0, control socket ${running.socket})`);
    expect(links(ns)).toEqual(['lo']);
  });
});
