// `sixtun store migrate`: moves a tunnel registry between backends — a
// configuration file (its tunnels, and its journal's), a tunnel journal, and
// a registry in etcd — checked as a whole before anything is written, and
// never over a registry that already holds tunnels.
import { usageError } from './args.js';
import { existsSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { loadConfig, tunnelFromRecord, tunnelRecord, type Config, type EtcdStoreConfig, type TunnelConfig } from '../config/config.js';
import { checkFilesTrusted } from '../control/preflight.js';
import { TunnelIndex } from '../config/tunnel-index.js';
import { EtcdRegistry } from '../store/registry.js';
import { readJournal, type TunnelRecord } from '../store/journal.js';

export const STORE_HELP = `Usage: sixtun store migrate --from SOURCE --to DESTINATION

Moves a tunnel registry between backends. SOURCE is a configuration file
(its tunnels and its tunnel journal's, or its registry in etcd with
store.etcd), a tunnel journal (*.jsonl), or etcd://HOST:PORT[,HOST:PORT…][/PREFIX/].
DESTINATION is etcd://… (or a configuration file with store.etcd: its
registry), or a new tunnel journal (*.jsonl) that tunnel_journal can name.
Every tunnel is checked, alone and against the others, before anything is
written; a destination that already holds tunnels is refused.

Options:
  --from SOURCE       where the tunnels are
  --to DESTINATION    where they go
  -h, --help          this text
`;

/** As root, only a configuration (and etcd TLS files) no one else can change, as for the daemon. */
function trusted(cfg: Config): void {
  if (process.geteuid!() === 0) checkFilesTrusted(cfg);
}

/** etcd://h:p[,h:p]/prefix/ as a store configuration (plain HTTP, no auth: use a configuration file for TLS). */
function etcdUrl(url: string): EtcdStoreConfig | null {
  const m = /^etcd:\/\/([^/]+)(\/.*)?$/.exec(url);
  if (!m) return null;
  const prefix = m[2] && m[2] !== '/' ? (m[2].endsWith('/') ? m[2] : `${m[2]}/`) : '/sixtun/';
  return { endpoints: m[1].split(',').map((h) => `http://${h}`), prefix, username: null, password: null, tls: null };
}

/** The store a location names: etcd, or a file. */
function etcdOf(location: string): EtcdStoreConfig | null {
  const url = etcdUrl(location);
  if (url) return url;
  if (location.endsWith('.jsonl') || !existsSync(location)) return null;
  const cfg = loadConfig(location, { journal: false });
  trusted(cfg);
  return cfg.mode === 'server' ? cfg.etcd : null;
}

async function readSource(from: string): Promise<TunnelRecord[]> {
  const etcd = etcdOf(from);
  if (etcd) {
    const registry = new EtcdRegistry(etcd, 'migrate');
    try {
      return [...(await registry.load()).records.values()];
    } finally {
      await registry.close();
    }
  }
  if (from.endsWith('.jsonl')) return [...readJournal(from).records.values()].map((r) => r.record);
  const cfg = loadConfig(from);
  trusted(cfg);
  if (cfg.mode !== 'server') throw new Error(`${from} is a client's configuration: it holds no tunnels`);
  return cfg.tunnels.map(tunnelRecord);
}

export async function storeCli(argv: string[]): Promise<number> {
  let values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: argv, allowPositionals: true, strict: true, options: { from: { type: 'string' }, to: { type: 'string' }, help: { type: 'boolean', short: 'h' } } }));
  } catch (e) {
    process.stderr.write(`sixtun store: ${usageError(e)}\n\n${STORE_HELP}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(STORE_HELP);
    return 0;
  }
  if (positionals.join(' ') !== 'migrate' || !values.from || !values.to) {
    process.stderr.write(`sixtun store: expected migrate --from SOURCE --to DESTINATION\n\n${STORE_HELP}`);
    return 2;
  }
  try {
    const records = await readSource(values.from);
    // Each a tunnel, together a registry (unique names, endpoints, no
    // overlaps); which routed prefixes a server allows is the servers' policy, not checked here.
    const tunnels: TunnelConfig[] = records.map((r) => tunnelFromRecord(r, values.from!, null));
    const index = new TunnelIndex();
    for (const t of tunnels) {
      const conflict = index.conflict(t, '', { allowUlaRoutes: true, maxRoutedLength: 128 });
      if (conflict) throw new Error(`tunnel ${t.name}: ${conflict.field}: ${conflict.message}`);
      index.put(t);
    }
    const etcd = etcdOf(values.to);
    if (etcd) {
      const registry = new EtcdRegistry(etcd, 'migrate');
      try {
        if ((await registry.load()).records.size > 0) throw new Error(`${values.to} holds tunnels already: migrate into an empty registry`);
        await registry.putAll(tunnels.map(tunnelRecord));
      } finally {
        await registry.close();
      }
    } else if (values.to.endsWith('.jsonl')) {
      if (existsSync(values.to)) throw new Error(`${values.to} exists already: name a new journal`);
      writeFileSync(values.to, tunnels.map((t) => JSON.stringify({ op: 'put', tunnel: tunnelRecord(t) }) + '\n').join(''), { mode: 0o600, flag: 'wx' });
    } else {
      throw new Error(`${values.to}: expected etcd://…, a configuration file with store.etcd, or a new *.jsonl journal`);
    }
    process.stdout.write(`migrated ${tunnels.length} tunnels from ${values.from} to ${values.to}\n`);
    return 0;
  } catch (e) {
    process.stderr.write(`sixtun store migrate: ${(e as Error).message}\n`);
    return 1;
  }
}
