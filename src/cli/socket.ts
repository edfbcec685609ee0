// Which daemon a CLI command talks to: --socket when given, else the one
// running sixtun found under /run/sixtun (several: the user picks).
import { describeDaemon, findDaemons, SOCKET_DIR } from '../control/discover.js';

export const SOCKET_OPTION_HELP = `control socket (default: the one running sixtun under ${SOCKET_DIR})`;

export class SocketChoiceError extends Error {}

export async function resolveSocket(given: string | undefined, mode?: 'server' | 'client'): Promise<string> {
  if (given !== undefined) return given;
  const all = await findDaemons();
  const running = mode ? all.filter((d) => d.mode === mode) : all;
  if (running.length === 1) return running[0].socket;
  if (running.length === 0) {
    throw new SocketChoiceError(`no running sixtun ${mode ?? 'daemon'} answers under ${SOCKET_DIR}: start one (sixtun ${mode ?? 'server'} -c FILE), or give --socket PATH`);
  }
  throw new SocketChoiceError(`${running.length} sixtun daemons are running; choose one with --socket:\n${running.map((d) => `  --socket ${d.socket}   # ${describeDaemon(d)}`).join('\n')}`);
}
