// The crash record: what a daemon changed in the kernel, written where the
// next start finds it, so that a start after a SIGKILL undoes what the killed
// run left behind (sysctls, proxy entries; the TUN and what is on it go with
// the process).
import { existsSync, readFileSync, rmSync } from 'node:fs';
import type { Config } from '../config/config.js';
import type { NetlinkClient } from '../netlink/client.js';
import { Reconciler, type OwnedRecord } from './reconcile.js';
import type { Logger } from './log.js';

/** Where a daemon records what it changed, so a later start can undo it after a SIGKILL. */
export function stateFile(cfg: Config): string {
  return `${cfg.controlSocket}.state.json`;
}

export interface StateRecord {
  pid: number;
  interface: string;
  owned: OwnedRecord;
}

/** Undoes what a previous run left behind when it was killed (its record
 * names a PID that is gone). Refuses to start next to a live one. */
export async function recoverLeftovers(cfg: Config, nl: NetlinkClient, log: Logger): Promise<void> {
  const path = stateFile(cfg);
  if (!existsSync(path)) return;
  let rec: StateRecord;
  try {
    rec = JSON.parse(readFileSync(path, 'utf8')) as StateRecord;
  } catch (e) {
    log.warn('ignoring an unreadable state file', { file: path, error: (e as Error).message });
    rmSync(path, { force: true });
    return;
  }
  if (rec.pid !== process.pid && processAlive(rec.pid)) {
    throw Object.assign(new Error(`another sixtun (pid ${rec.pid}) is running with ${path}`), { code: 'EBUSY' });
  }
  const r = new Reconciler(nl, log);
  r.importOwned(rec.owned);
  await r.teardown();
  rmSync(path, { force: true });
  log.warn('undid what a previous run left behind', { pid: rec.pid, ...summarize(rec.owned) });
}

function summarize(o: OwnedRecord): Record<string, number> {
  return { links: o.links.length, addresses: o.addresses.length, routes: o.routes.length, proxies: o.proxies.length, sysctls: o.sysctls.length };
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
