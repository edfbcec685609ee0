// `sixtun demo`, run the way a newcomer runs it, and its --keep/--down mode.
import { expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { describeRoot } from '../support/root.js';
import { SIXTUN_BIN } from '../../src/lab/daemons.js';
import { listNamespaces, pidAlive } from '../../src/lab/netns.js';

function run(args: string[]): { code: number | null; out: string } {
  const r = spawnSync(process.execPath, [SIXTUN_BIN, 'demo', ...args], { encoding: 'utf8', timeout: 120_000, cwd: tmpdir() });
  return { code: r.status, out: r.stdout + r.stderr };
}

describeRoot('sixtun demo', () => {
  /** The demo's own namespaces (other suites create theirs in parallel). */
  function prefixOf(out: string): string {
    const m = /namespaces (\S+)\*/.exec(out);
    expect(m, out).not.toBeNull();
    return m![1];
  }

  it('builds the topology, shows traffic flowing, and leaves nothing behind', () => {
    const r = run([]);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/✓ ICMPv6 echo from the client to the host .*: 5\/5 replies/);
    expect(r.out).toMatch(/✓ ICMPv6 echo from the client's LAN .*: 3\/3 replies/);
    expect(r.out).not.toMatch(/✗/);
    expect(r.out).toMatch(/TCP, 8 MiB from the host to the client, checksummed: byte-exact/);
    expect(r.out).toMatch(/TCP, 8 MiB from the client to the host, checksummed: byte-exact/);
    expect(r.out).toMatch(/result: the tunnel works/);
    expect(r.out).toMatch(/0 left behind/);
    expect(listNamespaces().filter((n) => n.startsWith(prefixOf(r.out)))).toEqual([]);
  });

  it('--keep leaves it running for exploration and --down removes it', () => {
    const r = run(['--keep']);
    expect(r.code, r.out).toBe(0);
    // Run from this test (not a clone's directory, not on PATH): the hint is a command that works from here.
    expect(r.out).toMatch(new RegExp(`Stop it with: node ${SIXTUN_BIN} demo --down`));
    const state = JSON.parse(spawnSync('cat', ['/run/sixtun/demo.json'], { encoding: 'utf8' }).stdout) as { namespaces: string[]; pids: number[] };
    try {
      expect(state.pids.every(pidAlive)).toBe(true);
      expect(listNamespaces()).toEqual(expect.arrayContaining(state.namespaces));
      // Still forwarding after the demo process exited.
      const client = state.namespaces.find((n) => n.endsWith('-c1'))!;
      const ping = spawnSync('ip', ['netns', 'exec', client, 'ping', '-6', '-c', '1', '-W', '2', '2001:db8:beef::1'], { encoding: 'utf8' });
      expect(ping.status, ping.stdout).toBe(0);
    } finally {
      const d = run(['--down']);
      expect(d.code, d.out).toBe(0);
    }
    expect(state.pids.some(pidAlive)).toBe(false);
    expect(listNamespaces().filter((n) => n.startsWith(prefixOf(r.out)))).toEqual([]);
    expect(existsSync('/run/sixtun/demo.json')).toBe(false);
  });

  it('refuses --down when nothing is running, with a clear message', () => {
    const r = run(['--down']);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/no demo is running/);
  });
});
