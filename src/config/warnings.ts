// Settings that are valid alone but make another do nothing: said at start
// and by `sixtun check`, never silently.
import type { Config } from './config.js';

export function configWarnings(cfg: Config): string[] {
  const out: string[] = [];
  if (cfg.mode === 'client' && cfg.localIpv4 !== null && cfg.update !== null) {
    out.push(`${cfg.file}: update is never used: local_ipv4 fixes this client's address (leave local_ipv4 out to follow address changes)`);
  }
  return out;
}
