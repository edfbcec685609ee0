// Which daemon a CLI command talks to when --socket is not given. The daemons
// here are stand-ins that answer `status` on unix sockets in a temporary
// directory: the choice logic is what is tested (the walkthrough test finds
// real daemons in their namespaces).
import { afterAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:net';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveSocket, UsageError } from '../../src/cli/socket.js';

const dir = mkdtempSync(join(tmpdir(), 'sixtun-disc-'));
const servers: Server[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  rmSync(dir, { recursive: true, force: true });
});

function fakeDaemon(path: string, mode: string): Promise<void> {
  const s = createServer((c) => c.on('data', () => c.end(JSON.stringify({ ok: true, result: { mode, interface: 'sixtun0', pid: process.pid } }) + '\n')));
  servers.push(s);
  return new Promise((r) => s.listen(path, () => r()));
}

async function choose(mode?: 'server' | 'client'): Promise<string> {
  try {
    return await resolveSocket(undefined, mode, dir);
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    return `error: ${(e as Error).message}`;
  }
}

describe('finding the running daemon', () => {
  it('none: says so and how to go on', async () => {
    expect(await choose()).toBe(`error: no running sixtun daemon answers under ${dir}: start one (sixtun server -c FILE), or give --socket PATH`);
  });

  it('one, also below a subdirectory, past stale sockets and other files', async () => {
    writeFileSync(join(dir, 'notes.txt'), 'x');
    const stale = createServer();
    await new Promise<void>((r) => stale.listen(join(dir, 'stale.sock'), () => r()));
    // Closing a listener unlinks nothing: the socket file stays, and nobody answers.
    await new Promise((r) => stale.close(r));
    mkdirSync(join(dir, 'demo'));
    await fakeDaemon(join(dir, 'demo', 'server.sock'), 'server');
    expect(await choose()).toBe(join(dir, 'demo', 'server.sock'));
    expect(await resolveSocket('/given/path.sock', undefined, dir)).toBe('/given/path.sock');
  });

  it('several: lists them with --socket to choose; a mode narrows the choice', async () => {
    await fakeDaemon(join(dir, 'client-sixtun0.sock'), 'client');
    const out = await choose();
    expect(out).toMatch(/^error: 2 sixtun daemons are running; choose one with --socket:\n/);
    expect(out).toContain(`  --socket ${join(dir, 'client-sixtun0.sock')}   # sixtun client (pid ${process.pid}, interface sixtun0`);
    expect(out).toContain(`  --socket ${join(dir, 'demo', 'server.sock')}   # sixtun server`);
    expect(await choose('server')).toBe(join(dir, 'demo', 'server.sock'));
  });
});
