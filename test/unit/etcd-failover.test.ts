// Failover on members that cannot be made to misbehave on cue in a real
// cluster: one that takes a request and never answers (a follower whose
// leader just died holds a proposal for seconds), one that refuses, one
// that answers. A unary call tries each once, whatever a watch failing over
// at the same moment does, and the next call starts at the one that answered;
// a watch etcd cancels is opened again.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { EtcdClient } from '../../src/store/etcd.js';
import { waitFor } from '../../src/lab/netns.js';

function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ server: Server; url: string }> {
  const server = createServer(handler);
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}` })));
}

describe('etcd client failover', () => {
  const servers: Server[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) {
      s.closeAllConnections();
      await new Promise((r) => s.close(r));
    }
  });

  it('a call tries every endpoint once while a watch fails over beside it, then stays on the one that answered', async () => {
    const puts = [0, 0];
    const silent = await listen((req) => { if (req.url === '/v3/kv/put') puts[0]++; });
    const answering = await listen((req, res) => {
      if (req.url === '/v3/kv/put') {
        puts[1]++;
        res.end(JSON.stringify({ header: { revision: '7' } }));
      } else {
        res.writeHead(200);
      }
    });
    const refusing = await listen(() => undefined);
    servers.push(silent.server, answering.server);
    await new Promise((r) => refusing.server.close(r));

    const etcd = new EtcdClient({ endpoints: [silent.url, answering.url, refusing.url], timeoutMs: 300 });
    // Started first, the watch times out on the silent member just before the call does.
    const w = etcd.watch('/w/', 1, { events: () => undefined, compacted: () => undefined, connection: () => undefined });
    try {
      expect(await etcd.put('/k', 'v')).toBe(7);
      expect(puts).toEqual([1, 1]);
      expect(await etcd.put('/k', 'v')).toBe(7);
      expect(puts).toEqual([1, 2]);
    } finally {
      w.stop();
      etcd.close();
    }
  });

  it('a watch etcd cancels without a compaction (created and canceled at once, the stream left open) is opened again', async () => {
    let opened = 0;
    const member = await listen((req, res) => {
      if (req.url !== '/v3/watch') return void res.end('{}');
      opened++;
      res.writeHead(200, { 'content-type': 'application/json' });
      if (opened === 1) {
        res.write(`${JSON.stringify({ result: { header: { revision: '9' }, created: true, canceled: true, cancel_reason: 'rpc error: code = Unavailable desc = etcdserver: not capable' } })}\n`);
        return;
      }
      const kv = { key: Buffer.from('/w/a').toString('base64'), value: Buffer.from('1').toString('base64'), mod_revision: '5', create_revision: '5', version: '1' };
      res.write(`${JSON.stringify({ result: { header: { revision: '9' }, created: true } })}\n`);
      res.write(`${JSON.stringify({ result: { header: { revision: '9' }, events: [{ type: 'PUT', kv }] } })}\n`);
    });
    servers.push(member.server);
    const etcd = new EtcdClient({ endpoints: [member.url], timeoutMs: 1000 });
    const seen: string[] = [];
    const connection: boolean[] = [];
    const w = etcd.watch('/w/', 5, { events: (e) => seen.push(...e.map((x) => x.kv.key)), compacted: () => undefined, connection: (lost) => connection.push(lost) });
    try {
      await waitFor(() => seen.length > 0, 5000, 20, 'the event after the watch was opened again');
      expect(seen).toEqual(['/w/a']);
      expect(opened).toBe(2);
      expect(connection).toEqual([true, false]);
    } finally {
      w.stop();
      etcd.close();
    }
  });
});
