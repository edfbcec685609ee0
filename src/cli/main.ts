// sixtun command line: dispatches to one module per subcommand.
import { readFileSync } from 'node:fs';

const VERSION = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

const USAGE = `sixtun ${VERSION}: userspace 6in4 (IPv6-in-IPv4, protocol 41) tunnel router

Usage: sixtun <command> [options]

Commands:
  help             this text
  version          print the version

Run \`sixtun <command> --help\` for a command's options.
`;

function main(argv: string[]): number {
  const [command] = argv;
  switch (command) {
    case undefined:
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

process.exitCode = main(process.argv.slice(2));
