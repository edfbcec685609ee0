// A server whose registry is in etcd set up as operations.md says for
// production: etcd's auth with a user held to the registry's prefix, over
// TLS with the member's certificate checked (no client certificate: etcd's
// JSON gateway refuses one while auth is on). A tunnel added through the
// server is stored and carried; a wrong password stops the start, saying so;
// store migrate reads the registry through the same configuration.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeRoot, useLab } from '../support/root.js';
import { buildClusterTopology, clusterClientYaml, clusterServerYaml, ETCD_V4, type ClusterTopology } from '../../src/lab/cluster.js';
import { EtcdCluster } from '../../src/lab/etcd.js';
import { SIXTUN_BIN, runDir, startDaemon, status } from '../../src/lab/daemons.js';
import { HOST_V6 } from '../../src/lab/topology.js';
import { cli, ping } from '../helpers/programs.js';
import { haveEtcd } from '../support/etcd.js';

(haveEtcd ? describeRoot : describeRoot.skip)('a server on etcd with auth over TLS', () => {
  const lab = useLab('sec');
  const dir = runDir('sec');
  let t: ClusterTopology;
  let etcd: EtcdCluster;
  const socket = join(dir, 'a.sock');

  function writeServerConfig(password: string): string {
    const tls = etcd.tls!;
    const config = join(dir, 'a.yaml');
    const access = `, username: sixtun, password: "${password}", tls: {ca: ${tls.ca}}`;
    writeFileSync(config, clusterServerYaml(t.servers[0], socket, etcd.endpoints, '', access), { mode: 0o600 });
    return config;
  }

  beforeAll(async () => {
    t = buildClusterTopology(lab, { servers: 1, clients: 1 });
    etcd = await EtcdCluster.start(1, { ns: t.etcd, host: ETCD_V4, tls: 'server' });
    etcd.enableAuth('sixtun', 'pw', '/sixtun/');
  }, 60_000);
  afterAll(async () => {
    await etcd?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('with a wrong password the start fails, with etcd\'s answer, and leaves nothing behind', async () => {
    const proc = lab.spawn(t.servers[0].ns, [process.execPath, SIXTUN_BIN, 'server', '-c', writeServerConfig('not it')]);
    expect(await proc.exited).not.toBe(0);
    expect(proc.output()).toMatch(/invalid user ID or password/);
    expect(lab.ipJson<Array<{ ifname: string }>>(t.servers[0].ns, ['link', 'show']).map((l) => l.ifname)).not.toContain('sixtun0');
  });

  it('a tunnel added through the server is stored over TLS with the user\'s rights and carried: the client reaches the host', async () => {
    const server = await startDaemon(lab, t.servers[0].ns, 'server', writeServerConfig('pw'), socket);
    try {
      const c = t.clients[0];
      const add = await cli(['tunnel', 'add', c.name, '--client-ipv4', c.v4, '--server-ipv6', `${c.serverV6}/127`, '--client-ipv6', c.clientV6, '--server', 'a', '--socket', socket]);
      expect(add.code, add.err).toBe(0);
      expect((await status(server)).tunnels.map((x) => x.name)).toEqual([c.name]);
      const config = join(dir, `${c.name}.yaml`);
      writeFileSync(config, clusterClientYaml(c, t.servers[0].v4, join(dir, `${c.name}.sock`)));
      await startDaemon(lab, c.ns, 'client', config, join(dir, `${c.name}.sock`));
      expect(ping(lab, c.ns, HOST_V6).received).toBe(3);
      // What was stored is in etcd, under the prefix, as the registry record.
      const key = Buffer.from(`/sixtun/tunnels/${c.name}`).toString('base64');
      const tls = etcd.tls!;
      const token = (JSON.parse(lab.exec(t.etcd, ['curl', '-sf', '--cacert', tls.ca, '-d', JSON.stringify({ name: 'sixtun', password: 'pw' }), `${etcd.endpoints[0]}/v3/auth/authenticate`])) as { token: string }).token;
      const range = JSON.parse(lab.exec(t.etcd, ['curl', '-sf', '--cacert', tls.ca, '-H', `authorization: ${token}`, '-d', JSON.stringify({ key }), `${etcd.endpoints[0]}/v3/kv/range`])) as { kvs?: Array<{ value: string }> };
      expect(JSON.parse(Buffer.from(range.kvs![0].value, 'base64').toString('utf8'))).toMatchObject({ name: c.name, client_ipv4: c.v4, server: 'a' });
    } finally {
      await lab.stop(server.proc);
    }
  });

  it('store migrate reads the registry out through the same configuration: TLS, user and password', () => {
    const out = join(dir, 'out.jsonl');
    const migrated = lab.exec(t.servers[0].ns, [process.execPath, SIXTUN_BIN, 'store', 'migrate', '--from', writeServerConfig('pw'), '--to', out]);
    expect(migrated).toMatch(/^migrated 1 tunnels/);
    const lines = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { op: string; tunnel: { name: string } });
    expect(lines.map((l) => [l.op, l.tunnel.name])).toEqual([['put', t.clients[0].name]]);
  });
});
