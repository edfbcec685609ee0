// The crash record: what a daemon changed in the kernel that outlives it
// (sysctls, proxy entries, routes off the TUN), so that a start after a
// SIGKILL undoes what the killed run left behind. The TUN, and what is on it,
// go with the process.
//
// The next start runs as root, and the writer may be a daemon that dropped to
// `user:`; so root acts on a record only if no one but root could have put it
// there, and only within what that daemon could have done itself:
// - two slot files, created by root at start (O_EXCL, O_NOFOLLOW, 0600) and
//   written afterwards only through the descriptors opened then: no other
//   process of the dropped user can open them (root's files; /proc/PID/fd of a
//   process that changed its uid is root's too);
// - read back only from a regular, root-owned file that no one else may
//   write, with one link, opened without following a symlink;
// - replayed only through an allow-list (the configured TUN and external
//   interface's ipv6 sysctls with values 0–2, proxies on the external
//   interface, routes on the TUN, whose deletion names protocol 246).
// A write replaces the older slot (sequence number and SHA-256 in a header
// line): a write cut short by a crash leaves the other slot whole.
import { closeSync, constants, fstatSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { createHash } from 'node:crypto';
import type { Config } from '../config/config.js';
import type { NetlinkClient } from '../netlink/client.js';
import { formatIp, parseIp, parsePrefix, type IpPrefix } from '../wire/address.js';
import { Reconciler, type OwnedRecord } from './reconcile.js';
import { localTunName } from './desired.js';
import type { Logger } from './log.js';

const MAGIC = 'sixtun-crash-record 1';
const SYSCTL_ALLOWED = /^net\/ipv6\/conf\/([^/]+)\/(forwarding|proxy_ndp|accept_ra|addr_gen_mode)$/;

/** Where a daemon records what it changed: two slots next to its control socket. */
export function recordSlots(cfg: Config): [string, string] {
  return [`${cfg.controlSocket}.state.0`, `${cfg.controlSocket}.state.1`];
}

export interface StateRecord {
  pid: number;
  interface: string;
  /** Written by a clean stop: nothing to undo, and the pid may be reused. */
  stopped?: boolean;
  owned: OwnedRecord;
}

interface Slot {
  seq: number;
  record: StateRecord;
}

/** Writes the record through descriptors opened while root. */
export class CrashRecord {
  private seq = 0;
  private last = '';

  private constructor(private readonly paths: [string, string], private readonly fds: [number, number]) {}

  /** Creates both slots afresh (recover() removed any old ones): a name that
   * exists again, a file or a symlink someone put there, refuses the start. */
  static create(cfg: Config): CrashRecord {
    const paths = recordSlots(cfg);
    const flags = constants.O_RDWR | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
    const fds: number[] = [];
    try {
      // Beside the control socket, whose directory (/run/sixtun) a fresh boot does not have yet.
      mkdirSync(dirname(paths[0]), { recursive: true, mode: 0o755 });
      for (const p of paths) fds.push(openSync(p, flags, 0o600));
    } catch (e) {
      for (const fd of fds) closeSync(fd);
      throw Object.assign(new Error(`cannot create the crash record ${(e as NodeJS.ErrnoException).path ?? paths[0]}: ${(e as Error).message}`), { code: (e as NodeJS.ErrnoException).code });
    }
    return new CrashRecord(paths, [fds[0], fds[1]]);
  }

  /** Replaces the older slot with record (unless it is what was written last). */
  write(record: StateRecord): void {
    const body = JSON.stringify(record);
    if (body === this.last) return;
    this.seq++;
    const fd = this.fds[this.seq % 2];
    const text = Buffer.from(`${MAGIC} ${this.seq} ${sha256(body)}\n${body}`);
    ftruncateSync(fd, 0);
    writeSync(fd, text, 0, text.length, 0);
    fsyncSync(fd);
    this.last = body;
  }

  /** At a clean stop: both slots say "nothing to undo", then go. A daemon
   * that dropped to `user:` cannot remove files from root's directory: they
   * stay, harmless, and the next start removes them. Returns whether they went. */
  finish(pid: number, iface: string): boolean {
    const clean: StateRecord = { pid, interface: iface, stopped: true, owned: { links: [], addresses: [], routes: [], proxies: [], sysctls: [] } };
    this.write(clean);
    this.last = '';
    this.write(clean);
    for (const fd of this.fds) closeSync(fd);
    try {
      for (const p of this.paths) rmSync(p, { force: true });
      return true;
    } catch {
      return false;
    }
  }

  /** After a failed start: the slots go (the undo has run). */
  discard(): void {
    for (const fd of this.fds) closeSync(fd);
    for (const p of this.paths) rmSync(p, { force: true });
  }
}

/** Undoes what a previous run left behind when it was killed (the newest
 * intact slot names a PID that is gone). Refuses to start next to a live one.
 * Slots that fail the checks, and entries outside the allow-list, are
 * refused and logged; either way the slots are removed. */
export async function recoverLeftovers(cfg: Config, nl: NetlinkClient, log: Logger): Promise<void> {
  const rec = readNewestRecord(cfg, log);
  if (rec && !rec.stopped) {
    if (rec.pid !== process.pid && processAlive(rec.pid)) {
      throw Object.assign(new Error(`another sixtun (pid ${rec.pid}) is running with ${recordSlots(cfg)[0]}`), { code: 'EBUSY' });
    }
    const { allowed, refused } = allowList(rec.owned, cfg);
    if (refused.length > 0) log.error('refused entries of the crash record that sixtun would not have made', { refused: refused.slice(0, 20), count: refused.length });
    const r = new Reconciler(nl, log);
    r.importOwned(allowed);
    await r.teardown();
    log.warn('undid what a previous run left behind', { pid: rec.pid, ...summarize(allowed) });
  }
  for (const path of recordSlots(cfg)) rmSync(path, { force: true });
}

/** The newer of the slots that pass every check. */
export function readNewestRecord(cfg: Config, log: Logger): StateRecord | null {
  const slots: Slot[] = [];
  for (const path of recordSlots(cfg)) {
    const slot = readSlot(path, log);
    if (slot) slots.push(slot);
  }
  return slots.sort((a, b) => b.seq - a.seq)[0]?.record ?? null;
}

/** One slot, if it passes every check; null (logged) otherwise. */
function readSlot(path: string, log: Logger): Slot | null {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT') log.error('refused a crash record', { file: path, reason: code === 'ELOOP' ? 'a symbolic link' : (e as Error).message });
    return null;
  }
  try {
    const st = fstatSync(fd);
    const problem = !st.isFile() ? 'not a regular file'
      : st.uid !== process.geteuid!() ? `owned by uid ${st.uid}, not by ${process.geteuid!()}`
        : (st.mode & 0o022) !== 0 ? `writable by others (mode ${(st.mode & 0o777).toString(8)})`
          : st.nlink !== 1 ? `${st.nlink} links to it` : null;
    if (problem !== null) {
      log.error('refused a crash record', { file: path, reason: problem });
      return null;
    }
    const text = readFileSync(fd, 'utf8');
    // A slot not written yet.
    if (text.length === 0) return null;
    const newline = text.indexOf('\n');
    const header = text.slice(0, newline).split(' ');
    const body = text.slice(newline + 1);
    if (newline < 0 || header.length !== 4 || `${header[0]} ${header[1]}` !== MAGIC || header[3] !== sha256(body)) {
      // A write cut short by a crash: the other slot holds the record.
      log.warn('ignoring an incomplete crash record slot', { file: path });
      return null;
    }
    return { seq: Number(header[2]), record: JSON.parse(body) as StateRecord };
  } catch (e) {
    log.error('refused a crash record', { file: path, reason: (e as Error).message });
    return null;
  } finally {
    closeSync(fd);
  }
}

/** The entries of a record that this configuration's daemon could have made. */
/** The TUN devices a daemon of this configuration opens (they go with it). */
export function tunDevices(cfg: Config): string[] {
  return cfg.mode === 'server' ? [cfg.interface, localTunName(cfg.interface)] : [cfg.interface];
}

export function allowList(owned: OwnedRecord, cfg: Config): { allowed: OwnedRecord; refused: string[] } {
  const refused: string[] = [];
  const external = cfg.mode === 'server' ? cfg.externalInterface : null;
  const lan = cfg.mode === 'client' ? cfg.lan : null;
  const keep = <T>(list: unknown, what: (x: T) => string, ok: (x: T) => boolean): T[] => {
    if (!Array.isArray(list)) return [];
    return list.filter((x: T) => {
      let good = false;
      try {
        good = ok(x);
      } catch {
        good = false;
      }
      if (!good) refused.push(safeDescribe(() => what(x)));
      return good;
    });
  };
  const tuns = tunDevices(cfg);
  const interfaces = new Set([...tuns, 'all', ...(external !== null ? [external] : [])]);
  const allowed: OwnedRecord = {
    links: keep<[string, { up?: unknown; mtu?: unknown; txQueueLen?: unknown }]>(owned.links, (l) => `link ${l[0]}`, ([name, before]) => tuns.includes(name)
      && (before.up === undefined || typeof before.up === 'boolean')
      && (before.mtu === undefined || (Number.isInteger(before.mtu) && (before.mtu as number) >= 68 && (before.mtu as number) <= 65535))
      && (before.txQueueLen === undefined || (Number.isInteger(before.txQueueLen) && (before.txQueueLen as number) >= 0))) as OwnedRecord['links'],
    addresses: keep<OwnedRecord['addresses'][number]>(owned.addresses, (a) => `address ${a.cidr} dev ${a.link}`, (a) => (a.link === cfg.interface && parsePrefix(a.cidr, false).family === 6)
      || (lan !== null && a.link === lan.interface && sameAddress(parsePrefix(a.cidr, false), lan.address))),
    routes: keep<OwnedRecord['routes'][number]>(owned.routes, (r) => `route ${r.dst} dev ${r.link}`, (r) => r.link === cfg.interface && parsePrefix(r.dst, true).family === 6
      && (r.gateway === undefined || parseIp(r.gateway).family === 6)),
    proxies: keep<OwnedRecord['proxies'][number]>(owned.proxies, (p) => `proxy ${p.address} dev ${p.link}`, (p) => external !== null && p.link === external && parseIp(p.address).family === 6),
    sysctls: keep<[string, string]>(owned.sysctls, (s) => `sysctl ${s[0]}=${s[1]}`, ([key, value]) => {
      const m = SYSCTL_ALLOWED.exec(key);
      return m !== null && interfaces.has(m[1]) && /^[0-2]$/.test(value);
    }),
  };
  return { allowed, refused };
}

/** The same interface address: address and prefix length. */
function sameAddress(a: IpPrefix, b: IpPrefix): boolean {
  return a.length === b.length && formatIp(a.bytes) === formatIp(b.bytes);
}

function safeDescribe(f: () => string): string {
  try {
    return f();
  } catch {
    return 'an entry of the wrong shape';
  }
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function summarize(o: OwnedRecord): Record<string, number> {
  return { links: o.links.length, addresses: o.addresses.length, routes: o.routes.length, proxies: o.proxies.length, sysctls: o.sysctls.length };
}

function processAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
