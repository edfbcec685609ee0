// The control socket against local misuse, without root: created 0600 even
// under a permissive umask, connections that never send a request are
// closed, a streaming command is not, and connections beyond the cap are
// refused.
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ControlServer, MAX_CONTROL_CONNECTIONS, controlRequest } from '../../src/control/control-server.js';

const dir = mkdtempSync(join(tmpdir(), 'sixtun-ctl-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function open(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const c = connect(path);
    c.once('connect', () => resolve(c));
    c.once('error', reject);
  });
}

const closed = (c: Socket): Promise<void> => new Promise((resolve) => (c.destroyed ? resolve() : c.once('close', () => resolve())));

describe('control socket', () => {
  it('is created 0600 under a umask of 000', async () => {
    const old = process.umask(0);
    const server = new ControlServer(join(dir, 'mode.sock'), () => 'pong');
    try {
      await server.listen();
    } finally {
      process.umask(old);
    }
    expect(statSync(server.path).mode & 0o777).toBe(0o600);
    expect(await controlRequest(server.path, { cmd: 'ping' })).toBe('pong');
    await server.close();
  });

  it('closes a connection that sends no request in time, but not one whose command streams', async () => {
    let streaming: Socket | null = null;
    const server = new ControlServer(join(dir, 'idle.sock'), (_req, conn) => {
      streaming = conn;
      return undefined;
    }, 150);
    await server.listen();
    const silent = await open(server.path);
    const talker = await open(server.path);
    talker.write('{"cmd":"trace"}\n');
    await closed(silent);
    await new Promise((r) => setTimeout(r, 400));
    expect(streaming).not.toBeNull();
    expect(talker.destroyed).toBe(false);
    talker.destroy();
    await server.close();
  });

  it(`refuses connections beyond ${MAX_CONTROL_CONNECTIONS}`, async () => {
    const server = new ControlServer(join(dir, 'cap.sock'), () => 'ok', 60_000);
    await server.listen();
    const conns = await Promise.all(Array.from({ length: MAX_CONTROL_CONNECTIONS + 8 }, () => open(server.path)));
    let shut = 0;
    await new Promise<void>((resolve) => conns.forEach((c) => c.once('close', () => { if (++shut === 8) resolve(); })));
    expect(await controlRequest(server.path, { cmd: 'x' }).catch((e: Error) => e.message)).not.toBe('ok');
    expect(conns.filter((c) => !c.destroyed)).toHaveLength(MAX_CONTROL_CONNECTIONS);
    for (const c of conns) c.destroy();
    await server.close();
  });
});
