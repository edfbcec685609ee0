// Small pieces of what the CLI tells the user: failed demo steps, the command
// to type, relative times, the line printed for a tunnel change.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stepper } from '../../src/cli/demo.js';
import { selfCommand } from '../../src/cli/self.js';
import { ago } from '../../src/cli/status.js';
import { describeChange } from '../../src/cli/tunnel.js';
import { PACKAGE_ROOT, SIXTUN_BIN } from '../../src/lab/daemons.js';

describe('CLI messages', () => {
  it('a failed demo step is marked ✗ with its result and remembered; a good one ✓', () => {
    const failures: string[] = [];
    const written: string[] = [];
    const write = process.stdout.write;
    process.stdout.write = ((s: string) => { written.push(s); return true; }) as typeof process.stdout.write;
    try {
      const step = stepper(failures);
      step('ICMPv6 echo to the host')('0/5 replies', false);
      step('TCP, 8 MiB')('byte-exact');
    } finally {
      process.stdout.write = write;
    }
    expect(written.join('')).toMatch(/^ {2}✗ ICMPv6 echo to the host: 0\/5 replies \(\d+ ms\)\n {2}✓ TCP, 8 MiB: byte-exact \(\d+ ms\)\n$/);
    expect(failures).toEqual(['ICMPv6 echo to the host: 0/5 replies']);
  });

  it('hints name a command the user can type where they are', () => {
    const bin = mkdtempSync(join(tmpdir(), 'sixtun-path-'));
    try {
      expect(selfCommand({ PATH: '/usr/bin' }, tmpdir())).toBe(`node ${SIXTUN_BIN}`);
      expect(selfCommand({ PATH: '/usr/bin' }, PACKAGE_ROOT)).toBe('npx sixtun');
      symlinkSync(SIXTUN_BIN, join(bin, 'sixtun'));
      expect(selfCommand({ PATH: `/usr/bin:${bin}` }, tmpdir())).toBe('sixtun');
    } finally {
      rmSync(bin, { recursive: true, force: true });
    }
  });

  it('command-line mistakes in the CLI’s words, the same on every Node.js', () => {
    const run = (args: string[]): { status: number | null; stderr: string } => spawnSync(process.execPath, [SIXTUN_BIN, ...args], { encoding: 'utf8' });
    const unknown = run(['status', '--bogus']);
    expect([unknown.status, unknown.stderr.split('\n')[0]]).toEqual([2, 'sixtun status: unknown option --bogus']);
    expect(run(['check', '-c']).stderr.split('\n')[0]).toBe('sixtun check: -c, --config needs a value');
    expect(run(['export', 'x', '--format', 'sixtun', '--key', '-abc']).stderr.split('\n')[0]).toBe("sixtun export: --key: a value that starts with '-' goes as --key=VALUE");
    const stray = run(['trace', 'extra', 'words', '--bogus']).stderr;
    expect(stray.split('\n')[0]).toBe('sixtun trace: unexpected argument extra');
    expect(stray).not.toMatch(/To specify a positional argument/);
  });

  it('relative times', () => {
    const now = Date.parse('2026-12-01T12:00:00Z');
    expect(ago(null, now)).toBe('never');
    expect(ago('2026-12-01T11:59:57Z', now)).toBe('3 s ago');
    expect(ago('2026-12-01T11:48:00Z', now)).toBe('12 min ago');
    expect(ago('2026-12-01T07:00:00Z', now)).toBe('5 h ago');
    expect(ago('2026-11-28T12:00:00Z', now)).toBe('3 d ago');
  });

  it('a tunnel change in one line', () => {
    const t = { name: 'office', client_ipv4: '198.51.100.7', server_ipv6: '2001:db8:ff::4/127', client_ipv6: '2001:db8:ff::5', routed_prefixes: ['2001:db8:100:1::/64'] };
    expect(describeChange('add', t, 'office')).toBe('added tunnel office: 198.51.100.7 → 2001:db8:ff::4/127 (client 2001:db8:ff::5), routes 2001:db8:100:1::/64');
    expect(describeChange('set', { ...t, routed_prefixes: [] }, 'office')).toBe('changed tunnel office: 198.51.100.7 → 2001:db8:ff::4/127 (client 2001:db8:ff::5), no routed prefixes');
  });
});
