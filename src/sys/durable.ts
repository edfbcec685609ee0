// Files that survive a crash: written whole, fsynced, renamed over the old
// one, and the rename itself made durable by syncing the directory. Used for
// the configuration write-back, the crash record and the tunnel journal.
import { closeSync, fsyncSync, openSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

/** Makes renames and creations in file's directory durable. */
export function syncDirectoryOf(file: string): void {
  const fd = openSync(dirname(file), 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Writes text to file so that any crash leaves either the old or the new file. */
export function writeAtomically(file: string, text: string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  syncDirectoryOf(file);
}
