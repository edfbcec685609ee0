// The top-level usage text and version, shared by the CLI and its generated reference.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../lab/daemons.js';

export const VERSION = (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

export const USAGE = `sixtun ${VERSION}: userspace 6in4 (IPv6-in-IPv4, protocol 41) tunnel router

Usage: sixtun <command> [options]

Commands:
  demo             build a whole tunnel topology in namespaces and show it working
  server -c FILE   run a tunnel server (many clients on one TUN)
  client -c FILE   run a tunnel client
  check -c FILE    check a configuration without starting (every error at once)
  status           show a running daemon's tunnels and counters
  trace            show or save (pcapng) the packets a daemon handles, with verdicts
  tunnel           add, remove or change a running server's tunnels; make update keys
  export NAME      print a client configuration for a tunnel (iproute2, netplan, …)
  store migrate    move a tunnel registry between a file, a journal and etcd
  bench            measure sixtun against kernel paths and a C forwarder, in namespaces
  completion SHELL print a bash or zsh completion script
  help             this text
  version          print the version

Run \`sixtun <command> --help\` for a command's options.
`;
