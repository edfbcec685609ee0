// `sixtun server -c FILE` and `sixtun client -c FILE`: run the daemon until
// SIGINT/SIGTERM (clean stop) and re-read the config on SIGHUP.
import { usageError } from './args.js';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, type Config } from '../config/config.js';
import { reexecLockedDown } from '../sys/privileges.js';
import { JournalError } from '../store/journal.js';
import { Daemon } from '../control/daemon.js';
import { Logger } from '../control/log.js';
import { PreflightError } from '../control/preflight.js';
import { configWarnings } from '../config/warnings.js';

export const RUN_HELP = (mode: 'server' | 'client'): string => `Usage: sixtun ${mode} -c FILE

Runs the ${mode} end of a 6in4 tunnel${mode === 'server' ? ' server for every tunnel in FILE' : ''}: creates the TUN
device, configures addresses, routes and sysctls over rtnetlink, forwards
packets, and removes everything it added when it stops.

Options:
  -c, --config FILE   configuration file (YAML; see docs/configuration.md)
      --no-offload    drive the TUN without offloads (no TSO/GRO), whatever
                      FILE says: slower, for comparison and for kernels that
                      misbehave
  -h, --help          this text

Signals: SIGINT/SIGTERM stop cleanly; SIGHUP re-reads FILE and applies the
difference in tunnels without touching unchanged ones.
Exit codes: 0 stopped cleanly, 1 runtime failure, 2 bad usage or configuration.
`;

export async function runDaemon(mode: 'server' | 'client', argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ args: argv, options: { config: { type: 'string', short: 'c' }, 'no-offload': { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }, strict: true }));
  } catch (e) {
    process.stderr.write(`sixtun ${mode}: ${usageError(e)}\n\n${RUN_HELP(mode)}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(RUN_HELP(mode));
    return 0;
  }
  if (!values.config) {
    process.stderr.write(`sixtun ${mode}: -c FILE is required\n\n${RUN_HELP(mode)}`);
    return 2;
  }
  const file = values.config;
  const log = new Logger('info');
  let cfg: Config;
  try {
    cfg = loadConfig(file);
    if (cfg.mode !== mode) throw new ConfigError(file, null, 'mode', `expected ${mode} for \`sixtun ${mode}\`, got ${cfg.mode}`);
    if (values['no-offload']) cfg.offload = false;
  } catch (e) {
    process.stderr.write(`sixtun ${mode}: ${(e as Error).message}\n`);
    return 2;
  }
  log.setLevel(cfg.logLevel);
  for (const w of configWarnings(cfg)) log.warn('configuration', { warning: w });
  // Returns only in the re-executed process (or when not root).
  if (cfg.user !== null) reexecLockedDown();
  let daemon: Daemon;
  try {
    daemon = await Daemon.start(cfg, log);
  } catch (e) {
    // Something the user must fix (config field, privilege): said plainly, exit 2.
    if (e instanceof ConfigError || e instanceof PreflightError) {
      process.stderr.write(`sixtun ${mode}: ${e.message}\n`);
      return 2;
    }
    log.error('start failed', { error: (e as Error).message, code: (e as { code?: string }).code });
    return 1;
  }
  return new Promise<number>((resolve) => {
    let stopping = false;
    let exitCode = 0;
    const stop = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      log.info('stopping', { signal });
      daemon.stop().then(() => resolve(exitCode), (e: Error) => {
        log.error('stop left state behind', { error: e.message });
        resolve(1);
      });
    };
    daemon.onFatal = () => {
      stop('datapath thread failure');
      exitCode = 1;
    };
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGHUP', () => {
      daemon.reloadFromDisk().then(
        (diff) => log.info('reloaded', { ...diff }),
        (e: Error) => {
          if (e instanceof ConfigError || e instanceof JournalError) log.error('reload refused: configuration invalid, keeping the running one', { error: e.message });
          else log.error('reload failed', { error: e.message });
        },
      );
    });
  });
}
