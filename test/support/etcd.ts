// Whether this machine has an etcd server binary (Debian: etcd-server, which
// CI installs); without it the tests that start a cluster skip, loudly.
import { spawnSync } from 'node:child_process';

export const haveEtcd = spawnSync('etcd', ['--version'], { stdio: 'ignore' }).status === 0;

if (!haveEtcd) console.warn('\n*** sixtun: no etcd binary (Debian: etcd-server) — tests that start an etcd cluster are SKIPPED ***\n');
