// `sixtun demo`: the whole design topology in network namespaces, both ends of
// sixtun running in it, traffic through the tunnel, results printed.
import { usageError } from './args.js';
import { parseArgs } from 'node:util';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { Lab, ipCmd, isRoot, listNamespaces, pidAlive } from '../lab/netns.js';
import { buildTopology, clientConfigYaml, serverConfigYaml, writeConfig, HOST_V6, SERVER_V4 } from '../lab/topology.js';
import { echo, startDaemon, tcpTransfer, status, tunnelOf, type RunningDaemon } from '../lab/daemons.js';
import { controlRequest } from '../control/control-server.js';
import { selfCommand } from './self.js';

export const DEMO_HELP = `Usage: sixtun demo [--keep | --down]

Builds a tunnel broker in network namespaces (documentation addresses only):
  client ── isp ── server ── upstream router ── host, plus a LAN behind the client
starts \`sixtun server\` and \`sixtun client\` in it, sends ICMPv6 echoes and moves data through
the tunnel, prints what happened, and removes everything again. Needs root.

Options:
  --keep        leave the topology and both daemons running; prints how to use them
  --down        remove a topology left by --keep
  -h, --help    this text
`;

const STATE_DIR = '/run/sixtun';
const STATE_FILE = join(STATE_DIR, 'demo.json');

interface DemoState {
  namespaces: string[];
  pids: number[];
  dir: string;
}

/** A progress line: "… step" while it runs (on a terminal), then "✓ step:
 * result" or "✗ step: result" when done; failed steps are remembered. */
export function stepper(failures: string[]): (text: string) => (result: string, ok?: boolean) => void {
  return (text) => {
    const start = Date.now();
    const tty = process.stdout.isTTY === true;
    if (tty) process.stdout.write(`  … ${text}`);
    return (result, ok = true) => {
      if (!ok) failures.push(`${text}: ${result}`);
      process.stdout.write(`${tty ? '\r\x1b[K' : ''}  ${ok ? '✓' : '✗'} ${text}${result ? `: ${result}` : ''} (${Date.now() - start} ms)\n`);
    };
  };
}

/** Programs the demo runs besides node: [command, Debian package]. Traffic
 * (echo, TCP) is the demo's own, so ping or iperf3 are not among them. */
const DEMO_TOOLS: Array<[string, string[], string]> = [
  ['ip', ['-V'], 'iproute2'],
  ['tee', ['--version'], 'coreutils'],
];

function preflight(): string | null {
  if (!isRoot()) return 'sixtun demo needs root (network namespaces, TUN devices, raw sockets): run it with sudo';
  if (!existsSync('/dev/net/tun')) return '/dev/net/tun is missing: load the tun module (modprobe tun) or run where TUN devices are allowed';
  const missing = DEMO_TOOLS.filter(([cmd, args]) => {
    try {
      execFileSync(cmd, args, { stdio: 'ignore' });
      return false;
    } catch {
      return true;
    }
  });
  if (missing.length > 0) {
    return `the demo builds its namespaces with ${missing.map(([cmd]) => `\`${cmd}\``).join(' and ')}, not found on PATH: install ${missing.map(([, , pkg]) => pkg).join(' ')} (Debian/Ubuntu: apt-get install ${missing.map(([, , pkg]) => pkg).join(' ')}) and run it again`;
  }
  const probe = `sixtun-probe-${process.pid}`;
  try {
    ipCmd(['netns', 'add', probe]);
    ipCmd(['netns', 'del', probe]);
  } catch (e) {
    return `cannot create network namespaces here (${(e as { stderr?: string }).stderr?.trim() || (e as Error).message}): a container without CAP_SYS_ADMIN?`;
  }
  return null;
}

async function down(): Promise<number> {
  if (!existsSync(STATE_FILE)) {
    process.stderr.write('sixtun demo --down: no demo is running (no /run/sixtun/demo.json)\n');
    return 1;
  }
  const state = JSON.parse(readFileSync(STATE_FILE, 'utf8')) as DemoState;
  for (const pid of state.pids) {
    try { process.kill(pid, 'SIGTERM'); } catch { /* gone */ }
  }
  const deadline = Date.now() + 5000;
  while (state.pids.some(pidAlive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  for (const pid of state.pids.filter(pidAlive)) {
    try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  }
  const present = new Set(listNamespaces());
  for (const ns of state.namespaces.reverse()) if (present.has(ns)) ipCmd(['netns', 'del', ns]);
  rmSync(state.dir, { recursive: true, force: true });
  rmSync(STATE_FILE, { force: true });
  process.stdout.write(`sixtun demo: removed ${state.namespaces.length} namespaces and ${state.pids.length} processes\n`);
  return 0;
}

/** What the daemons printed, to show why a step failed. */
function daemonOutput(daemons: RunningDaemon[], kept: boolean, dir: string): string {
  if (kept) return `  daemon logs: ${dir}/server.log, ${dir}/client.log\n`;
  return daemons.map((d) => `  --- sixtun ${d.config.endsWith('server.yaml') ? 'server' : 'client'} (pid ${d.proc.pid}) printed:\n${d.proc.output().trimEnd().split('\n').slice(-15).map((l) => `    ${l}`).join('\n')}\n`).join('');
}

export async function demo(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ args: argv, options: { keep: { type: 'boolean' }, down: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }, strict: true }));
  } catch (e) {
    process.stderr.write(`sixtun demo: ${usageError(e)}\n\n${DEMO_HELP}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(DEMO_HELP);
    return 0;
  }
  const problem = preflight();
  if (problem) {
    process.stderr.write(`sixtun demo: ${problem}\n`);
    return 2;
  }
  const self = selfCommand();
  if (values.down) return down();
  if (values.keep && existsSync(STATE_FILE)) {
    process.stderr.write(`sixtun demo: a kept demo is already running; remove it first with \`${self} demo --down\`\n`);
    return 1;
  }
  const failures: string[] = [];
  const step = stepper(failures);
  const daemons: RunningDaemon[] = [];

  const lab = new Lab('demo');
  const dir = join(STATE_DIR, `demo-${lab.prefix.slice(0, -1)}`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  process.stdout.write(`sixtun demo: namespaces ${lab.prefix}*, files in ${dir}\n\n`);
  try {
    let done = step('building client, isp, server, upstream router, host and a LAN behind the client');
    const t = buildTopology(lab, { clients: 1, lan: true });
    const c = t.clients[0];
    done(`${lab.prefix}isp, -srv, -rtr, -host, -c1, -lan1`);

    const serverSocket = join(dir, 'server.sock');
    const clientSocket = join(dir, 'client.sock');
    const serverYaml = serverConfigYaml(t, { controlSocket: serverSocket });
    const clientYaml = clientConfigYaml(c, clientSocket);
    process.stdout.write(`\n  server.yaml (server namespace ${t.server}):\n${serverYaml.replace(/^/gm, '    ')}\n`);
    process.stdout.write(`  client.yaml (client namespace ${c.ns}):\n${clientYaml.replace(/^/gm, '    ')}\n`);
    const serverCfg = writeConfig(dir, 'server.yaml', serverYaml);
    const clientCfg = writeConfig(dir, 'client.yaml', clientYaml);
    const logOpts = (name: string): Parameters<Lab['spawn']>[2] => values.keep
      ? { stdio: ['ignore', openSync(join(dir, `${name}.log`), 'a'), openSync(join(dir, `${name}.log`), 'a')], detached: true }
      : {};

    done = step('starting sixtun server');
    const server = await startDaemon(lab, t.server, 'server', serverCfg, serverSocket, logOpts('server'));
    daemons.push(server);
    done(`pid ${server.proc.pid}`);
    done = step('starting sixtun client');
    const client = await startDaemon(lab, c.ns, 'client', clientCfg, clientSocket, logOpts('client'));
    daemons.push(client);
    done(`pid ${client.proc.pid}`);

    done = step(`ICMPv6 echo from the client to the host behind the upstream router (${HOST_V6})`);
    const p1 = await echo(lab, c.ns, HOST_V6, { count: 5 });
    const avg = p1.rttMs.length ? p1.rttMs.reduce((a, b) => a + b, 0) / p1.rttMs.length : 0;
    done(`${p1.received}/5 replies${p1.received ? `, average ${avg.toFixed(3)} ms` : ''}`, p1.received === 5);
    done = step(`ICMPv6 echo from the client's LAN (${c.lanHostV6}) to the host`);
    const p2 = await echo(lab, c.lanNs!, HOST_V6, { count: 3 });
    done(`${p2.received}/3 replies`, p2.received === 3);
    const MiB = 1024 * 1024;
    for (const [what, from, to, addr, port] of [
      ['from the host to the client', t.host, c.ns, c.clientV6, 5101],
      ['from the client to the host', c.ns, t.host, HOST_V6, 5102],
    ] as const) {
      done = step(`TCP, 8 MiB ${what}, checksummed`);
      const t0 = Date.now();
      try {
        const r = await tcpTransfer(lab, from, to, addr, 8 * MiB, port);
        done(`${r.sent === r.received ? 'byte-exact' : 'CORRUPTED: the digests differ'}, ${Date.now() - t0} ms including program start-up`, r.sent === r.received);
      } catch (e) {
        done(`failed: ${(e as Error).message.split('\n')[0]}`, false);
      }
    }

    const s = tunnelOf(await status(server), c.name);
    const ndp = ((await controlRequest(serverSocket, { cmd: 'status' })) as { ndp: { answered: number } }).ndp;
    process.stdout.write(`\n  server counters for tunnel ${c.name}: tx ${s.tx.packets} packets, rx ${s.rx.packets} packets, drops ${JSON.stringify(s.drops)}; NDP answers ${ndp.answered}\n`);
    const ok = failures.length === 0;
    process.stdout.write(ok
      ? '\n  result: the tunnel works (echo 5/5 and 3/3, TCP byte-exact both ways)\n'
      : `\n  result: FAILED\n${failures.map((f) => `    ✗ ${f}\n`).join('')}${daemonOutput(daemons, values.keep === true, dir)}`);

    if (values.keep) {
      const held = lab.release();
      writeFileSync(STATE_FILE, JSON.stringify({ namespaces: held.namespaces, pids: held.pids, dir } satisfies DemoState));
      process.stdout.write(`
The demo keeps running. Try:
  ip netns exec ${c.ns} ping -6 ${HOST_V6}                  # from the client (ping: iputils-ping)
  ip netns exec ${t.host} ping -6 ${c.clientV6}             # to the client
  ${self} status --socket ${serverSocket}
  ${self} trace --socket ${serverSocket}               # watch packets with verdicts
  ${self} trace --socket ${serverSocket} -w - | tshark -r -    # needs tshark
  ip netns exec ${t.server} ip -6 route; ip netns exec ${t.router} ip -6 neigh
Logs: ${dir}/server.log, ${dir}/client.log. Server IPv4 ${SERVER_V4}, client IPv4 ${c.v4}.
Stop it with: ${self} demo --down
`);
      return ok ? 0 : 1;
    }
    done = step('stopping both daemons and removing the namespaces');
    await lab.cleanup();
    rmSync(dir, { recursive: true, force: true });
    done(`${lab.leftovers().length} left behind`);
    return ok ? 0 : 1;
  } catch (e) {
    process.stdout.write('\n');
    process.stderr.write(`sixtun demo: ${(e as Error).message}\n${daemonOutput(daemons, values.keep === true, dir)}`);
    await lab.cleanup();
    rmSync(dir, { recursive: true, force: true });
    return 1;
  }
}
