// Files that survive a crash: written whole, fsynced, renamed over the old
// one, and the rename itself made durable by syncing the directory. Used for
// the configuration write-back and the tunnel journal's compaction.
import { closeSync, constants, fchmodSync, fchownSync, fstatSync, fsyncSync, openSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
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

/** Writes text to file so that any crash leaves either the old or the new
 * file. The new file keeps the old one's mode and owner; when the owner
 * cannot be kept (a process that is not root cannot give a file away), the
 * write fails and the old file stays. The temporary file is created anew,
 * never followed through a symlink someone left in its place. */
export function writeAtomically(file: string, text: string): void {
  let mode = 0o600;
  let owner: { uid: number; gid: number } | null = null;
  try {
    const st = statSync(file);
    mode = st.mode & 0o7777;
    owner = { uid: st.uid, gid: st.gid };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  try {
    if (owner !== null && (owner.uid !== process.geteuid!() || owner.gid !== process.getegid!())) {
      try {
        fchownSync(fd, owner.uid, owner.gid);
      } catch (e) {
        throw Object.assign(new Error(`cannot keep ${file} owned by uid ${owner.uid} gid ${owner.gid}: ${(e as Error).message}`), { code: (e as NodeJS.ErrnoException).code });
      }
    }
    fchmodSync(fd, mode);
    writeSync(fd, text);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, file);
  syncDirectoryOf(file);
}

/** Opens a file that must be a regular file with one name: not through a
 * symlink, not a device or FIFO, not a hard link to a file elsewhere (what
 * another user could put where root reads or appends). */
export function openRegularFile(path: string, flags: number, mode = 0o600): number {
  const fd = openSync(path, flags | constants.O_NOFOLLOW | constants.O_NONBLOCK, mode);
  const st = fstatSync(fd);
  if (!st.isFile() || st.nlink !== 1) {
    closeSync(fd);
    throw Object.assign(new Error(`${path} is ${!st.isFile() ? 'not a regular file' : `linked ${st.nlink} times`}: refusing to use it`), { code: 'EINVAL' });
  }
  return fd;
}
