// npm's install step for the addon: `node-gyp rebuild`, unless build/ holds
// the addon built from these very sources for this Node.js and these headers.
// `npx sixtun` in a clone runs the install step again right after
// `npm install` did (npm installs the clone into its npx cache as a link):
// without this check that is a second full build before the first command.
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const stampFile = join(root, 'build', 'sixtun-build.json');
const hash = createHash('sha256');
for (const f of ['binding.gyp', 'native/sixtun.c']) hash.update(readFileSync(join(root, f)));
const stamp = JSON.stringify({ sources: hash.digest('hex'), node: process.version, arch: process.arch, nodedir: process.env.npm_config_nodedir ?? '' });

if (existsSync(join(root, 'build', 'Release', 'sixtun.node')) && existsSync(stampFile) && readFileSync(stampFile, 'utf8') === stamp) {
  process.exit(0);
}
// npm hands its own node-gyp to install scripts; outside npm, the one on PATH.
const gyp = process.env.npm_config_node_gyp;
const r = gyp ? spawnSync(process.execPath, [gyp, 'rebuild'], { cwd: root, stdio: 'inherit' }) : spawnSync('node-gyp', ['rebuild'], { cwd: root, stdio: 'inherit' });
if (r.error) {
  process.stderr.write(`sixtun: cannot run node-gyp (${r.error.message}): build through npm (npm install, npm rebuild), which brings its own\n`);
  process.exit(1);
}
if (r.status !== 0) process.exit(r.status ?? 1);
writeFileSync(stampFile, stamp);
