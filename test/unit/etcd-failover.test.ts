// Failover on members that cannot be made to misbehave on cue in a real
// cluster: one that takes a request and never answers (a follower whose
// leader just died holds a proposal for seconds), one that refuses, one
// that answers. A unary call tries each once, whatever a watch failing over
// at the same moment does, and the next call starts at the one that answered.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { EtcdClient } from '../../src/store/etcd.js';

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
});
