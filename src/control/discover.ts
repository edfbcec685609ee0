// Finding running sixtun daemons by their control sockets, for the CLI when no
// --socket is given and for the start-up check that an interface or socket is
// not already someone else's.
import { readdirSync, readlinkSync, statSync } from 'node:fs';
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
