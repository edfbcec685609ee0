// Bytes of JavaScript heap (and array buffers) per tunnel, structure by structure, as a server
// with N tunnels (one /127 and one routed /64 each, from a journal) holds
// them: built in this process the way the daemon builds them, each measured
// as the live heap after full collections before and after it.
//   node --expose-gc dist/bench/memory.js [--tunnels 100000]
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type ServerConfig } from '../src/config/config.js';
import { TunnelIndex } from '../src/config/tunnel-index.js';
import { tunnelSpecs } from '../src/control/daemon.js';
import { desiredState } from '../src/control/desired.js';
import { Tunnel } from '../src/route/tunnel.js';
import { CounterRows } from '../src/datapath/counter-rows.js';
import { DatapathTables } from '../src/datapath/tables.js';
import { NdpResponder } from '../src/ndp/responder.js';
import { wordsOf } from '../src/route/prefix-table.js';
import { SYNTHETIC_POOLS, synthetic } from '../src/lab/registry.js';

const gc = (globalThis as { gc?: () => void }).gc;

/** Live JavaScript heap plus array buffers (large typed arrays keep their bytes outside the heap). */
function liveHeap(): number {
  for (let i = 0; i < 3; i++) gc!();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

export function measure(n: number, pools: boolean): Array<[string, number]> {
  const dir = mkdtempSync(join(tmpdir(), 'sixtun-memory-'));
  try {
    writeFileSync(join(dir, 'tunnels.jsonl'), Array.from({ length: n }, (_, i) => JSON.stringify({ op: 'put', tunnel: synthetic(i + 1) })).join('\n') + '\n');
    writeFileSync(join(dir, 'server.yaml'), `mode: server\ninterface: sixtun0\nendpoint_ranges: [documentation, benchmarking]\nlocal_ipv4: 203.0.113.1\nexternal_interface: ext0\ncontrol_socket: ${dir}/s.sock\ntunnel_journal: ${dir}/tunnels.jsonl\n${pools ? `pools: {pairs: "${SYNTHETIC_POOLS.pairs}", routed64: "${SYNTHETIC_POOLS.routed64}"}\n` : ''}`);
    const kept: unknown[] = [];
    const out: Array<[string, number]> = [];
    let before = liveHeap();
    const step = (what: string, build: () => unknown): void => {
      kept.push(build());
      const after = liveHeap();
      out.push([what, (after - before) / n]);
      before = after;
    };
    // The control thread.
    let cfg!: ServerConfig;
    step('control: configuration (TunnelConfig)', () => (cfg = loadConfig(join(dir, 'server.yaml')) as ServerConfig));
    step('control: tunnel index', () => new TunnelIndex(cfg.tunnels));
    const specs = tunnelSpecs(cfg, '203.0.113.1');
    kept.push(specs);
    before = liveHeap();
    const rows = new CounterRows();
    step('control: tunnel mirror (id, spec, counters row)', () => specs.map((s, id) => new Tunnel(id, s, rows.fresh(id))));
    step(`control: desired kernel state (${pools ? 'pools' : 'a route per prefix'})`, () => desiredState(cfg, '203.0.113.1'));
    // The datapath thread: its own copy of the specs, as posted, and what it builds from them.
    let posted!: typeof specs;
    step('datapath: tunnel specs as posted', () => (posted = structuredClone(specs)));
    const tables = new DatapathTables('server', 0xcb007101);
    step('datapath: tables (tunnels, LPM, endpoints)', () => {
      posted.forEach((s, id) => tables.add(s, { id, counters: rows.fresh(id) }));
      return tables;
    });
    step('datapath: NDP targets', () => {
      const r = new NdpResponder({ routerFlag: true, ratePerSolicitor: 20 });
      posted.forEach((s, id) => r.targets.set(wordsOf(s.clientV6), 128, id));
      return r;
    });
    kept.length = 0;
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && /bench\/memory\.js$/.test(process.argv[1])) {
  if (!gc) {
    process.stderr.write('bench:memory: run with node --expose-gc\n');
    process.exit(2);
  }
  const i = process.argv.indexOf('--tunnels');
  const n = i > 0 ? Number(process.argv[i + 1]) : 100_000;
  const lines = [`Command: \`npm run bench:memory\` (= \`node --expose-gc dist/bench/memory.js --tunnels ${n}\`), Node.js ${process.version}.`, '', '| structure | bytes per tunnel |', '|---|---|'];
  for (const [what, bytes] of measure(n, false)) lines.push(`| ${what} | ${bytes.toFixed(0)} |`);
  lines.push(`| control: desired kernel state (pools) | ${measure(n, true).find(([w]) => w.includes('desired'))![1].toFixed(0)} |`);
  process.stdout.write(lines.join('\n') + '\n');
}
