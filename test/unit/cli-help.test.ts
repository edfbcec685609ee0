// docs/cli.md holds every command's --help output verbatim; this keeps them equal.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { SIXTUN_BIN } from '../../src/lab/daemons.js';
import { COMMANDS, bashCompletion, optionsOf, renderMan, renderMarkdown, zshCompletion } from '../../src/cli/reference.js';

export const HELP_COMMANDS = [[], ...COMMANDS.map(([c]) => [c])];

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

  it('docs/cli.md and the man page docs/sixtun.1 are what `npm run docs:cli` generates', () => {
    expect(doc).toBe(renderMarkdown());
    expect(readFileSync(new URL('../../docs/sixtun.1', import.meta.url), 'utf8')).toBe(renderMan());
  });

  it('the man page renders every command without roff warnings', () => {
    const r = spawnSync('groff', ['-man', '-Tutf8', '-ww', '-z', 'docs/sixtun.1'], { encoding: 'utf8' });
    if (r.error) return; // groff is not installed: the byte-equality above still holds
    expect(r.stderr).toBe('');
  });

  it('bash completion completes commands and each command\'s options, read from its help', () => {
    const complete = (line: string): string[] => {
      const words = line.split(' ');
      const script = `${bashCompletion()}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _sixtun; printf '%s\\n' "\${COMPREPLY[@]}"`;
      const r = spawnSync('bash', ['-c', script], { encoding: 'utf8' });
      expect(r.stderr).toBe('');
      return r.stdout.split('\n').filter(Boolean);
    };
    expect(complete('sixtun tr')).toEqual(['trace']);
    expect(complete('sixtun t').sort()).toEqual(['trace', 'tunnel']);
    expect(complete('sixtun tunnel ')).toEqual(expect.arrayContaining(['add', 'remove', 'set', 'key', '--client-ipv4', '--json']));
    expect(complete('sixtun trace --dr')).toEqual(['--dropped']);
    expect(optionsOf(COMMANDS.find(([c]) => c === 'status')![1])).toEqual(['--cluster', '--filter', '--limit', '--offset', '--json', '--socket', '-h', '--help']);
    const zsh = zshCompletion();
    expect(zsh.startsWith('#compdef sixtun\n')).toBe(true);
    for (const [c] of COMMANDS) expect(zsh).toContain(`    ${c}) compadd -- `);
    const zr = spawnSync('zsh', ['-n', '-c', zsh], { encoding: 'utf8' });
    if (!zr.error) expect(zr.status, zr.stderr).toBe(0);
  });

  it('no arguments: the usage on standard error and exit 2', () => {
    const r = spawnSync(process.execPath, [SIXTUN_BIN], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^sixtun \d+\.\d+\.\d+: .*\n\nUsage: sixtun <command>/);
  });

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
