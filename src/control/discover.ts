// Finding running sixtun daemons by their control sockets, for the CLI when no
// --socket is given and for the start-up check that an interface or socket is
// not already someone else's.
import { readFileSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { controlRequest } from './control-server.js';

export const SOCKET_DIR = '/run/sixtun';

export interface RunningSixtun {
  socket: string;
  mode: string;
  interface: string;
  pid: number;
}

/** Unix sockets in dir and one level below (the demo keeps its own there). */
function socketsUnder(dir: string, depth = 1): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const name of names) {
    const p = join(dir, name);
    try {
      const st = statSync(p);
      if (st.isSocket()) out.push(p);
      else if (st.isDirectory() && depth > 0) out.push(...socketsUnder(p, depth - 1));
    } catch {
      // Gone between readdir and stat.
    }
  }
  return out.sort();
}

/** Daemons that answer on a socket under dir (stale sockets of killed ones do not). */
export async function findDaemons(dir = SOCKET_DIR): Promise<RunningSixtun[]> {
  const answers = await Promise.all(socketsUnder(dir).map(async (socket) => {
    try {
      const s = (await controlRequest(socket, { cmd: 'status' }, 2000)) as { mode: string; interface: string; pid: number };
      return { socket, mode: s.mode, interface: s.interface, pid: s.pid };
    } catch {
      return null;
    }
  }));
  return answers.filter((a): a is RunningSixtun => a !== null);
}

/** Whether pid lives in the same network namespace as this process. */
export function sameNetns(pid: number): boolean {
  try {
    return readlinkSync(`/proc/${pid}/ns/net`) === readlinkSync('/proc/self/ns/net');
  } catch {
    return false;
  }
}

/** `sixtun server (pid 123, interface sixtun0, control socket /run/sixtun/server-sixtun0.sock)` */
export function describeDaemon(d: RunningSixtun): string {
  return `sixtun ${d.mode} (pid ${d.pid}, interface ${d.interface}, control socket ${d.socket})`;
}

/** The process (in this network namespace) that holds TUN device name open,
 * read from /proc/PID/fdinfo ("iff: NAME" for a TUN fd), with the unix
 * sockets it listens on (from /proc/PID/net/unix): who to name when a TUN
 * name is taken. */
export function tunHolder(name: string): { pid: number; command: string; sockets: string[] } | null {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid || !sameNetns(pid)) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    const inodes = new Set<string>();
    let holds = false;
    for (const fd of fds) {
      try {
        const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
        if (target === '/dev/net/tun' && /^iff:\s+(\S+)$/m.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'))?.[1] === name) holds = true;
        const sock = /^socket:\[(\d+)\]$/.exec(target);
        if (sock) inodes.add(sock[1]);
      } catch {
        // The fd closed while we looked.
      }
    }
    if (!holds) continue;
    let sockets: string[] = [];
    let command = '';
    try {
      command = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
      // /proc/net/unix: Num RefCount Protocol Flags Type St Inode Path
      sockets = readFileSync(`/proc/${pid}/net/unix`, 'utf8').split('\n').slice(1)
        .map((l) => l.trim().split(/\s+/))
        .filter((f) => f.length >= 8 && inodes.has(f[6]) && f[7].startsWith('/'))
        .map((f) => f[7]);
    } catch {
      // Gone meanwhile: still the holder we saw.
    }
    return { pid, command, sockets };
  }
  return null;
}
