// The only module that loads the addon. Everything else imports src/sys/*.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface NativeWatchHandle {
  readonly __watch: unique symbol;
}

/** The addon's surface. Batch calls share one geometry: packet i lives at
 * `i * slotSize + offset` in `slab` with `lens[i]` bytes. */
export interface Native {
  readonly MAX_BATCH: number;
  socket(domain: number, type: number, protocol: number): number;
  bind(fd: number, sockaddr: Uint8Array): number;
  connect(fd: number, sockaddr: Uint8Array): number;
  setsockopt(fd: number, level: number, name: number, value: number | Uint8Array): number;
  getsockopt(fd: number, level: number, name: number, out: Uint8Array): number;
  attachFilter(fd: number, program: Uint8Array): number;
  ioctl(fd: number, request: number, arg: Uint8Array | number): number;
  open(path: string, flags: number): number;
  close(fd: number): number;
  setNonBlocking(fd: number): number;
  ifNameToIndex(name: string): number;
  setns(fd: number, nstype: number): number;
  keepCapabilities(on: boolean): number;
  setCapabilities(effective: number, permitted: number, inheritable: number): number;
  lockDownThreads(keepMask: number, securebits: number): { threads: number; unreached: number };
  execve(path: string, argv: string[], env: string[]): never;
  recvBatch(
    fd: number, slab: Uint8Array, slotSize: number, offset: number, lens: Int32Array, count: number,
    names?: Uint8Array | null, nameStride?: number, ctrl?: Uint8Array | null, ctrlStride?: number,
  ): number;
  sendBatch(
    fd: number, slab: Uint8Array, slotSize: number, offset: number, lens: Int32Array, count: number,
    names?: Uint8Array | null, nameStride?: number, nameLen?: number,
  ): number;
  /** sendmmsg of messages gathered from two ranges each: iov[4i..4i+3] = (offset, length, offset, length). */
  sendBatchV(fd: number, bytes: Uint8Array, iov: Int32Array, lens: Int32Array, count: number, names: Uint8Array, nameStride: number, nameLen: number): number;
  readBatch(fd: number, slab: Uint8Array, slotSize: number, offset: number, lens: Int32Array, count: number, byteBudget?: number): number;
  writeBatch(fd: number, slab: Uint8Array, slotSize: number, offset: number, lens: Int32Array, count: number): number;
  /** RFC 1071 sum of bytes[offset, offset+length) as big-endian words, folded to 16 bits, not complemented. */
  sum16(bytes: Uint8Array, offset: number, length: number): number;
  /** out[i] = sum16(bytes, starts[i], lengths[i]) for i < count, in one call. */
  sum16Batch(bytes: Uint8Array, starts: Int32Array, lengths: Int32Array, count: number, out: Int32Array): number;
  /** Moves bytes[from[i], from[i]+lengths[i]) to to[i] for i < count (memmove), in one call. */
  copyBatch(bytes: Uint8Array, from: Int32Array, to: Int32Array, lengths: Int32Array, count: number): number;
  sendTo(fd: number, bytes: Uint8Array, offset: number, length: number, sockaddr?: Uint8Array | null): number;
  recvMsg(fd: number, data: Uint8Array, ctrl: Uint8Array | null, name: Uint8Array | null, flags: number, out: Int32Array): number;
  recvErrQueue(fd: number, data: Uint8Array, ctrl: Uint8Array | null, name: Uint8Array | null, flags: number, out: Int32Array): number;
  watch(fd: number, events: number, callback: (events: number, status: number) => void): NativeWatchHandle;
  unwatch(handle: NativeWatchHandle): number;
}

/** What the addon throws: an Error carrying the errno name, number and syscall. */
export interface SysError extends Error {
  code: string;
  errno: number;
  syscall: string;
}

export function isSysError(e: unknown, code?: string): e is SysError {
  return e instanceof Error && typeof (e as SysError).errno === 'number' && (code === undefined || (e as SysError).code === code);
}

function findAddon(): string {
  // Source (src/sys) and compiled (dist/src/sys) layouts both reach the package root.
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = join(dir, 'build', 'Release', 'sixtun.node');
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  throw new Error('sixtun native addon not built: run `npm install` (node-gyp rebuild)');
}

// The addon's exports object is in dictionary mode (too many properties
// defined one by one), so every `native.x` in optimized code was a hash
// lookup through a LoadIC; a copy is an ordinary object with fast properties.
export const native: Native = { ...(createRequire(import.meta.url)(findAddon()) as Native) };
