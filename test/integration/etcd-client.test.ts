// The etcd client against a real 3-member etcd cluster on loopback: ranges
// a page at a time, compare-and-set transactions that cannot both win,
// leases, a watch that follows every change and survives the member it is
// connected to (the leader) being killed, and compaction reported for a resync;
// with etcd's auth on, a user held to its prefix whose token etcd forgets;
// over TLS, a client certificate required and the member's certificate checked.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EtcdClient, type WatchEvent } from '../../src/store/etcd.js';
import { EtcdCluster, makeLabTls, ROOT_PASSWORD } from '../../src/lab/etcd.js';
import { waitFor } from '../../src/lab/netns.js';
import { haveEtcd } from '../support/etcd.js';

(haveEtcd ? describe : describe.skip)('etcd client against a 3-member cluster', () => {
  let cluster: EtcdCluster;
  let etcd: EtcdClient;
  beforeAll(async () => {
    cluster = await EtcdCluster.start(3);
    etcd = new EtcdClient({ endpoints: cluster.endpoints, timeoutMs: 2000 });
  }, 30_000);
  afterAll(async () => {
    etcd?.close();
    await cluster?.stop();
  });

  it('reads a prefix of 12 000 keys a page at a time, at one revision', async () => {
    const ops = Array.from({ length: 12_000 }, (_, i) => ({ put: { key: `/t/page/${String(i).padStart(5, '0')}`, value: `v${i}` } }));
    // etcd takes at most 128 operations a transaction by default.
    for (let i = 0; i < ops.length; i += 128) await etcd.txn([], ops.slice(i, i + 128));
    await etcd.put('/t/pagf', 'outside the prefix');
    const { kvs, revision } = await etcd.rangePrefix('/t/page/');
    expect(kvs).toHaveLength(12_000);
    expect(kvs[11_999]).toMatchObject({ key: '/t/page/11999', value: 'v11999' });
    expect(new Set(kvs.map((k) => k.key)).size).toBe(12_000);
    expect(revision).toBeGreaterThan(0);
  });

  it('compare-and-set: of two writers that read the same revision, one wins', async () => {
    const rev = await etcd.put('/t/cas', 'first');
    const cur = (await etcd.get('/t/cas'))!;
    expect(cur.modRevision).toBe(rev);
    const both = await Promise.all(['a', 'b'].map((who) => etcd.txn([{ key: '/t/cas', target: 'mod', result: 'equal', revision: cur.modRevision }], [{ put: { key: '/t/cas', value: who } }])));
    expect(both.filter((r) => r.succeeded)).toHaveLength(1);
    // Create-if-absent: create revision 0.
    const created = await etcd.txn([{ key: '/t/new', target: 'create', result: 'equal', revision: 0 }], [{ put: { key: '/t/new', value: 'x' } }], [{ range: { key: '/t/new' } }]);
    const again = await etcd.txn([{ key: '/t/new', target: 'create', result: 'equal', revision: 0 }], [{ put: { key: '/t/new', value: 'y' } }], [{ range: { key: '/t/new' } }]);
    expect([created.succeeded, again.succeeded]).toEqual([true, false]);
    expect(again.ranges[0][0].value).toBe('x');
  });

  it('a key under a lease goes when the lease is revoked', async () => {
    const lease = await etcd.leaseGrant(5);
    await etcd.put('/t/alive', 'yes', lease);
    expect(await etcd.leaseKeepAlive(lease)).toBe(true);
    await etcd.leaseRevoke(lease);
    expect(await etcd.get('/t/alive')).toBeNull();
    expect(await etcd.leaseKeepAlive(lease)).toBe(false);
  });

  it('a watch sees every change in order, also across the loss of the member it follows', async () => {
    const start = (await etcd.rangePrefix('/t/w/')).revision + 1;
    const seen: WatchEvent[] = [];
    const lost: boolean[] = [];
    const w = etcd.watch('/t/w/', start, { events: (e) => seen.push(...e), compacted: () => undefined, connection: (l) => lost.push(l) });
    try {
      for (let i = 0; i < 5; i++) await etcd.put(`/t/w/${i}`, `a${i}`);
      await waitFor(() => seen.length === 5, 5000, 20, 'five events');
      // The watch follows the first endpoint: make that member the leader and kill it.
      // A follower then holds a write until the client gives up on it; writes go on
      // through the other follower once one of them leads.
      await cluster.makeLeader(0);
      await cluster.killMember(0);
      for (let i = 5; i < 10; i++) await etcd.put(`/t/w/${i}`, `a${i}`);
      await etcd.txn([], [{ delete: { key: '/t/w/0' } }]);
      await waitFor(() => seen.length === 11, 10_000, 20, 'the events after the member was killed');
      expect(seen.map((e) => `${e.type} ${e.kv.key}`)).toEqual([
        ...Array.from({ length: 10 }, (_, i) => `put /t/w/${i}`), 'delete /t/w/0',
      ]);
      expect(lost).toContain(true);
    } finally {
      w.stop();
      cluster.startMember(0);
      await cluster.waitHealthy();
    }
  }, 30_000);

  it('a watch from a compacted revision reports compaction, for a whole read', async () => {
    await etcd.put('/t/c/x', '1');
    const old = await etcd.put('/t/c/x', '2');
    await etcd.put('/t/c/x', '3');
    await fetch(`${cluster.endpoints[1]}/v3/kv/compaction`, { method: 'POST', body: JSON.stringify({ revision: String(old + 1), physical: true }) });
    let compactedAt = 0;
    const w = etcd.watch('/t/c/', old, { events: () => undefined, compacted: (r) => { compactedAt = r; }, connection: () => undefined });
    try {
      await waitFor(() => compactedAt > 0, 5000, 20, 'compaction reported');
      expect(compactedAt).toBe(old + 1);
    } finally {
      w.stop();
    }
  });

  it('with no member reachable, a request fails with EUNAVAILABLE naming the endpoints', async () => {
    const dead = new EtcdClient({ endpoints: ['http://127.0.0.1:9'], timeoutMs: 500 });
    await expect(dead.get('/x')).rejects.toMatchObject({ code: 'EUNAVAILABLE', message: expect.stringContaining('127.0.0.1:9') });
    dead.close();
  });
});

(haveEtcd ? describe : describe.skip)('etcd client with auth on, against a member that forgets a token unused for 1 s', () => {
  let cluster: EtcdCluster;
  beforeAll(async () => {
    cluster = await EtcdCluster.start(1, { flags: ['--auth-token-ttl', '1'] });
    cluster.enableAuth('sixtun', 'pw', '/sixtun/');
  }, 30_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  /** Waits out the token TTL (a clock, not a condition: every use of a token
   * renews it), then checks that a token made before and left unused is gone. */
  async function tokensForgotten(): Promise<void> {
    const post = async (path: string, body: unknown, token?: string): Promise<string> => {
      const r = await fetch(`${cluster.endpoints[0]}${path}`, { method: 'POST', headers: token ? { authorization: token } : {}, body: JSON.stringify(body) });
      return r.text();
    };
    const probe = (JSON.parse(await post('/v3/auth/authenticate', { name: 'sixtun', password: 'pw' })) as { token: string }).token;
    await new Promise((r) => setTimeout(r, 3000));
    expect(await post('/v3/kv/range', { key: Buffer.from('/sixtun/x').toString('base64') }, probe)).toMatch(/invalid auth token/);
  }

  it('a request, and a watch, after etcd forgot the token sign in again', async () => {
    const etcd = new EtcdClient({ endpoints: cluster.endpoints, username: 'sixtun', password: 'pw', timeoutMs: 2000 });
    const root = new EtcdClient({ endpoints: cluster.endpoints, username: 'root', password: ROOT_PASSWORD, timeoutMs: 2000 });
    try {
      const first = await etcd.put('/sixtun/a', '1');
      await tokensForgotten();
      // etcd answers a watch with a forgotten token "created" and "canceled" at once, and keeps the stream open.
      const seen: string[] = [];
      const lost: boolean[] = [];
      const w = etcd.watch('/sixtun/', first + 1, { events: (e) => seen.push(...e.map((x) => x.kv.key)), compacted: () => undefined, connection: (l) => lost.push(l) });
      try {
        await root.put('/sixtun/b', '2');
        await waitFor(() => seen.includes('/sixtun/b'), 10_000, 20, 'the watch to see a put');
        // Signed in again at once: never reported as a lost connection (the daemon would log etcd unreachable).
        expect(lost).toEqual([]);
      } finally {
        w.stop();
      }
      await tokensForgotten();
      expect(await etcd.put('/sixtun/c', '3')).toBeGreaterThan(first);
      expect((await etcd.get('/sixtun/c'))?.value).toBe('3');
    } finally {
      etcd.close();
      root.close();
    }
  }, 30_000);

  it('outside its prefix, or with a wrong password, a request fails with EAUTH naming the cause', async () => {
    const etcd = new EtcdClient({ endpoints: cluster.endpoints, username: 'sixtun', password: 'pw', timeoutMs: 2000 });
    const wrong = new EtcdClient({ endpoints: cluster.endpoints, username: 'sixtun', password: 'not it', timeoutMs: 2000 });
    try {
      await expect(etcd.put('/elsewhere', 'x')).rejects.toMatchObject({ code: 'EAUTH', message: expect.stringContaining('permission denied') });
      await expect(wrong.get('/sixtun/a')).rejects.toMatchObject({ code: 'EAUTH', message: expect.stringContaining('invalid user ID or password') });
    } finally {
      etcd.close();
      wrong.close();
    }
  });
});

(haveEtcd ? describe : describe.skip)('etcd client over TLS, with client certificates required', () => {
  let cluster: EtcdCluster;
  beforeAll(async () => {
    cluster = await EtcdCluster.start(1, { tls: 'mutual' });
  }, 30_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  it('reads, writes and watches with the CA and a client certificate', async () => {
    const t = cluster.tls!;
    const etcd = new EtcdClient({ endpoints: cluster.endpoints, tls: { ca: t.ca, cert: t.clientCert, key: t.clientKey }, timeoutMs: 2000 });
    const seen: string[] = [];
    const start = (await etcd.rangePrefix('/tls/')).revision + 1;
    const w = etcd.watch('/tls/', start, { events: (e) => seen.push(...e.map((x) => `${x.kv.key}=${x.kv.value}`)), compacted: () => undefined, connection: () => undefined });
    try {
      expect(cluster.endpoints[0]).toMatch(/^https:/);
      await etcd.put('/tls/a', '1');
      expect((await etcd.get('/tls/a'))?.value).toBe('1');
      await waitFor(() => seen.length > 0, 5000, 20, 'the watch over TLS');
      expect(seen).toEqual(['/tls/a=1']);
    } finally {
      w.stop();
      etcd.close();
    }
  });

  it('without a client certificate, with one of another CA, or trusting another CA, no request goes through, and the error says which side refused', async () => {
    const t = cluster.tls!;
    const other = makeLabTls(cluster.dir, '127.0.0.1', 'other');
    const cases: Array<[string, { ca: string; cert?: string; key?: string }, RegExp]> = [
      ['no client certificate', { ca: t.ca }, /the member refused this client's certificate \(store\.etcd\.tls cert and key; ERR_SSL_\S+_ALERT_/],
      ['a client certificate of another CA', { ca: t.ca, cert: other.clientCert, key: other.clientKey }, /the member refused this client's certificate/],
      ['another CA trusted', { ca: other.ca, cert: t.clientCert, key: t.clientKey }, /the member's certificate is not one store\.etcd\.tls\.ca vouches for \(UNABLE_TO_VERIFY_LEAF_SIGNATURE/],
    ];
    for (const [what, tls, why] of cases) {
      const etcd = new EtcdClient({ endpoints: cluster.endpoints, tls, timeoutMs: 2000 });
      try {
        await expect(etcd.put('/tls/b', 'x'), what).rejects.toMatchObject({ code: 'EUNAVAILABLE', message: expect.stringMatching(why) });
      } finally {
        etcd.close();
      }
    }
    const check = new EtcdClient({ endpoints: cluster.endpoints, tls: { ca: t.ca, cert: t.clientCert, key: t.clientKey }, timeoutMs: 2000 });
    try {
      expect(await check.get('/tls/b')).toBeNull();
    } finally {
      check.close();
    }
  });
});
