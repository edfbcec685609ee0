// How the user can call sixtun again from their shell: printed in hints, so
// it must be a command that works where they are, not the one we wish they had.
import { existsSync, realpathSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { PACKAGE_ROOT, SIXTUN_BIN } from '../lab/daemons.js';

function sameFile(a: string, b: string): boolean {
  try {
    return realpathSync(a) === realpathSync(b);
  } catch {
    return false;
  }
}

/** `sixtun` when that name on PATH is this program (npm install -g, npm link,
 * a package), `npx sixtun` inside a clone, else `node /path/to/bin/sixtun.js`. */
export function selfCommand(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): string {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, 'sixtun');
    // npx puts node_modules/.bin on PATH only for its own child: not a command the shell has.
    if (existsSync(candidate) && sameFile(candidate, SIXTUN_BIN) && !dir.endsWith(join('node_modules', '.bin'))) return 'sixtun';
  }
  if (sameFile(cwd, PACKAGE_ROOT)) return 'npx sixtun';
  return `node ${SIXTUN_BIN}`;
}
