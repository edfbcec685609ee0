// Several servers sharing a registry in etcd (a 3-member cluster in a
// namespace): the time from a write on one server to forwarding on another
// (the tunnel added through server a is in server b's datapath), over 100
// changes; and how long a server takes to start from a registry of N tunnels
// it all carries (the registry moved into etcd with `sixtun store migrate`).
//   node dist/bench/cluster.js [--changes 100] [--tunnels 10000,100000]
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Lab, waitFor } from '../src/lab/netns.js';
import { buildClusterTopology, clusterServerYaml, ETCD_V4 } from '../src/lab/cluster.js';
import { EtcdCluster } from '../src/lab/etcd.js';
import { SIXTUN_BIN, runDir, startDaemon } from '../src/lab/daemons.js';
import { synthetic } from '../src/lab/registry.js';
import { controlRequest } from '../src/control/control-server.js';
import { percentile } from './stats.js';

const arg = (name: string, def: string): string => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : def;
};

export async function clusterBench(changes: number, sizes: number[], log: (l: string) => void): Promise<Record<string, unknown>> {
  const lab = new Lab('cbench');
  const dir = runDir('cbench');
  let etcd: EtcdCluster | null = null;
  try {
    const t = buildClusterTopology(lab, { servers: 2, clients: 0 });
    etcd = await EtcdCluster.start(3, { ns: t.etcd, host: ETCD_V4 });
    const endpoints = etcd.endpoints;
    const start = async (i: number, prefix: string, timeoutMs = 15_000): Promise<{ socket: string; ms: number; proc: Awaited<ReturnType<typeof startDaemon>>['proc'] }> => {
      const s = t.servers[i];
      const socket = join(dir, `${s.name}.sock`);
      const config = join(dir, `${s.name}.yaml`);
      writeFileSync(config, clusterServerYaml(s, socket, endpoints, 'ndp: off\n').replace('prefix: /sixtun/', `prefix: ${prefix}`));
      const t0 = performance.now();
      const d = await startDaemon(lab, s.ns, 'server', config, socket, {}, [], timeoutMs);
      return { socket, ms: performance.now() - t0, proc: d.proc };
    };

    // Write on a, forwarding on b.
    const a = await start(0, '/lat/');
    const b = await start(1, '/lat/');
    const ms: number[] = [];
    for (let i = 0; i < changes; i++) {
      const r = synthetic(i + 1);
      const t0 = performance.now();
      await controlRequest(a.socket, { cmd: 'tunnel', op: 'add', name: r.name, fields: { ...r, server: 'b' } }, 30_000);
      // Until then b answers "no tunnel NAME".
      await waitFor(() => controlRequest(b.socket, { cmd: 'status', tunnel: r.name }).then(() => true, () => false), 10_000, 1, `${r.name} on b`);
      ms.push(performance.now() - t0);
    }
    log(`write on a → forwarding on b: p50 ${percentile(ms, 50).toFixed(1)} ms, p99 ${percentile(ms, 99).toFixed(1)} ms`);
    await lab.stop(a.proc);
    await lab.stop(b.proc);

    // Start-up from the registry.
    const startups: Array<{ tunnels: number; startMs: number; readMs: number }> = [];
    for (const n of sizes) {
      const journal = join(dir, `reg${n}.jsonl`);
      const lines: string[] = [];
      for (let i = 1; i <= n; i++) lines.push(JSON.stringify({ op: 'put', tunnel: { ...synthetic(i), server: 'b' } }));
      writeFileSync(journal, lines.join('\n') + '\n');
      const prefix = `/start${n}/`;
      const url = `etcd://${endpoints.map((e) => e.replace('http://', '')).join(',')}${prefix}`;
      const m0 = performance.now();
      lab.exec(t.servers[0].ns, [process.execPath, SIXTUN_BIN, 'store', 'migrate', '--from', journal, '--to', url], { timeoutMs: 600_000 });
      log(`${n} tunnels migrated into etcd in ${((performance.now() - m0) / 1000).toFixed(1)} s`);
      const s = await start(1, prefix, 600_000);
      const readMs = Number(/msg="registry read from etcd".* ms=(\d+)/.exec(s.proc.output())?.[1] ?? NaN);
      startups.push({ tunnels: n, startMs: Math.round(s.ms), readMs });
      log(`${n} tunnels: started in ${(s.ms / 1000).toFixed(1)} s (registry read in ${(readMs / 1000).toFixed(1)} s)`);
      await lab.stop(s.proc, 120_000);
    }
    return {
      changes, writeToForwardMs: { p50: +percentile(ms, 50).toFixed(1), p99: +percentile(ms, 99).toFixed(1), max: +Math.max(...ms).toFixed(1) },
      startups,
    };
  } finally {
    await etcd?.stop();
    await lab.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && /cluster\.js$/.test(process.argv[1])) {
  clusterBench(Number(arg('--changes', '100')), arg('--tunnels', '10000,100000').split(',').filter(Boolean).map(Number), (l) => process.stderr.write(l + '\n')).then(
    (r) => process.stdout.write(JSON.stringify(r, null, 2) + '\n'),
    (e: Error) => {
      process.stderr.write(`bench cluster: ${e.stack ?? e.message}\n`);
      process.exitCode = 1;
    },
  );
}
