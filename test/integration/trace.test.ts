// Tracing, status and metrics against a running server in the topology.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describeRoot, useLab } from '../support/root.js';
import { buildTopology, HOST_V6, ISP_CLIENT_SIDE_V4, SERVER_V4, type Topology } from '../../src/lab/topology.js';
import { SIXTUN_BIN, runDir, startClient, startServer, status, tcpTransfer, tunnelOf, type RunningDaemon } from '../../src/lab/daemons.js';
import { helperScript, ping } from '../helpers/programs.js';
import { readUntil, waitFor } from '../../src/lab/netns.js';
import { PcapngReader } from '../../src/wire/pcapng.js';

/** Checks text against the Prometheus exposition format 0.0.4 rules and returns the samples. */
function parseExposition(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  const typed = new Set<string>();
  expect(text.endsWith('\n')).toBe(true);
  for (const line of text.slice(0, -1).split('\n')) {
    if (line.startsWith('# HELP ')) {
      expect(line).toMatch(/^# HELP [a-zA-Z_:][a-zA-Z0-9_:]* \S.*$/);
      continue;
    }
    if (line.startsWith('# TYPE ')) {
      const m = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
      expect(m, line).not.toBeNull();
      expect(typed.has(m![1]), `TYPE twice for ${m![1]}`).toBe(false);
      typed.add(m![1]);
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*",?)*\})? (-?[0-9.e+]+|NaN|\+Inf|-Inf)$/.exec(line);
    expect(m, `not a sample line: ${line}`).not.toBeNull();
    expect(typed.has(m![1]), `sample before its TYPE: ${line}`).toBe(true);
    samples.set(`${m![1]}${m![2] ?? ''}`, Number(m![3]));
  }
  return samples;
}

const SPOOFED = 'tunnel client2, rx, dropped: spoofed-source';

describeRoot('tracing, status and metrics', () => {
  const lab = useLab('trace');
  const dir = runDir('trace');
  let t: Topology;
  let server: RunningDaemon;

  beforeAll(async () => {
    t = buildTopology(lab, { clients: 2 });
    server = await startServer(t, dir, { extra: 'metrics: {listen: "[::1]:9641"}\n' });
    for (const c of t.clients) await startClient(t, c, dir);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function send41(ns: string, outerSrc: string, innerSrc: string, count: number): void {
    lab.exec(ns, [process.execPath, helperScript('send41'), outerSrc, SERVER_V4, innerSrc, HOST_V6, String(count)]);
  }

  /** A trace around during(), stopped once shown(its output) holds (the
   * packets reach it through the daemon in their own time) or timeoutMs passed. */
  async function runTrace(args: string[], during: () => Promise<void> | void, shown: (out: string) => boolean, timeoutMs = 10_000): Promise<string> {
    const tr = lab.spawn(t.server, [process.execPath, SIXTUN_BIN, 'trace', '--socket', server.socket, ...args]);
    await waitFor(async () => ((await status(server)) as unknown as { traces: unknown[] }).traces.length > 0, 5000, 20, 'trace attached');
    await during();
    await readUntil(() => tr.output(), shown, timeoutMs, 50);
    await lab.stop(tr);
    return tr.output();
  }

  const packetLines = (out: string): string[] => out.split('\n').filter((l) => /^\d\d:\d\d:\d\d\.\d{6} /.test(l));

  /** A pcapng file as tshark dissects it, a row of fields per packet; a file still being written may end mid-block. */
  function tsharkRows(file: string): string[][] {
    return execFileSync('tshark', ['-r', file, '-o', 'ip.check_checksum:TRUE', '-o', 'tcp.check_checksum:TRUE', '-T', 'fields', '-E', 'separator=|',
      '-e', 'frame.interface_name', '-e', 'ip.proto', '-e', 'ipv6.src', '-e', 'ip.checksum.status', '-e', '_ws.malformed', '-e', 'frame.comment',
      '-e', 'tcp.checksum.status'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
      .split('\n').filter((l) => l !== '').map((l) => l.split('|'));
  }

  it('sixtun trace -w writes pcapng that tshark reads cleanly, outer IPv6-in-IPv4 and inner IPv6, with verdicts', async () => {
    const [c1, c2] = t.clients;
    const file = join(dir, 'trace.pcapng');
    await runTrace(['-w', file], async () => {
      ping(lab, c1.ns, HOST_V6, { count: 3 });
      const r = await tcpTransfer(lab, t.host, c1.ns, c1.clientV6, 2 * 1024 * 1024, 5031);
      expect(r.received).toBe(r.sent);
      send41(c2.ns, c2.v4, c1.clientV6, 2);
    }, () => {
      try {
        return tsharkRows(file).filter((r) => r[5] === SPOOFED).length >= 2;
      } catch {
        return false;
      }
    });
    const rows = tsharkRows(file);
    expect(rows.length).toBeGreaterThan(500);
    // TSO segments leave the datapath as headers plus payload where it was read: a trace sees them whole.
    expect(rows.filter((r) => r[6] !== '').length).toBeGreaterThan(500);
    for (const [iface, proto, src6, checksum, malformed, comment, tcpChecksum] of rows) {
      if (tcpChecksum !== '') expect(tcpChecksum).toBe('1');
      expect(malformed).toBe('');
      expect(comment).toMatch(/^(tunnel \S+|ndp), (tx|rx), (forwarded|dropped: [a-z-]+|answered|sent|ignored: .+)/);
      if (iface.startsWith('wire')) {
        expect(proto).toBe('41');
        expect(src6).toMatch(/^2001:db8:/);
        expect(checksum).toBe('1');
      } else if (iface.startsWith('sixtun0')) {
        expect(proto).toBe('');
        expect(src6).not.toBe('');
      }
    }
    expect(rows.some(([iface]) => iface.startsWith('wire'))).toBe(true);
    expect(rows.some(([iface, , , , , comment]) => iface.startsWith('sixtun0') && comment.endsWith('forwarded'))).toBe(true);
    expect(rows.filter(([, , , , , comment]) => comment === SPOOFED)).toHaveLength(2);
  });

  it('sixtun trace --tunnel NAME --dropped prints only that tunnel’s drops', async () => {
    const [c1, c2] = t.clients;
    const out = await runTrace(['--tunnel', c2.name, '--dropped'], () => {
      ping(lab, c1.ns, HOST_V6, { count: 2 });
      ping(lab, c2.ns, HOST_V6, { count: 2 });
      send41(c2.ns, c2.v4, c1.clientV6, 3);
      send41(c1.ns, c1.v4, c2.clientV6, 2);
      send41(t.isp, ISP_CLIENT_SIDE_V4, c1.clientV6, 2);
    }, (shown) => packetLines(shown).length >= 3);
    const lines = packetLines(out);
    expect(lines).toHaveLength(3);
    for (const l of lines) expect(l).toMatch(/outer IP 198\.51\.100\.3 > 203\.0\.113\.1 .* \[tunnel client2, rx, dropped: spoofed-source\]$/);
  });

  it('--host, --proto and -c select and stop; -w - streams into tshark; --max-size rotates files', async () => {
    const [c1] = t.clients;
    const out = await runTrace(['--host', '2001:db8:100::/64', '--proto', 'tcp', '-c', '5'], async () => {
      ping(lab, c1.ns, HOST_V6, { count: 2 });
      await tcpTransfer(lab, t.host, c1.ns, c1.clientV6, 256 * 1024, 5032);
    }, () => false, 300); // Nothing may show: a grace for anything still on its way.
    // Client 1's routed /64 saw no TCP: nothing matched, nothing printed.
    expect(packetLines(out)).toEqual([]);
    const tcpLines = await runTrace(['--host', c1.clientV6, '--proto', 'tcp', '-c', '5'], async () => {
      await tcpTransfer(lab, t.host, c1.ns, c1.clientV6, 256 * 1024, 5033);
    }, (shown) => packetLines(shown).length >= 5);
    const lines = packetLines(tcpLines);
    expect(lines).toHaveLength(5);
    for (const l of lines) expect(l).toMatch(/TCP \d+ > \d+/);

    const piped = join(dir, 'piped.txt');
    const sh = lab.spawn(t.server, ['sh', '-c', `${process.execPath} ${SIXTUN_BIN} trace --socket ${server.socket} -c 6 -w - | tshark -r - -T fields -e frame.comment > ${piped}`]);
    await waitFor(async () => ((await status(server)) as unknown as { traces: unknown[] }).traces.length > 0, 5000, 20, 'piped trace attached');
    ping(lab, c1.ns, HOST_V6, { count: 3 });
    await sh.exited;
    expect(readFileSync(piped, 'utf8').trim().split('\n')).toHaveLength(6);

    const rotated = join(dir, 'rot.pcapng');
    await runTrace(['-w', rotated, '--max-size', '1'], async () => {
      await tcpTransfer(lab, t.host, c1.ns, c1.clientV6, 3 * 1024 * 1024, 5034);
    }, () => readdirSync(dir).filter((f) => f.startsWith('rot.pcapng')).length >= 2);
    const files = readdirSync(dir).filter((f) => f.startsWith('rot.pcapng'));
    expect(files.length).toBeGreaterThanOrEqual(2);
    for (const f of files) {
      expect(statSync(join(dir, f)).size).toBeLessThanOrEqual(1_000_000 + 70_000);
      // Each file is a whole capture on its own.
      expect(Number(execFileSync('sh', ['-c', `tshark -r ${join(dir, f)} | wc -l`], { encoding: 'utf8' }).trim())).toBeGreaterThan(0);
    }
  });

  it('status and metrics count a controlled burst exactly, and agree', async () => {
    const c2 = t.clients[1];
    const before = tunnelOf(await status(server), c2.name);
    send41(c2.ns, c2.v4, c2.clientV6, 25);
    const after = await readUntil(async () => tunnelOf(await status(server), c2.name), (x) => x.rx.packets - before.rx.packets >= 25);
    expect(after.rx.packets - before.rx.packets).toBe(25);
    expect(after.rx.bytes - before.rx.bytes).toBe(25 * 64);
    const text = lab.exec(t.server, ['curl', '-sf', 'http://[::1]:9641/metrics']);
    const samples = parseExposition(text);
    const final = tunnelOf(await status(server), c2.name);
    expect(samples.get(`sixtun_tunnel_rx_packets_total{tunnel="${c2.name}"}`)).toBe(final.rx.packets);
    expect(samples.get(`sixtun_tunnel_tx_packets_total{tunnel="${c2.name}"}`)).toBe(final.tx.packets);
    expect(samples.get(`sixtun_drops_total{tunnel="${c2.name}",reason="spoofed-source"}`)).toBe(final.drops['spoofed-source']);
    expect(samples.get('sixtun_drops_total{tunnel="",reason="unknown-remote"}')).toBe((await status(server)).drops_without_tunnel['unknown-remote']);
    expect(samples.get('sixtun_ndp_solicitations_total{result="answered"}')).toBeGreaterThan(0);
    // Aggregates agree with the sum of the per-tunnel series.
    expect(samples.get('sixtun_tunnels')).toBe(2);
    const sum = (name: string): number => [...samples].filter(([k]) => k.startsWith(`${name}{`)).reduce((a, [, v]) => a + v, 0);
    expect(samples.get('sixtun_rx_packets_total')).toBe(sum('sixtun_tunnel_rx_packets_total'));
  });

  it('sixtun status NAME, --filter, --limit/--offset ask the daemon for just those tunnels', () => {
    const st = (args: string[]): string => lab.exec(t.server, [process.execPath, SIXTUN_BIN, 'status', '--socket', server.socket, ...args]);
    const rows = (out: string): string[] => out.split('\n').filter((l) => /^client\d /.test(l)).map((l) => l.split(/\s+/)[0]);
    expect(rows(st(['client2']))).toEqual(['client2']);
    expect(rows(st(['--filter', '198.51.100.2']))).toEqual(['client1']);
    const page = st(['--limit', '1', '--offset', '1']);
    expect(rows(page)).toEqual(['client2']);
    expect(page).toMatch(/\n1 of 2 matching tunnels shown \(2 in all\): --offset and --limit for more\n/);
    // Routes: a pair and a routed prefix each, and the local TUN's one.
    const json = JSON.parse(st(['client1', '--json'])) as { tunnels: Array<{ name: string }>; tunnel_count: number; owned: Record<string, number> };
    expect([json.tunnels.map((x) => x.name), json.tunnel_count, json.owned.routes]).toEqual([['client1'], 2, 5]);
    expect(() => st(['nosuch'])).toThrow(/no tunnel nosuch/);
    expect(() => st(['--limit', 'x'])).toThrow(/--limit expects a number/);
  });

  it('sixtun status prints a table', () => {
    const out = lab.exec(t.server, [process.execPath, SIXTUN_BIN, 'status', '--socket', server.socket]);
    expect(out).toMatch(/^server sixtun0 local 203\.0\.113\.1 pid \d+\n/);
    expect(out).toMatch(/\nTUNNEL +REMOTE +CLIENT IPV6 +ROUTED +MTU +TX PKTS +TX BYTES +LAST TX +RX PKTS +RX BYTES +LAST RX +DROPS\n/);
    expect(out).toMatch(/\nclient2 +198\.51\.100\.3 +2001:db8:ff::5 +2001:db8:101::\/64 +1480 +\d+ +\d+ +(\d+ s ago|never) +\d+ +\d+ +\d+ s ago /);
    expect(out).toMatch(/spoofed-source=\d+/);
    expect(out).toMatch(/\nndp userspace: seen \d+ answered \d+/);
  });

  /** A CLI run from here (the control socket is a path: no namespace needed). */
  function cli(args: string[], closeStdout = false) {
    const child = spawn(process.execPath, [SIXTUN_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    // The reader that went away: its end of the pipe is closed at once.
    if (closeStdout) child.stdout.destroy();
    else child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    return { child, stdout: () => Buffer.concat(out), stderr: () => err, exited };
  }

  it('trace -w - is live: each packet reaches the pipe while the trace runs, stamped in order; it says when it listens and what it saw', async () => {
    const [c1] = t.clients;
    const tr = cli(['trace', '--socket', server.socket, '--host', c1.clientV6, '--proto', 'icmpv6', '-w', '-']);
    await waitFor(() => tr.stderr().includes('listening on'), 5000, 20, 'trace to say it listens');
    expect(tr.stderr()).toMatch(new RegExp(`^sixtun trace: listening on ${server.socket} \\(--host ${c1.clientV6} --proto icmpv6\\), writing pcapng to standard output; Ctrl-C to stop\n$`));
    ping(lab, c1.ns, HOST_V6, { count: 3, interval: 0.05 });
    // Echo request and reply, each on two capture points, both ways: 4 blocks per echo.
    const reader = new PcapngReader();
    await waitFor(() => new PcapngReader().push(tr.stdout()).length >= 12, 5000, 20, 'packets on the pipe while trace runs');
    expect(tr.child.exitCode).toBeNull();
    const packets = reader.push(tr.stdout());
    for (let i = 1; i < packets.length; i++) expect(packets[i].timestampNs >= packets[i - 1].timestampNs, `packet ${i} stamped before packet ${i - 1}`).toBe(true);
    const now = BigInt(Date.now()) * 1_000_000n;
    expect(now - packets[0].timestampNs < 60_000_000_000n && packets[0].timestampNs <= now).toBe(true);
    tr.child.kill('SIGINT');
    expect(await tr.exited).toBe(0);
    expect(tr.stderr()).toMatch(new RegExp(`\nsixtun trace: ${packets.length} packets seen, ${packets.length} written to standard output\n$`));
  });

  it('status and trace whose reader went away (| head) exit quietly, without a stack trace', async () => {
    const st = cli(['status', '--socket', server.socket], true);
    expect(await st.exited).toBe(0);
    expect(st.stderr()).toBe('');
    const tr = cli(['trace', '--socket', server.socket], true);
    await waitFor(async () => ((await status(server)) as unknown as { traces: unknown[] }).traces.length > 0, 5000, 20, 'trace attached');
    ping(lab, t.clients[0].ns, HOST_V6, { count: 1 });
    expect(await tr.exited).toBe(0);
    expect(tr.stderr()).not.toMatch(/EPIPE|Error|    at /);
  });
});
