// Product code does not depend on test code, and the shipped build holds none.
import { describe, expect, it } from 'vitest';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { PACKAGE_ROOT } from '../../src/lab/daemons.js';

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

describe('layout', () => {
  it('src/ and bench/ import nothing from test/', () => {
    const offenders = [...sources(join(PACKAGE_ROOT, 'src')), ...sources(join(PACKAGE_ROOT, 'bench'))]
      .filter((f) => /from '(\.\.\/)+test\//.test(readFileSync(f, 'utf8')))
      .map((f) => relative(PACKAGE_ROOT, f));
    expect(offenders).toEqual([]);
  });

  it('the shipped build (tsconfig.build.json) compiles no test code', () => {
    const cfg = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'tsconfig.build.json'), 'utf8')) as { include: string[] };
    expect(cfg.include.filter((p) => p.startsWith('test'))).toEqual([]);
  });
});
