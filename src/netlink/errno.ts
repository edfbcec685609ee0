import { constants } from 'node:os';

const names = new Map<number, string>();
for (const [name, value] of Object.entries(constants.errno)) {
  if (!names.has(value)) names.set(value, name);
}

/** errno number → name (EEXIST, ENOENT …), as the C library spells it. */
export function errnoName(errno: number): string {
  return names.get(errno) ?? `ERRNO${errno}`;
}
