// Dropping to an unprivileged user while keeping exactly CAP_NET_ADMIN (links,
// addresses, routes, sysctls under /proc/sys/net, TUN) and CAP_NET_RAW (raw
// and packet sockets, should one need reopening); and making sure nothing
// can give the process more again: no_new_privs, a bounding set of those two,
// and locked securebits, on every thread.
import { execFileSync } from 'node:child_process';
import { native } from './native.js';
import { refusedUser } from '../config/config.js';

export const CAP_CHOWN = 0;
export const CAP_DAC_OVERRIDE = 1;
export const CAP_SETGID = 6;
export const CAP_SETUID = 7;
export const CAP_SETPCAP = 8;
export const CAP_NET_ADMIN = 12;
export const CAP_NET_RAW = 13;
export const KEPT_CAPABILITIES = (1 << CAP_NET_ADMIN) | (1 << CAP_NET_RAW);
/** What the start as root needs besides the two kept: chown the control
 * socket, read and append to the tunnel journal in the user's directory,
 * change user and groups, and shrink the bounding set afterwards. */
export const START_CAPABILITIES = KEPT_CAPABILITIES | (1 << CAP_CHOWN) | (1 << CAP_DAC_OVERRIDE) | (1 << CAP_SETGID) | (1 << CAP_SETUID) | (1 << CAP_SETPCAP);

// securebits(7): uid 0 gains nothing by exec, nor may ambient capabilities be
// raised; locked, so that not even this process can undo it.
const SECBIT_NOROOT = 1 << 0;
const SECBIT_NOROOT_LOCKED = 1 << 1;
const SECBIT_NO_SETUID_FIXUP_LOCKED = 1 << 3;
const SECBIT_NO_CAP_AMBIENT_RAISE = 1 << 6;
const SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED = 1 << 7;
export const LOCKED_SECUREBITS = SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP_LOCKED
  | SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED;

export interface Account {
  uid: number;
  gid: number;
}

/** Resolves a user name (or numeric id) with getent, as the C library would. */
export function lookupUser(name: string): Account {
  if (/^\d+$/.test(name)) return { uid: Number(name), gid: Number(name) };
  let line: string;
  try {
    line = execFileSync('getent', ['passwd', name], { encoding: 'utf8' }).trim();
  } catch {
    throw Object.assign(new Error(`no such user: ${name}`), { code: 'ENOENT' });
  }
  const f = line.split(':');
  const account = { uid: Number(f[2]), gid: Number(f[3]) };
  if (account.uid === 0 || account.uid === 65534) throw Object.assign(new Error(`user ${name} has uid ${account.uid}: ${refusedUser(String(account.uid))}`), { code: 'EINVAL' });
  return account;
}

export function lookupGroup(name: string): number {
  if (/^\d+$/.test(name)) return Number(name);
  try {
    return Number(execFileSync('getent', ['group', name], { encoding: 'utf8' }).trim().split(':')[2]);
  } catch {
    throw Object.assign(new Error(`no such group: ${name}`), { code: 'ENOENT' });
  }
}

const REEXECUTED = 'SIXTUN_LOCKED_DOWN';

/** Called first by a daemon that will drop to `user:`: runs the process
 * again (same pid) with no_new_privs and a bounding set of what the start
 * needs, so that every thread Node.js creates is born with them. Where Node
 * knows --disable-sigusr1 it is added: the inspector's SIGUSR1 thread blocks
 * every signal, so the lock-down at the drop could not reach it (Node 20
 * has no such flag: that one thread keeps the start's bounding set). Returns
 * when the process already is that second run, or is not root. */
export function reexecLockedDown(): void {
  if (process.env[REEXECUTED] === '1') {
    delete process.env[REEXECUTED];
    return;
  }
  if (process.geteuid!() !== 0) return;
  native.lockDownThreads(START_CAPABILITIES, -1);
  const flags = process.allowedNodeEnvironmentFlags.has('--disable-sigusr1') && !process.execArgv.includes('--disable-sigusr1') ? ['--disable-sigusr1'] : [];
  const env = Object.entries({ ...process.env, [REEXECUTED]: '1' }).map(([k, v]) => `${k}=${v}`);
  native.execve(process.execPath, [process.execPath, ...flags, ...process.execArgv, ...process.argv.slice(1)], env);
}

/** Becomes account, keeping only CAP_NET_ADMIN and CAP_NET_RAW. First every
 * thread shrinks its bounding set to those two and locks its securebits
 * (no_new_privs too, if the start was not re-executed). The C library then
 * applies the user change to every thread; capabilities belong to each
 * thread, and the others (the datapath thread, Node's own) lose them all with
 * the change of user, since only this thread keeps its permitted set across
 * it (PR_SET_KEEPCAPS). Returns how many threads the lock-down did not reach. */
export function dropPrivileges(account: Account): number {
  const { unreached } = native.lockDownThreads(KEPT_CAPABILITIES, LOCKED_SECUREBITS);
  native.keepCapabilities(true);
  process.setgroups!([]);
  process.setgid!(account.gid);
  process.setuid!(account.uid);
  native.keepCapabilities(false);
  native.setCapabilities(KEPT_CAPABILITIES, KEPT_CAPABILITIES, 0);
  return unreached;
}
