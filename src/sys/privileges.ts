// Dropping to an unprivileged user while keeping exactly CAP_NET_ADMIN (links,
// addresses, routes, sysctls under /proc/sys/net, TUN) and CAP_NET_RAW (raw
// and packet sockets, should one need reopening).
import { execFileSync } from 'node:child_process';
import { native } from './native.js';

export const CAP_NET_ADMIN = 12;
export const CAP_NET_RAW = 13;
export const KEPT_CAPABILITIES = (1 << CAP_NET_ADMIN) | (1 << CAP_NET_RAW);

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
  return { uid: Number(f[2]), gid: Number(f[3]) };
}

export function lookupGroup(name: string): number {
  if (/^\d+$/.test(name)) return Number(name);
  try {
    return Number(execFileSync('getent', ['group', name], { encoding: 'utf8' }).trim().split(':')[2]);
  } catch {
    throw Object.assign(new Error(`no such group: ${name}`), { code: 'ENOENT' });
  }
}

/** Becomes account, keeping only CAP_NET_ADMIN and CAP_NET_RAW on this
 * (the control) thread. The C library applies the user change to every
 * thread; capabilities belong to each thread, and the others (the datapath
 * thread, Node's own) lose them all with the change of user, since only this
 * thread set PR_SET_KEEPCAPS. */
export function dropPrivileges(account: Account): void {
  native.keepCapabilities(true);
  process.setgroups!([]);
  process.setgid!(account.gid);
  process.setuid!(account.uid);
  native.keepCapabilities(false);
  native.setCapabilities(KEPT_CAPABILITIES, KEPT_CAPABILITIES, 0);
}
