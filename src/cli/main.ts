// sixtun command line: dispatches to one module per subcommand.
import { runDaemon } from './run.js';
import { status } from './status.js';
import { trace } from './trace.js';
import { demo } from './demo.js';
import { exportCli, tunnelCli } from './tunnel.js';
import { bench } from './bench.js';
import { storeCli } from './store.js';
import { check } from './check.js';
import { completion } from './reference.js';
import { USAGE, VERSION } from './usage.js';

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'server':
    case 'client':
      return runDaemon(command, rest);
    case 'check':
      return check(rest);
    case 'status':
      return status(rest);
    case 'trace':
      return trace(rest);
    case 'demo':
      return demo(rest);
    case 'tunnel':
      return tunnelCli(rest);
    case 'export':
      return exportCli(rest);
    case 'store':
      return storeCli(rest);
    case 'bench':
      return bench(rest);
    case 'completion':
      return completion(rest);
    case undefined:
      process.stderr.write(USAGE);
      return 2;
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return 0;
    case 'version':
    case '--version':
      process.stdout.write(VERSION + '\n');
      return 0;
    default:
      process.stderr.write(`sixtun: unknown command ${JSON.stringify(command)}\n\n${USAGE}`);
      return 2;
  }
}

// `sixtun status | head -3`: the reader went away; that is not an error of ours.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw e;
  });
}

main(process.argv.slice(2)).then(
  (code) => {
    // A daemon that stopped has closed everything it opened; exit now rather
    // than wait on anything a library left scheduled.
    process.exitCode = code;
    if (['server', 'client', 'demo', 'bench'].includes(process.argv[2])) process.exit(code);
  },
  (e: Error) => {
    if ((e as NodeJS.ErrnoException).code === 'EPIPE') process.exit(0);
    process.stderr.write(`sixtun: ${e.stack ?? e.message}\n`);
    process.exitCode = 1;
  },
);
