// docs/cli.md holds every command's --help output verbatim; this keeps them equal.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { SIXTUN_BIN } from '../../src/lab/daemons.js';

export const HELP_COMMANDS = [[], ['server'], ['client'], ['status'], ['trace'], ['demo'], ['tunnel'], ['export'], ['bench']];

function helpOf(cmd: string[]): string {
  const r = spawnSync(process.execPath, [SIXTUN_BIN, ...cmd, '--help'], { encoding: 'utf8' });
  expect(r.status).toBe(0);
  return r.stdout;
}

describe('CLI reference', () => {
  const doc = readFileSync(new URL('../../docs/cli.md', import.meta.url), 'utf8');
  for (const cmd of HELP_COMMANDS) {
    const title = ['sixtun', ...cmd].join(' ');
    it(`docs/cli.md shows \`${title} --help\` exactly`, () => {
      const section = doc.split(`\n## ${title}\n`)[1];
      expect(section, `no "## ${title}" section in docs/cli.md`).toBeDefined();
      const block = /```text\n([\s\S]*?)```/.exec(section)?.[1];
      expect(block).toBe(helpOf(cmd));
    });
  }

  it('an unknown command exits 2 with the usage', () => {
    const r = spawnSync(process.execPath, [SIXTUN_BIN, 'frobnicate'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/unknown command "frobnicate"/);
  });

  it('a daemon command without -c exits 2 and says so', () => {
    const r = spawnSync(process.execPath, [SIXTUN_BIN, 'server'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/-c FILE is required/);
  });

  it('a bad config file exits 2 naming file, line and field', () => {
    const r = spawnSync(process.execPath, [SIXTUN_BIN, 'client', '-c', 'test/fixtures/bad-client.yaml'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/test\/fixtures\/bad-client\.yaml:3: mtu: expected an integer from 1280 to 1480, got 9000/);
  });
});
