// `user:` in the config: after opening its devices and sockets sixtun runs as
// that user with only CAP_NET_ADMIN and CAP_NET_RAW, and still does its job.
import { afterAll, expect, it } from 'vitest';
import { readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { describeRoot, useLab } from '../support/root.js';
import { buildTopology } from '../../src/lab/topology.js';
import { runDir, startClient, startServer } from '../../src/lab/daemons.js';
import { ping } from '../helpers/programs.js';
import { waitFor } from '../../src/lab/netns.js';

function procStatus(pid: number, task = pid): Record<string, string> {
  return Object.fromEntries(readFileSync(`/proc/${pid}/task/${task}/status`, 'utf8').split('\n').filter((l) => l.includes(':')).map((l) => {
    const i = l.indexOf(':');
    return [l.slice(0, i), l.slice(i + 1).trim()];
  }));
}

describeRoot('least privilege', () => {
  const lab = useLab('priv');
  const dir = runDir('priv');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('runs as nobody with CAP_NET_ADMIN and CAP_NET_RAW only, forwards, recovers and cleans up', async () => {
    const t = buildTopology(lab, { clients: 1 });
    const before = lab.ipJson(t.server, ['-6', 'route', 'show', 'table', 'all']);
    const server = await startServer(t, dir, { extra: 'user: nobody\n' });
    await startClient(t, t.clients[0], dir);
    await waitFor(() => /dropped privileges/.test(server.proc.output()), 3000, 10, 'privilege drop');
    const st = procStatus(server.proc.pid);
    expect(st.Uid.split(/\s+/)).toEqual(['65534', '65534', '65534', '65534']);
    expect(st.CapEff).toBe('0000000000003000');
    expect(st.CapPrm).toBe('0000000000003000');
    // Every thread, the datapath thread and Node's own included: that user, and
    // no capability beyond those two (capabilities belong to each thread).
    const threads = readdirSync(`/proc/${server.proc.pid}/task`).map((tid) => procStatus(server.proc.pid, Number(tid)));
    expect(threads.length).toBeGreaterThan(2);
    for (const th of threads) {
      expect(th.Uid.split(/\s+/)).toEqual(['65534', '65534', '65534', '65534']);
      expect(BigInt(`0x${th.CapEff}`) & ~0x3000n).toBe(0n);
      expect(BigInt(`0x${th.CapPrm}`) & ~0x3000n).toBe(0n);
    }
    const sock = statSync(server.socket);
    expect(sock.mode & 0o777).toBe(0o600);
    expect(sock.uid).toBe(65534);
    // Still forwarding, answering NDP and repairing its state.
    expect(ping(lab, t.host, t.clients[0].clientV6).received).toBe(3);
    lab.ip(t.server, ['-6', 'route', 'flush', 'proto', '246']);
    await waitFor(() => lab.ipJson<unknown[]>(t.server, ['-6', 'route', 'show', 'proto', '246']).length > 0, 1000, 10, 'routes restored as nobody');
    expect(await lab.stop(server.proc)).toBe(0);
    expect(lab.ipJson(t.server, ['-6', 'route', 'show', 'table', 'all'])).toEqual(before);
    expect(lab.exec(t.server, ['sysctl', '-n', 'net.ipv6.conf.all.forwarding']).trim()).toBe('0');
  });
});
