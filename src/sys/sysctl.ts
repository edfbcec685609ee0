// sysctls of the current network namespace, through /proc/sys.
import { readFileSync, writeFileSync } from 'node:fs';

const NAME = /^[a-z0-9_.\-/]+$/i;

function path(name: string): string {
  if (!NAME.test(name) || name.includes('..')) throw new RangeError(`bad sysctl name: ${name}`);
  return '/proc/sys/' + name;
}

/** Reads e.g. "net/ipv6/conf/eth0/forwarding" (slashes, since interface names may hold dots). */
export function readSysctl(name: string): string {
  return readFileSync(path(name), 'utf8').trim();
}

export function writeSysctl(name: string, value: string): void {
  writeFileSync(path(name), value + '\n');
}

export function ipv6ConfSysctl(ifname: string, key: string): string {
  return `net/ipv6/conf/${ifname}/${key}`;
}
