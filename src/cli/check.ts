// `sixtun check -c FILE [--json]`: a configuration checked as a start would
// check it (every error at once, the file's trust), without starting: for an
// operator before a restart, and for the unit's ExecStartPre.
import { usageError } from './args.js';
import { parseArgs } from 'node:util';
import { ConfigError, ConfigErrors, loadConfig } from '../config/config.js';
import { configWarnings } from '../config/warnings.js';
import { desiredState } from '../control/desired.js';
import { PreflightError, checkFilesTrusted } from '../control/preflight.js';

export const CHECK_HELP = `Usage: sixtun check -c FILE [--json]

Checks a server or client configuration without starting: every error of
FILE (and of its tunnel journal) at once, whether root may trust the files,
and settings that make another do nothing. Prints what the daemon would set
up in the kernel.

Options:
  -c, --config FILE   configuration file
      --json          the errors, warnings and kernel state as JSON
  -h, --help          this text

Exit codes: 0 valid, 2 bad usage or configuration.
`;

export async function check(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ args: argv, options: { config: { type: 'string', short: 'c' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }, strict: true }));
  } catch (e) {
    process.stderr.write(`sixtun check: ${usageError(e)}\n\n${CHECK_HELP}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(CHECK_HELP);
    return 0;
  }
  if (!values.config) {
    process.stderr.write(`sixtun check: -c FILE is required\n\n${CHECK_HELP}`);
    return 2;
  }
  const file = values.config;
  try {
    const cfg = loadConfig(file);
    checkFilesTrusted(cfg);
    const warnings = configWarnings(cfg);
    // A client's local IPv4 is found at start when not configured: its link-local is named for it then.
    const kernel = desiredState(cfg, cfg.mode === 'server' ? cfg.localIpv4 : cfg.localIpv4 ?? '0.0.0.0');
    if (cfg.mode === 'client' && cfg.localIpv4 === null) kernel.addresses = kernel.addresses?.filter((a) => !a.cidr.startsWith('fe80::'));
    const tunnels = cfg.mode === 'server' ? cfg.tunnels.length : 1;
    if (values.json) {
      process.stdout.write(JSON.stringify({ file, valid: true, mode: cfg.mode, tunnels, errors: [], warnings, kernel }, null, 2) + '\n');
    } else {
      for (const w of warnings) process.stderr.write(`warning: ${w}\n`);
      const n = (k: keyof typeof kernel): number => kernel[k]?.length ?? 0;
      process.stdout.write(`${file}: a valid ${cfg.mode} configuration${cfg.mode === 'server' ? ` with ${tunnels} tunnel${tunnels === 1 ? '' : 's'}` : ''}; `
        + `it sets up ${n('links')} link${n('links') === 1 ? '' : 's'}, ${n('addresses')} address${n('addresses') === 1 ? '' : 'es'}, ${n('routes')} route${n('routes') === 1 ? '' : 's'}, `
        + `${n('rules')} rule${n('rules') === 1 ? '' : 's'}, ${n('proxies')} proxy entr${n('proxies') === 1 ? 'y' : 'ies'} and ${n('sysctls')} sysctls (--json for each)\n`);
    }
    return 0;
  } catch (e) {
    if (!(e instanceof ConfigError || e instanceof PreflightError)) throw e;
    if (values.json) {
      const errors = e instanceof ConfigErrors ? e.errors : [e];
      const list = errors.map((x) => (x instanceof ConfigError ? { file: x.file, line: x.line, field: x.field, expected: x.expected } : { message: x.message }));
      process.stdout.write(JSON.stringify({ file, valid: false, errors: list, warnings: [] }, null, 2) + '\n');
    } else {
      process.stderr.write(`sixtun check: ${e.message}\n`);
    }
    return 2;
  }
}
