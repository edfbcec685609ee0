// The tunnel registry as an append-only journal of JSON lines, for servers
// with many tunnels: a change appends one line (and fsyncs it) instead of
// rewriting a YAML file of 10^5 tunnels, and start-up reads JSON, not YAML.
// The journal is rewritten (compacted) when it holds more than twice as many
// lines as live tunnels, a chunk at a time so that the thread that moves
// packets is never held for long.
//
//   {"op":"put","tunnel":{"name":"home","client_ipv4":"198.51.100.2",...}}
//   {"op":"del","name":"home"}
//
// The records have the fields of a tunnel in the configuration file, so they
// are validated by the same code, and errors name the journal's file and line.
import { closeSync, constants, existsSync, fchownSync, fstatSync, fsyncSync, ftruncateSync, readFileSync, readSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { open as openAsync } from 'node:fs/promises';
import { createHash, type Hash } from 'node:crypto';
import { openRegularFile, syncDirectoryOf } from '../sys/durable.js';

export interface TunnelRecord {
  name: string;
  client_ipv4: string;
  server_ipv6: string;
  client_ipv6: string;
  routed_prefixes?: string[];
  user?: string;
  update_key_hash?: string;
  server?: string;
}

export type JournalLine = { op: 'put'; tunnel: TunnelRecord } | { op: 'del'; name: string };

export class JournalError extends Error {
  readonly code = 'ECONFIG';
  constructor(readonly file: string, readonly line: number | null, message: string) {
    super(`${file}${line !== null ? `:${line}` : ''}: ${message}`);
  }
}

/** Records read from a journal, with the line that last put each. */
export interface JournalContents {
  records: Map<string, { record: TunnelRecord; line: number }>;
  /** Names whose last line deletes them (a tunnel of the configuration file can be deleted too). */
  deleted: Set<string>;
  /** Lines in the file (puts and deletes): what compaction would shrink. */
  lines: number;
  /** Bytes up to the end of the last whole line. */
  validBytes: number;
}

/** Where reading a journal left off: what an open TunnelJournal continues from. */
export interface JournalPosition {
  lines: number;
  live: number;
  validBytes: number;
}

export function positionOf(c: JournalContents): JournalPosition {
  return { lines: c.lines, live: c.records.size, validBytes: c.validBytes };
}

/** Lines another writer appended, with their line numbers. */
export interface JournalTail {
  lines: Array<{ line: JournalLine; number: number }>;
  /** Offset after the last whole line read. */
  end: number;
}

const COMPACT_MIN_LINES = 1000;
// Read through the same descriptor: after the drop to `user:` the path may
// no longer be readable, the descriptor opened as root still is.
const APPEND = constants.O_RDWR | constants.O_APPEND | constants.O_CREAT;

function readAt(fd: number, position: number, length: number): Buffer {
  const b = Buffer.alloc(length);
  readSync(fd, b, 0, length, position);
  return b;
}
const COMPACT_CHUNK = 5000;

/** Reads a journal; a missing file is an empty one. A last line cut short by
 * a crash during its append is dropped (it was never acknowledged). */
export function readJournal(path: string): JournalContents {
  const records = new Map<string, { record: TunnelRecord; line: number }>();
  const deleted = new Set<string>();
  if (!existsSync(path)) return { records, deleted, lines: 0, validBytes: 0 };
  const fd = openRegularFile(path, constants.O_RDONLY);
  let bytes: Buffer;
  try {
    bytes = readFileSync(fd);
  } finally {
    closeSync(fd);
  }
  const validBytes = bytes.lastIndexOf(0x0a) + 1;
  const lines = bytes.toString('utf8', 0, validBytes).split('\n');
  let count = 0;
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i];
    if (raw === '') continue;
    count++;
    const line = parseLine(path, i + 1, raw);
    if (line.op === 'put') {
      records.set(line.tunnel.name, { record: line.tunnel, line: i + 1 });
      deleted.delete(line.tunnel.name);
    } else {
      records.delete(line.name);
      deleted.add(line.name);
    }
  }
  return { records, deleted, lines: count, validBytes };
}

function parseLine(path: string, number: number, raw: string): JournalLine {
  let line: JournalLine;
  try {
    line = JSON.parse(raw) as JournalLine;
  } catch {
    throw new JournalError(path, number, 'not a JSON journal record');
  }
  const ok = (line?.op === 'put' && line.tunnel !== null && typeof line.tunnel === 'object' && typeof line.tunnel.name === 'string')
    || (line?.op === 'del' && typeof line.name === 'string');
  if (!ok) throw new JournalError(path, number, 'expected {"op":"put","tunnel":{…}} or {"op":"del","name":…}');
  return line;
}

export class TunnelJournal {
  private fd: number;
  private lines: number;
  private live: number;
  /** The file (inode) and how far into it this journal has read or written. */
  private ino: number;
  private offset = 0;
  /** Hash of the bytes before offset: what a tail must follow. */
  private prefix: Hash = createHash('sha256');

  /** Opens path for appending (creating it, mode 0600) where readJournal left off. */
  constructor(readonly path: string, at: JournalPosition) {
    this.fd = openRegularFile(path, APPEND);
    this.lines = at.lines;
    this.live = at.live;
    // A torn last line is cut off, so that the next append starts a line.
    const st = fstatSync(this.fd);
    if (st.size > at.validBytes) ftruncateSync(this.fd, at.validBytes);
    this.ino = st.ino;
    this.moveTo(at.validBytes);
  }

  /** Continues at offset (further on in the same file, or in a new one from 0). */
  private moveTo(offset: number, newFile = false): void {
    if (newFile) {
      this.offset = 0;
      this.prefix = createHash('sha256');
    }
    this.prefix.update(readAt(this.fd, this.offset, offset - this.offset));
    this.offset = offset;
  }

  /** Appends one line and makes it durable before returning. */
  private append(line: JournalLine): void {
    const text = JSON.stringify(line) + '\n';
    // Lines another writer appended and nobody has read yet stay unread (the
    // next readAppended returns them, and this line again after them).
    const unread = fstatSync(this.fd).size !== this.offset;
    writeSync(this.fd, text);
    fsyncSync(this.fd);
    if (unread) return;
    this.lines++;
    this.prefix.update(text);
    this.offset += Buffer.byteLength(text);
  }

  /** What another writer appended since this journal last read or wrote, or
   * null when the file was replaced or cut short (only a whole read can tell
   * what it holds then). Nothing is taken as read until `advance`. */
  readAppended(): JournalTail | null {
    let st;
    try {
      st = statSync(this.path);
    } catch {
      return null;
    }
    if (st.ino !== this.ino || st.size < this.offset) return null;
    // The bytes before the tail as well: if they changed, the file was
    // edited in place, not appended to (a read and a hash, no parsing).
    const all = readAt(this.fd, 0, st.size);
    if (!createHash('sha256').update(all.subarray(0, this.offset)).digest().equals(this.prefix.copy().digest())) return null;
    const bytes = all.subarray(this.offset);
    const whole = bytes.lastIndexOf(0x0a) + 1;
    const lines: JournalTail['lines'] = [];
    let number = this.lines;
    for (const raw of bytes.toString('utf8', 0, whole).split('\n')) {
      if (raw === '') continue;
      number++;
      lines.push({ line: parseLine(this.path, number, raw), number });
    }
    return { lines, end: this.offset + whole };
  }

  /** The tail was applied: continue after it, with `liveChange` tunnels more (or fewer). */
  advance(tail: JournalTail, liveChange: number): void {
    this.moveTo(tail.end);
    this.lines += tail.lines.length;
    this.live += liveChange;
  }

  /** Makes the journal the user's that sixtun drops to: it writes the
   * journal from then on, compaction included, and reads it on SIGHUP. */
  giveTo(uid: number, gid: number): void {
    fchownSync(this.fd, uid, gid);
  }

  put(record: TunnelRecord, isNew: boolean): void {
    this.append({ op: 'put', tunnel: record });
    if (isNew) this.live++;
  }

  remove(name: string): void {
    this.append({ op: 'del', name });
    this.live--;
  }

  get needsCompaction(): boolean {
    return this.lines >= COMPACT_MIN_LINES && this.lines > 2 * this.live;
  }

  /** Rewrites the journal as one put per live record: written to a new file a
   * chunk at a time (yielding between chunks), fsynced, renamed over the old
   * one. Callers run no put/remove meanwhile (changes are serialized).
   * Returns false, leaving the journal as it was, when another writer's
   * lines are waiting to be read. */
  async compact(records: Iterable<TunnelRecord>): Promise<boolean> {
    const tmp = `${this.path}.compact-${process.pid}`;
    const out = await openAsync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    let n = 0;
    try {
      let chunk: string[] = [];
      for (const record of records) {
        chunk.push(JSON.stringify({ op: 'put', tunnel: record }));
        n++;
        if (chunk.length === COMPACT_CHUNK) {
          await out.write(chunk.join('\n') + '\n');
          chunk = [];
        }
      }
      if (chunk.length > 0) await out.write(chunk.join('\n') + '\n');
      await out.sync();
    } finally {
      await out.close();
    }
    // Lines another writer appended meanwhile would be lost with the old file: not now.
    if (statSync(this.path).size !== this.offset) {
      rmSync(tmp, { force: true });
      return false;
    }
    renameSync(tmp, this.path);
    syncDirectoryOf(this.path);
    closeSync(this.fd);
    this.fd = openRegularFile(this.path, APPEND);
    const st = fstatSync(this.fd);
    this.ino = st.ino;
    this.moveTo(st.size, true);
    this.lines = n;
    this.live = n;
    return true;
  }

  close(): void {
    closeSync(this.fd);
  }
}
