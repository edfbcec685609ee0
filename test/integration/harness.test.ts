// The namespace harness leaves nothing behind, even when the suite using it fails.
import { expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeRoot } from '../support/root.js';
import { listNamespaces, pidAlive, waitFor } from '../../src/lab/netns.js';

describeRoot('namespace harness clean-up', () => {
  for (const mode of ['assertion', 'timeout', 'exit']) {
    it(`removes namespaces, links and processes after a failing suite (${mode})`, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'sixtun-harness-'));
      const out = join(dir, 'made.json');
      try {
        const r = spawnSync(process.execPath, [
          'node_modules/vitest/vitest.mjs', 'run', '--config', 'test/fixtures/vitest.config.ts',
        ], { encoding: 'utf8', env: { ...process.env, SIXTUN_FIXTURE_OUT: out, SIXTUN_FIXTURE_MODE: mode }, timeout: 60_000 });
        expect(r.status, r.stdout + r.stderr).not.toBe(0);
        const made = JSON.parse(readFileSync(out, 'utf8')) as { prefix: string; pid: number };
        expect(made.prefix.length).toBeGreaterThan(4);
        await waitFor(() => !pidAlive(made.pid), 5000, 50, `pid ${made.pid} to exit`);
        expect(listNamespaces().filter((n) => n.startsWith(made.prefix))).toEqual([]);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
