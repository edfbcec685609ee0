// `user:` in the config: after opening its devices and sockets sixtun runs as
// that user with only CAP_NET_ADMIN and CAP_NET_RAW, nothing can give it more
// again, and still does its job. Root never acts on anything that user can
// write: the attacks on the crash record are performed and shown to fail.
import { afterAll, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { chmodSync, lstatSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { describeRoot, useLab } from '../support/root.js';
import { buildTopology } from '../../src/lab/topology.js';
import { runDir, startClient, startServer } from '../../src/lab/daemons.js';
import { ping } from '../helpers/programs.js';
import { waitFor } from '../../src/lab/netns.js';

/** A uid of sixtun's own for the tests: no account, shared with nothing. */
const UID = 60123;
const KEPT = 0x3000n;
/** The start's bounding set: the two kept, CHOWN, DAC_OVERRIDE, SETGID, SETUID, SETPCAP. */
const START = KEPT | 0x1c3n;
/** Node 20's inspector thread: every signal blocked (the C library's own two excepted). */
const ALL_BLOCKED = 'fffffffe7ffbfeff';

function procStatus(pid: number, task = pid): Record<string, string> {
  return Object.fromEntries(readFileSync(`/proc/${pid}/task/${task}/status`, 'utf8').split('\n').filter((l) => l.includes(':')).map((l) => {
    const i = l.indexOf(':');
    return [l.slice(0, i), l.slice(i + 1).trim()];
  }));
}

/** Runs argv as the daemon's user, as an attacker with that uid would. */
function asUser(argv: string[]): { status: number | null; stderr: string } {
  const r = spawnSync('setpriv', [`--reuid=${UID}`, `--regid=${UID}`, '--clear-groups', '--', ...argv], { encoding: 'utf8' });
  return { status: r.status, stderr: r.stderr };
}

function record(seq: number, body: object): string {
  const text = JSON.stringify(body);
  return `sixtun-crash-record 1 ${seq} ${createHash('sha256').update(text).digest('hex')}\n${text}`;
}

describeRoot('least privilege', () => {
  const lab = useLab('priv');
  const attackLab = useLab('prva');
  const dir = runDir('priv');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('runs as its own user with CAP_NET_ADMIN and CAP_NET_RAW only, no way back on any thread; forwards, repairs and cleans up', async () => {
    const t = buildTopology(lab, { clients: 1 });
    const before = lab.ipJson(t.server, ['-6', 'route', 'show', 'table', 'all']);
    const server = await startServer(t, dir, { extra: `user: ${UID}\n` });
    await startClient(t, t.clients[0], dir);
    await waitFor(() => /dropped privileges/.test(server.proc.output()), 3000, 10, 'privilege drop');
    const st = procStatus(server.proc.pid);
    expect(st.Uid.split(/\s+/)).toEqual([UID, UID, UID, UID].map(String));
    expect(st.CapEff).toBe('0000000000003000');
    expect(st.CapPrm).toBe('0000000000003000');
    expect(st.CapBnd).toBe('0000000000003000');
    expect(st.CapAmb).toBe('0000000000000000');
    expect(st.NoNewPrivs).toBe('1');
    // Every thread, the datapath thread and Node's own included (these
    // belong to each thread): that user, no capability beyond those two,
    // none to be had again.
    const threads = readdirSync(`/proc/${server.proc.pid}/task`).map((tid) => procStatus(server.proc.pid, Number(tid)));
    expect(threads.length).toBeGreaterThan(2);
    for (const th of threads) {
      expect(th.Uid.split(/\s+/)).toEqual([UID, UID, UID, UID].map(String));
      expect(BigInt(`0x${th.CapEff}`) & ~KEPT).toBe(0n);
      expect(BigInt(`0x${th.CapPrm}`) & ~KEPT).toBe(0n);
      expect(th.CapAmb).toBe('0000000000000000');
      expect(th.NoNewPrivs).toBe('1');
      // Node 20 alone starts a thread no signal reaches: it keeps the start's bounding set.
      expect(BigInt(`0x${th.CapBnd}`)).toBe(th.SigBlk === ALL_BLOCKED && process.versions.node.startsWith('20.') ? START : KEPT);
    }
    const sock = statSync(server.socket);
    expect(sock.mode & 0o777).toBe(0o600);
    expect(sock.uid).toBe(UID);
    // The socket's directory is never given away.
    expect(statSync(dir).uid).toBe(0);
    // Still forwarding, answering NDP and repairing its state.
    expect(ping(lab, t.host, t.clients[0].clientV6).received).toBe(3);
    lab.ip(t.server, ['-6', 'route', 'flush', 'proto', '246']);
    await waitFor(() => lab.ipJson<unknown[]>(t.server, ['-6', 'route', 'show', 'proto', '246']).length > 0, 1000, 10, 'routes restored by the dropped daemon');
    expect(await lab.stop(server.proc)).toBe(0);
    expect(lab.ipJson(t.server, ['-6', 'route', 'show', 'table', 'all'])).toEqual(before);
    expect(lab.exec(t.server, ['sysctl', '-n', 'net.ipv6.conf.all.forwarding']).trim()).toBe('0');
    // Root's directory: the dropped daemon could not remove its record, which says "nothing to undo".
    for (const slot of ['0', '1']) expect(readFileSync(`${server.socket}.state.${slot}`, 'utf8')).toMatch(/"stopped":true/);
  });

  it('refuses a crash record the dropped user planted, a symlink in its place, and entries sixtun would never make', async () => {
    const t = buildTopology(attackLab, { clients: 1 });
    const lab = attackLab;
    // A world-writable sticky directory (as /tmp), reachable by the user.
    chmodSync(dir, 0o711);
    const shared = join(dir, 'shared');
    mkdirSync(shared, { mode: 0o1777 });
    chmodSync(shared, 0o1777);
    const victim = join(dir, 'victim');
    writeFileSync(victim, 'untouched\n', { mode: 0o644 });
    const sysctl = (key: string): string => lab.exec(t.server, ['sysctl', '-n', key]).trim();
    const baseline = { disable: sysctl('net.ipv6.conf.all.disable_ipv6'), somaxconn: sysctl('net.core.somaxconn') };
    const forged = {
      pid: 999_999_999, interface: 'sixtun0',
      owned: {
        links: [['lo', { up: false }]],
        addresses: [{ link: 'lo', cidr: '::1/128' }],
        routes: [{ dst: '2001:db8:ffff::/48', link: 'ext0' }],
        proxies: [{ link: 'lo', address: '2001:db8::1' }],
        sysctls: [['net/ipv6/conf/all/disable_ipv6', '1'], ['net/core/somaxconn', '1'], ['net/ipv6/conf/all/forwarding', '7']],
      },
    };

    // 1. Before the first start on a socket path, the user plants both slots:
    // a record of its own, and a symlink to a file of root's.
    const socket = join(shared, 'server.sock');
    expect(asUser(['sh', '-c', `printf '%s' '${record(1, forged)}' > ${socket}.state.0 && ln -s ${victim} ${socket}.state.1`]).status).toBe(0);
    const server = await startServer(t, dir, { controlSocket: socket, extra: `user: ${UID}\n` });
    await waitFor(() => /dropped privileges/.test(server.proc.output()), 3000, 10, 'privilege drop');
    expect(server.proc.output()).toMatch(/refused a crash record.*owned by uid 60123/);
    expect(server.proc.output()).toMatch(/refused a crash record.*symbolic link/);
    expect(readFileSync(victim, 'utf8')).toBe('untouched\n');
    expect(lstatSync(victim).uid).toBe(0);
    expect(sysctl('net.ipv6.conf.all.disable_ipv6')).toBe(baseline.disable);
    // Root's slots in their place now, which the user can neither write nor reach through /proc.
    for (const slot of ['0', '1']) {
      const s = lstatSync(`${socket}.state.${slot}`);
      expect([s.isFile(), s.uid, s.mode & 0o777]).toEqual([true, 0, 0o600]);
      expect(asUser(['sh', '-c', `echo x >> ${socket}.state.${slot}`]).status).not.toBe(0);
      expect(asUser(['rm', '-f', `${socket}.state.${slot}`]).status).not.toBe(0);
    }
    expect(asUser(['ls', `/proc/${server.proc.pid}/fd`]).status).not.toBe(0);

    // 2. The user kills the daemon (same uid), which leaves its sysctls behind.
    expect(asUser(['kill', '-9', String(server.proc.pid)]).status).toBe(0);
    await server.proc.exited;
    expect(sysctl('net.ipv6.conf.all.forwarding')).toBe('1');

    // 3. What a compromised daemon could write through its descriptors: a
    // well-formed newer record of entries sixtun never makes (written here as
    // root, in place). The restart undoes only what the allow-list admits.
    writeFileSync(`${socket}.state.1`, record(1_000, {
      ...forged, owned: { ...forged.owned, sysctls: [...forged.owned.sysctls, ['net/ipv6/conf/all/forwarding', '0']] },
    }));
    const again = await startServer(t, dir, { controlSocket: socket });
    expect(again.proc.output()).toMatch(/refused entries of the crash record.*count=7/);
    expect(again.proc.output()).toMatch(/undid what a previous run left behind.*sysctls=1/);
    expect(sysctl('net.ipv6.conf.all.disable_ipv6')).toBe(baseline.disable);
    expect(sysctl('net.core.somaxconn')).toBe(baseline.somaxconn);
    expect(lab.ipJson<Array<{ flags: string[] }>>(t.server, ['link', 'show', 'lo'])[0].flags).toContain('UP');
    expect(await lab.stop(again.proc)).toBe(0);
    // Root stopped it: nothing stays.
    expect(readdirSync(shared)).toEqual([]);
    expect(sysctl('net.ipv6.conf.all.forwarding')).toBe('0');
  });
});
