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
import { closeSync, existsSync, fstatSync, fsyncSync, ftruncateSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { open as openAsync } from 'node:fs/promises';
import { syncDirectoryOf } from '../sys/durable.js';

export interface TunnelRecord {
  name: string;
  client_ipv4: string;
  server_ipv6: string;
  client_ipv6: string;
  routed_prefixes?: string[];
  user?: string;
  update_key_hash?: string;
}

type Line = { op: 'put'; tunnel: TunnelRecord } | { op: 'del'; name: string };

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

const COMPACT_MIN_LINES = 1000;
const COMPACT_CHUNK = 5000;

/** Reads a journal; a missing file is an empty one. A last line cut short by
 * a crash during its append is dropped (it was never acknowledged). */
export function readJournal(path: string): JournalContents {
  const records = new Map<string, { record: TunnelRecord; line: number }>();
  const deleted = new Set<string>();
  if (!existsSync(path)) return { records, deleted, lines: 0, validBytes: 0 };
  const bytes = readFileSync(path);
  const validBytes = bytes.lastIndexOf(0x0a) + 1;
  const lines = bytes.toString('utf8', 0, validBytes).split('\n');
  let count = 0;
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i];
    if (raw === '') continue;
    count++;
    let line: Line;
    try {
      line = JSON.parse(raw) as Line;
    } catch {
      throw new JournalError(path, i + 1, 'not a JSON journal record');
    }
    if (line?.op === 'put' && line.tunnel !== null && typeof line.tunnel === 'object' && typeof line.tunnel.name === 'string') {
      records.set(line.tunnel.name, { record: line.tunnel, line: i + 1 });
      deleted.delete(line.tunnel.name);
    } else if (line?.op === 'del' && typeof line.name === 'string') {
      records.delete(line.name);
      deleted.add(line.name);
    } else {
      throw new JournalError(path, i + 1, 'expected {"op":"put","tunnel":{…}} or {"op":"del","name":…}');
    }
  }
  return { records, deleted, lines: count, validBytes };
}

export class TunnelJournal {
  private fd: number;
  private lines: number;
  private live: number;

  /** Opens path for appending (creating it, mode 0600) after readJournal. */
  constructor(readonly path: string, contents: JournalContents) {
    this.fd = openSync(path, 'a', 0o600);
    this.lines = contents.lines;
    this.live = contents.records.size;
    // A torn last line is cut off, so that the next append starts a line.
    if (fstatSync(this.fd).size > contents.validBytes) ftruncateSync(this.fd, contents.validBytes);
  }

  /** Appends one line and makes it durable before returning. */
  private append(line: Line): void {
    writeSync(this.fd, JSON.stringify(line) + '\n');
    fsyncSync(this.fd);
    this.lines++;
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
   * one. Callers run no put/remove meanwhile (changes are serialized). */
  async compact(records: Iterable<TunnelRecord>): Promise<void> {
    const tmp = `${this.path}.compact-${process.pid}`;
    const out = await openAsync(tmp, 'w', 0o600);
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
    renameSync(tmp, this.path);
    syncDirectoryOf(this.path);
    closeSync(this.fd);
    this.fd = openSync(this.path, 'a', 0o600);
    this.lines = n;
    this.live = n;
  }

  close(): void {
    closeSync(this.fd);
  }
}
