// Checks made before a daemon sets up anything: each failure names the
// config field or the privilege to fix, so that nothing is half-built.
import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ConfigError, type Config } from '../config/config.js';
import { CAP_NET_ADMIN, CAP_NET_RAW } from '../sys/privileges.js';
import type { NetlinkClient } from '../netlink/client.js';
import { dumpLinks } from '../netlink/link.js';
import { dumpAddresses } from '../netlink/addr.js';
import { controlRequest } from './control-server.js';
import { describeDaemon, tunHolder, type RunningSixtun } from './discover.js';

/** ARPHRD_NONE: what a TUN device reports as its link type. */
const ARPHRD_NONE = 65534;

export class PreflightError extends Error {
  readonly code = 'EPREFLIGHT';
}

/** Effective capabilities of this process (CapEff in /proc/self/status). */
export function effectiveCapabilities(statusText = readFileSync('/proc/self/status', 'utf8')): bigint {
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(statusText);
  return m ? BigInt(`0x${m[1]}`) : 0n;
}

export function missingCapabilities(eff: bigint): string[] {
  const missing: string[] = [];
  if ((eff & (1n << BigInt(CAP_NET_ADMIN))) === 0n) missing.push('CAP_NET_ADMIN');
  if ((eff & (1n << BigInt(CAP_NET_RAW))) === 0n) missing.push('CAP_NET_RAW');
  return missing;
}

/** Why someone other than root could change path (the file itself, a
 * directory on the way to it, or to where a symlink leads), or null. A
 * directory that everyone may write is fine when it is sticky (as /tmp):
 * no one else can then replace root's entries in it. */
export function writableByOthers(path: string): string | null {
  const chain = (p: string): string[] => {
    const out = [p];
    while (p !== '/') out.push((p = dirname(p)));
    return out;
  };
  const absolute = resolve(path);
  for (const p of new Set([...chain(absolute), ...chain(realpathSync(absolute))])) {
    const st = statSync(p);
    const sticky = st.isDirectory() && (st.mode & 0o1000) !== 0;
    if (st.uid !== 0) return `${p} is owned by uid ${st.uid}`;
    if ((st.mode & 0o002) !== 0 && !sticky) return `${p} is writable by everyone`;
    if ((st.mode & 0o020) !== 0 && st.gid !== 0 && !sticky) return `${p} is writable by group ${st.gid}`;
  }
  return null;
}

/** Refuses a configuration that root would act on while someone else may
 * change it: the file itself (it names paths, interfaces, the user to
 * become), and the etcd TLS files it names (whoever replaces the CA chooses
 * whom sixtun believes to be etcd, and so the registry it routes by). */
export function checkFilesTrusted(cfg: Config): void {
  const untrusted = writableByOthers(cfg.file);
  if (untrusted !== null) {
    throw new PreflightError(`${cfg.file}: ${untrusted}; sixtun runs as root and acts on what this file names (paths, interfaces, the user to become): make it and its directories root's, writable by no one else`);
  }
  const tls = cfg.mode === 'server' ? cfg.etcd?.tls : null;
  for (const field of ['ca', 'cert', 'key'] as const) {
    const path = tls?.[field];
    if (!path) continue;
    if (!existsSync(path)) throw new ConfigError(cfg.file, null, `store.etcd.tls.${field}`, `expected a PEM file: ${path} does not exist`);
    const why = writableByOthers(path);
    if (why !== null) {
      throw new PreflightError(`${path} (store.etcd.tls.${field} in ${cfg.file}): ${why}; sixtun runs as root and believes etcd by it: make it and its directories root's, writable by no one else`);
    }
  }
}

/** What must hold before sixtun opens anything: files it may trust, and the
 * capabilities it needs (a netlink socket without CAP_NET_ADMIN fails with
 * a bare EPERM that names nothing). */
export function checkPrivileges(cfg: Config): void {
  if (process.geteuid!() === 0) checkFilesTrusted(cfg);
  const missing = missingCapabilities(effectiveCapabilities());
  if (missing.length > 0) {
    throw new PreflightError(`sixtun ${cfg.mode} needs ${missing.join(' and ')} (TUN device, routes, raw protocol-41 socket): run it as root, or give it ${missing.join(' and ')} (systemd: AmbientCapabilities=CAP_NET_ADMIN CAP_NET_RAW)`);
  }
}

/** The checks that need the kernel's state (after checkPrivileges). */
export async function preflight(cfg: Config, nl: NetlinkClient): Promise<void> {
  if (existsSync(cfg.controlSocket)) {
    let running: { mode: string; interface: string; pid: number } | null = null;
    try {
      running = (await controlRequest(cfg.controlSocket, { cmd: 'status' }, 2000)) as { mode: string; interface: string; pid: number };
    } catch {
      // A stale socket of a stopped daemon: taken over when we listen.
    }
    if (running) {
      throw new ConfigError(cfg.file, null, 'control_socket', `${cfg.controlSocket} is in use by ${describeDaemon({ socket: cfg.controlSocket, ...running })}: stop it, or set control_socket (or interface) to another name`);
    }
  }
  const links = await dumpLinks(nl);
  const names = links.map((l) => l.name);
  const tun = links.find((l) => l.name === cfg.interface);
  if (tun) {
    if (tun.type !== ARPHRD_NONE) {
      throw new ConfigError(cfg.file, null, 'interface', `${cfg.interface} already exists here and is not a TUN device: set interface to a free name`);
    }
    const holder = tunHolder(cfg.interface);
    if (holder) {
      const daemons = await Promise.all(holder.sockets.map(async (socket): Promise<RunningSixtun | null> => {
        try {
          const s = (await controlRequest(socket, { cmd: 'status' }, 2000)) as { mode: string; interface: string; pid: number };
          return s.pid === holder.pid ? { socket, ...s } : null;
        } catch {
          return null;
        }
      }));
      const owner = daemons.find((d) => d !== null);
      throw new ConfigError(cfg.file, null, 'interface', `${cfg.interface} is in use by ${owner ? describeDaemon(owner) : `another program (pid ${holder.pid}: ${holder.command})`}: stop it, or set interface to another name`);
    }
  }
  if (cfg.mode === 'server' && cfg.externalInterface !== null && !names.includes(cfg.externalInterface)) {
    throw new ConfigError(cfg.file, null, 'external_interface', `no interface ${cfg.externalInterface} here (have: ${names.join(', ')}): name the interface that faces the upstream IPv6 router`);
  }
  const local = cfg.localIpv4;
  if (local !== null) {
    const mine = (await dumpAddresses(nl, 4)).map((a) => a.address);
    if (!mine.includes(local)) {
      throw new ConfigError(cfg.file, null, 'local_ipv4', `${local} is not an address of any interface here (have: ${mine.join(', ') || 'none'}): protocol-41 packets are sent from and to it`);
    }
  }
}
