// The crash record: two slots written through descriptors, the newer intact
// one read back, a slot cut short ignored, and the allow-list that keeps a
// forged record from making root do anything sixtun itself would not.
import { afterAll, describe, expect, it } from 'vitest';
import { chmodSync, linkSync, mkdtempSync, readFileSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CrashRecord, allowList, readNewestRecord, recordSlots, type StateRecord } from '../../src/control/crash-record.js';
import { loadConfig, type Config } from '../../src/config/config.js';
import type { OwnedRecord } from '../../src/control/reconcile.js';
import { Logger } from '../../src/control/log.js';
import { Rng } from '../support/rng.js';

const dir = mkdtempSync(join(tmpdir(), 'sixtun-record-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function serverConfig(name: string): Config {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, `mode: server\ninterface: tun9\nlocal_ipv4: 192.0.2.1\nexternal_interface: ext9\ncontrol_socket: ${join(dir, name)}.sock\ntunnels: []\n`);
  return loadConfig(file);
}

function capture(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  return { log: new Logger('debug', (l) => lines.push(l)), lines };
}

const empty = (): OwnedRecord => ({ links: [], addresses: [], routes: [], proxies: [], sysctls: [] });
const state = (n: number): StateRecord => ({ pid: 1000 + n, interface: 'tun9', owned: { ...empty(), sysctls: [['net/ipv6/conf/all/forwarding', String(n % 2)]] } });

describe('crash record', () => {
  it('writes the older slot each time; the newer intact one is read back, a torn one ignored', () => {
    const cfg = serverConfig('a');
    const rec = CrashRecord.create(cfg);
    rec.write(state(1));
    rec.write(state(2));
    rec.write(state(3));
    const { log, lines } = capture();
    expect(readNewestRecord(cfg, log)?.pid).toBe(1003);
    // Slot 1 holds seq 3: cut it short, as a crash in the middle of the write would.
    truncateSync(recordSlots(cfg)[1], 40);
    expect(readNewestRecord(cfg, log)?.pid).toBe(1002);
    expect(lines.join('')).toMatch(/incomplete crash record slot/);
    // Both slots say "stopped" after a clean finish, and are gone.
    expect(rec.finish(99, 'tun9')).toBe(true);
    expect(readNewestRecord(cfg, log)).toBeNull();
  });

  it('creates the control socket’s directory when it is not there yet (/run/sixtun on a fresh boot)', () => {
    const cfg = serverConfig('fresh');
    const nested = { ...cfg, controlSocket: join(dir, 'run', 'sixtun', 'server.sock') } as Config;
    const record = CrashRecord.create(nested);
    record.write(state(1));
    expect(readNewestRecord(nested, capture().log)?.pid).toBe(1001);
    record.discard();
  });

  it('refuses to create a slot where a file or a symlink is already', () => {
    const cfg = serverConfig('b');
    symlinkSync(join(dir, 'elsewhere'), recordSlots(cfg)[1]);
    expect(() => CrashRecord.create(cfg)).toThrow(/cannot create the crash record .*\.state\.1/);
    expect(() => readFileSync(join(dir, 'elsewhere'))).toThrow(/ENOENT/);
  });

  it('refuses slots that others may write, symlinks, and files with more than one link', () => {
    const cfg = serverConfig('c');
    const [slot0, slot1] = recordSlots(cfg);
    const rec = CrashRecord.create(cfg);
    rec.write(state(1));
    rec.write(state(2));
    chmodSync(slot0, 0o622);
    const { log, lines } = capture();
    expect(readNewestRecord(cfg, log)?.pid).toBe(1001);
    expect(lines.join('')).toMatch(/writable by others \(mode 622\)/);
    linkSync(slot1, join(dir, 'hard'));
    expect(readNewestRecord(cfg, log)).toBeNull();
    expect(lines.join('')).toMatch(/2 links to it/);
    rec.discard();
    writeFileSync(join(dir, 'target'), 'x');
    symlinkSync(join(dir, 'target'), slot1);
    expect(readNewestRecord(cfg, log)).toBeNull();
    expect(lines.join('')).toMatch(/symbolic link/);
  });

  it('admits only what this configuration\'s daemon could have changed', () => {
    const cfg = serverConfig('d');
    const owned = {
      links: [['tun9', { up: false, mtu: 1500 }], ['eth0', { up: false }], ['tun9', { mtu: 'x' }]],
      addresses: [{ link: 'tun9', cidr: '2001:db8::1/64' }, { link: 'eth0', cidr: '192.0.2.9/24' }],
      routes: [{ dst: '2001:db8:1::/48', link: 'tun9' }, { dst: '2001:db8:2::/48', link: 'ext9' }, { dst: 'not a prefix', link: 'tun9' }],
      proxies: [{ link: 'ext9', address: '2001:db8::5' }, { link: 'tun9', address: '2001:db8::6' }],
      sysctls: [['net/ipv6/conf/all/forwarding', '0'], ['net/ipv6/conf/ext9/proxy_ndp', '1'], ['net/ipv6/conf/tun9/addr_gen_mode', '2'],
        ['net/ipv6/conf/eth0/forwarding', '0'], ['net/ipv6/conf/all/disable_ipv6', '1'], ['kernel/core_pattern', '|/bin/sh'],
        ['net/ipv6/conf/all/forwarding', '3'], ['net/ipv6/conf/all/../../../kernel/forwarding', '1']],
    } as unknown as OwnedRecord;
    const { allowed, refused } = allowList(owned, cfg);
    expect(allowed.links.map((l) => l[0])).toEqual(['tun9']);
    expect(allowed.addresses.map((a) => a.cidr)).toEqual(['2001:db8::1/64']);
    expect(allowed.routes.map((r) => r.dst)).toEqual(['2001:db8:1::/48']);
    expect(allowed.proxies.map((p) => p.address)).toEqual(['2001:db8::5']);
    expect(allowed.sysctls).toEqual([['net/ipv6/conf/all/forwarding', '0'], ['net/ipv6/conf/ext9/proxy_ndp', '1'], ['net/ipv6/conf/tun9/addr_gen_mode', '2']]);
    expect(refused).toHaveLength(11);
  });

  it('never throws on records of any shape (fixed seed), and admits nothing outside the list', () => {
    const cfg = serverConfig('e');
    const rng = new Rng(0x5ec0);
    const atoms = [null, 0, -1, 1.5, 'tun9', 'ext9', 'all', '1', '9', '::1', '2001:db8::/32', [], {}, true, 'net/ipv6/conf/tun9/forwarding'];
    const value = (depth: number): unknown => {
      const k = rng.int(depth > 2 ? atoms.length : atoms.length + 2);
      if (k < atoms.length) return atoms[k];
      if (k === atoms.length) return Array.from({ length: rng.int(4) }, () => value(depth + 1));
      return Object.fromEntries(['link', 'cidr', 'dst', 'address', 'gateway', 'up', 'mtu'].filter(() => rng.int(2) === 0).map((f) => [f, value(depth + 1)]));
    };
    for (let i = 0; i < 2000; i++) {
      const owned = Object.fromEntries(['links', 'addresses', 'routes', 'proxies', 'sysctls'].map((k) => [k, value(0)])) as unknown as OwnedRecord;
      const { allowed } = allowList(owned, cfg);
      for (const [key, v] of allowed.sysctls) expect(`${key}=${v}`).toMatch(/^net\/ipv6\/conf\/(all|tun9|ext9)\/(forwarding|proxy_ndp|accept_ra|addr_gen_mode)=[0-2]$/);
      for (const p of allowed.proxies) expect(p.link).toBe('ext9');
      for (const r of allowed.routes) expect(r.link).toBe('tun9');
      for (const l of allowed.links) expect(l[0]).toBe('tun9');
    }
  });
});
