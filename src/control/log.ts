// Structured, levelled logs to stderr, one logfmt line each:
//   ts=2026-11-26T06:00:00.000Z level=info msg="tunnel added" tunnel=home
// Never called per packet; per-packet conditions are counters.
export type Level = 'debug' | 'info' | 'warn' | 'error';
const RANK: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

function value(v: unknown): string {
  if (typeof v !== 'string') return JSON.stringify(v) ?? 'null';
  return /^[\w.:/@+-]+$/.test(v) ? v : JSON.stringify(v);
}

export class Logger {
  constructor(private level: Level = 'info', private readonly write: (line: string) => void = (l) => process.stderr.write(l)) {}

  setLevel(level: Level): void {
    this.level = level;
  }

  log(level: Level, msg: string, fields: Record<string, unknown> = {}): void {
    if (RANK[level] < RANK[this.level]) return;
    let line = `ts=${new Date().toISOString()} level=${level} msg=${JSON.stringify(msg)}`;
    for (const [k, v] of Object.entries(fields)) if (v !== undefined) line += ` ${k}=${value(v)}`;
    this.write(line + '\n');
  }

  debug(msg: string, fields?: Record<string, unknown>): void { this.log('debug', msg, fields); }
  info(msg: string, fields?: Record<string, unknown>): void { this.log('info', msg, fields); }
  warn(msg: string, fields?: Record<string, unknown>): void { this.log('warn', msg, fields); }
  error(msg: string, fields?: Record<string, unknown>): void { this.log('error', msg, fields); }
}
