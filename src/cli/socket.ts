// Which daemon a CLI command talks to: --socket when given, else the one
// running sixtun found under /run/sixtun (several: the one in this network
// namespace, else the user picks).
import { findDaemons, sameNetns, SOCKET_DIR } from '../control/discover.js';

export const SOCKET_OPTION_HELP = `control socket (default: the one running sixtun under ${SOCKET_DIR})`;

/** Something the user must change in the command line (exit 2). */
export class UsageError extends Error {}

export async function resolveSocket(given: string | undefined, mode?: 'server' | 'client', dir = SOCKET_DIR): Promise<string> {
  if (given !== undefined) return given;
  const all = await findDaemons(dir);
  const running = mode ? all.filter((d) => d.mode === mode) : all;
  if (running.length === 1) return running[0].socket;
  // Several (a server and a client in two namespaces): the one in this namespace.
  const here = running.filter((d) => sameNetns(d.pid));
  if (here.length === 1) return here[0].socket;
  if (running.length === 0) {
    throw new UsageError(`no running sixtun ${mode ?? 'daemon'} answers under ${dir}: start one (sixtun ${mode ?? 'server'} -c FILE), or give --socket PATH`);
  }
  throw new UsageError(`${running.length} sixtun daemons are running; choose one with --socket:\n${running.map((d) => `  --socket ${d.socket}   # sixtun ${d.mode} (pid ${d.pid}, interface ${d.interface})`).join('\n')}`);
}
