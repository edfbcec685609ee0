// The README's first command, run as a newcomer runs it: in a fresh copy of
// the repository, on a machine whose PATH has no ping, tshark or iperf3.
import { expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { describeRoot } from '../support/root.js';
import { PACKAGE_ROOT, SIXTUN_BIN } from '../../src/lab/daemons.js';
import { listNamespaces } from '../../src/lab/netns.js';

/** A directory of links to every program on PATH except `without`. */
function shadowPath(root: string, without: string[]): string {
  const bin = join(root, 'bin');
  mkdirSync(bin);
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    // vitest's own node_modules/.bin is not part of a fresh machine.
    if (dir === '' || dir.includes('node_modules') || !existsSync(dir)) continue;
    for (const name of readdirSync(dir)) {
      if (without.includes(name) || existsSync(join(bin, name))) continue;
      symlinkSync(join(dir, name), join(bin, name));
    }
  }
  return bin;
}

/** The environment of a login shell: no npm_* variables from `npm test`. */
function freshEnv(path: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  // npm_config_nodedir stays: it is how this machine points node-gyp at the running Node's headers.
  for (const [k, v] of Object.entries(process.env)) if (!/^(npm_|NODE_|VITEST|INIT_CWD)/i.test(k) || k === 'npm_config_nodedir') env[k] = v;
  env.PATH = path;
  return env;
}

describeRoot('first contact', () => {
  it('`npm install && npx sixtun demo` works in a fresh copy without ping, tshark or iperf3', () => {
    const readme = readFileSync(join(PACKAGE_ROOT, 'README.md'), 'utf8');
    const first = /```sh\n([^\n]*)/.exec(readme)![1].replace(/\s+#.*$/, '');
    expect(first).toBe('npm install && npx sixtun demo');
    const root = mkdtempSync(join(tmpdir(), 'sixtun-first-'));
    try {
      const bin = shadowPath(root, ['ping', 'ping6', 'tshark', 'iperf3']);
      const clone = join(root, 'sixtun');
      // What a clone holds: the tracked files (as they are in this tree) and nothing built.
      const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: PACKAGE_ROOT, encoding: 'utf8' }).split('\0').filter(Boolean);
      for (const f of files) {
        if (!existsSync(join(PACKAGE_ROOT, f))) continue;
        mkdirSync(dirname(join(clone, f)), { recursive: true });
        cpSync(join(PACKAGE_ROOT, f), join(clone, f));
      }
      // The two halves one after the other, as `&&` runs them, to see what the second one builds.
      const [install, run] = first.split(' && ');
      const built = ['build/Release/sixtun.node', 'dist/src/cli/main.js'].map((f) => join(clone, f));
      const installed = spawnSync('sh', ['-c', install], { cwd: clone, env: freshEnv(bin), encoding: 'utf8', timeout: 300_000 });
      expect(installed.status, installed.stdout + installed.stderr).toBe(0);
      const builtAt = built.map((f) => statSync(f).mtimeMs);
      const r = spawnSync('sh', ['-c', run], { cwd: clone, env: freshEnv(bin), encoding: 'utf8', timeout: 300_000 });
      const out = r.stdout + r.stderr;
      expect(r.status, out).toBe(0);
      // npx runs the clone's install and prepare steps again: they find the addon and the JavaScript built.
      expect(built.map((f) => statSync(f).mtimeMs)).toEqual(builtAt);
      expect(out).toMatch(/result: the tunnel works/);
      expect(out).not.toMatch(/✗/);
      expect(out).toMatch(/0 left behind/);
      const prefix = /namespaces (\S+)\*/.exec(out)![1];
      expect(listNamespaces().filter((n) => n.startsWith(prefix))).toEqual([]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  }, 600_000);

  it('without iproute2 the demo stops before building anything and names the package', () => {
    const root = mkdtempSync(join(tmpdir(), 'sixtun-noip-'));
    try {
      const bin = shadowPath(root, ['ip']);
      const r = spawnSync(process.execPath, [SIXTUN_BIN, 'demo'], { env: freshEnv(bin), encoding: 'utf8', timeout: 60_000 });
      expect(r.status, r.stdout + r.stderr).toBe(2);
      expect(r.stderr).toMatch(/`ip`, not found on PATH: install iproute2/);
      expect(r.stdout).not.toMatch(/namespaces/);
      // The demo names its namespaces after its pid (other suites make theirs meanwhile).
      expect(listNamespaces().filter((n) => n.startsWith(`demo${r.pid!.toString(36)}`))).toEqual([]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
