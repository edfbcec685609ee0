// Test-only programs (send-icmp4, udp-burst, udp6 …) run inside namespaces,
// compiled to dist-test/ by `npm test`'s pretest (never into the shipped dist/),
// and the kernel's own tools used as oracles (iputils ping, tshark).
import { execFile, execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { PACKAGE_ROOT, SIXTUN_BIN, labScript } from '../../src/lab/daemons.js';
import { readUntil, waitFor, type Lab } from '../../src/lab/netns.js';

export function testScript(name: string): string {
  return join(PACKAGE_ROOT, 'dist-test', 'test', 'helpers', `${name}.js`);
}

/** A lab program (send41, send-ns) or a test-only one, by name. */
export function helperScript(name: string): string {
  return ['send41', 'send-ns', 'tcp-transfer', 'echo6'].includes(name) ? labScript(name) : testScript(name);
}

/** count datagrams of size bytes from ns `from` to toAddr in `to`, burst at a
 * time; the digests over what was sent and what arrived, in arrival order. */
export async function udpBursts(lab: Lab, from: string, to: string, toAddr: string, count: number, size: number, burst: number, port = 5301): Promise<{ sent: string; received: string }> {
  const server = lab.spawn(to, [process.execPath, testScript('udp-burst'), 'serve', String(port), String(count)]);
  await waitFor(() => server.output().includes('listening'), 10_000, 20, 'UDP receiver');
  const sender = await lab.run(from, [process.execPath, testScript('udp-burst'), 'send', toAddr, String(port), String(count), String(size), String(burst)], { timeoutMs: 60_000 });
  // A lost datagram leaves the receiver waiting: stop it and report what it had.
  await Promise.race([server.exited, new Promise((r) => setTimeout(r, 3000))]);
  await lab.stop(server);
  const line = server.output().split('\n').find((l) => l.startsWith('{'));
  return { sent: (JSON.parse(sender.trim()) as { sha256: string }).sha256, received: line ? (JSON.parse(line) as { sha256: string }).sha256 : 'incomplete' };
}

/** tshark capturing on iface in ns into file (a capture filter), once it is
 * live: "Capturing on" comes before the first packets are caught, so probe()
 * sends traffic the filter matches until the file holds some (live: how
 * many). wait(n, display) returns once the file holds n frames (that match a
 * display filter), which tshark writes as it goes, before stop(). */
export async function startCapture(lab: Lab, ns: string, iface: string, file: string, filter: string, probe: () => void): Promise<{ live: number; wait(frames: number, display?: string): Promise<number>; stop(): Promise<void> }> {
  const cap = lab.spawn(ns, ['tshark', '-q', '-i', iface, '-w', file, '-f', filter]);
  const count = (display?: string): number => {
    try {
      return execFileSync('tshark', ['-r', file, ...(display ? ['-Y', display] : []), '-T', 'fields', '-e', 'frame.number'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
        .split('\n').filter((l) => l !== '').length;
    } catch {
      return 0; // not there yet, or cut short in the middle of a frame: read again
    }
  };
  await waitFor(() => cap.output().includes('Capture started') || cap.output().includes('Capturing on'), 30_000, 20, 'tshark to start capturing');
  await waitFor(() => {
    probe();
    return count() > 0;
  }, 30_000, 100, `tshark to catch the probe on ${iface}`);
  return {
    live: count(),
    wait: (frames, display) => readUntil(() => count(display), (n) => n >= frames, 10_000, 100),
    stop: async () => { await lab.stop(cap); },
  };
}

/** count numbered datagrams of size bytes in `flows` flows from ns `from` to
 * toAddr in `to`; how many arrived and how many of those out of order within their flow. */
export async function udpOrder(lab: Lab, from: string, to: string, toAddr: string, flows: number, count: number, size: number, port: number): Promise<{ sent: number; received: number; reordered: number; flows: number }> {
  const server = lab.spawn(to, [process.execPath, testScript('udp-order'), 'serve', String(port)]);
  await waitFor(() => server.output().includes('listening'), 10_000, 20, 'UDP receiver');
  const sender = await lab.run(from, [process.execPath, testScript('udp-order'), 'send', toAddr, String(port), String(flows), String(count), String(size)], { timeoutMs: 60_000 });
  await server.exited;
  const line = server.output().split('\n').find((l) => l.startsWith('{'));
  const got = line ? (JSON.parse(line) as { received: number; reordered: number; flows: number }) : { received: 0, reordered: 0, flows: 0 };
  return { sent: (JSON.parse(sender.trim()) as { sent: number }).sent, ...got };
}

/** `ping -6` (iputils) inside ns: the kernel's own echo as an oracle; returns the number of replies. */
export function ping(lab: Lab, ns: string, addr: string, opts: { count?: number; size?: number; interval?: number } = {}): { received: number; output: string } {
  const args = ['ping', '-6', '-n', '-c', String(opts.count ?? 3), '-i', String(opts.interval ?? 0.2), '-W', '2'];
  if (opts.size !== undefined) args.push('-s', String(opts.size));
  let output: string;
  try {
    output = lab.exec(ns, [...args, addr], { timeoutMs: 60_000 });
  } catch (e) {
    output = (e as { stdout?: string }).stdout ?? String(e);
  }
  const m = /(\d+) received/.exec(output);
  return { received: m ? Number(m[1]) : 0, output };
}

/** `sixtun ARGS…` from this process (the control socket is a path: no namespace needed). */
export function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [SIXTUN_BIN, ...args], { encoding: 'utf8', timeout: 60_000 }, (e, out, err) => {
      resolve({ code: e ? (typeof e.code === 'number' ? e.code : 1) : 0, out, err });
    });
  });
}
