// The tunnel journal: appends, deletions, a torn last line, compaction, and a
// configuration that takes its tunnels from the file and the journal.
import { afterAll, describe, expect, it } from 'vitest';
import { appendFileSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TunnelJournal, positionOf, readJournal, type TunnelRecord } from '../../src/store/journal.js';
import { ConfigError, loadConfig, type ServerConfig } from '../../src/config/config.js';

const dir = mkdtempSync(join(tmpdir(), 'sixtun-journal-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const rec = (i: number): TunnelRecord => ({ name: `t${i}`, client_ipv4: `198.51.100.${i + 2}`, server_ipv6: `2001:db8:ff::${(2 * i).toString(16)}/127`, client_ipv6: `2001:db8:ff::${(2 * i + 1).toString(16)}` });

describe('tunnel journal', () => {
  it('puts, replaces and deletes, line by line; a torn last line is dropped and cut off', () => {
    const path = join(dir, 'a.jsonl');
    const j = new TunnelJournal(path, positionOf(readJournal(path)));
    j.put(rec(1), true);
    j.put(rec(2), true);
    j.put({ ...rec(1), client_ipv4: '198.51.100.99' }, false);
    j.remove('t2');
    j.close();
    appendFileSync(path, '{"op":"put","tunnel":{"name":"t3"');
    const c = readJournal(path);
    expect([...c.records.keys()]).toEqual(['t1']);
    expect(c.records.get('t1')).toEqual({ record: { ...rec(1), client_ipv4: '198.51.100.99' }, line: 3 });
    expect([...c.deleted]).toEqual(['t2']);
    expect(c.lines).toBe(4);
    const again = new TunnelJournal(path, positionOf(c));
    again.put(rec(4), true);
    again.close();
    expect(readFileSync(path, 'utf8').split('\n').slice(-2)).toEqual([JSON.stringify({ op: 'put', tunnel: rec(4) }), '']);
  });

  it('a line that is not a record is an error naming file and line', () => {
    const path = join(dir, 'b.jsonl');
    writeFileSync(path, `${JSON.stringify({ op: 'put', tunnel: rec(1) })}\nhello\n`);
    expect(() => readJournal(path)).toThrow(`${path}:2: not a JSON journal record`);
  });

  it('compacts to one put per live tunnel once most lines are dead', async () => {
    const path = join(dir, 'c.jsonl');
    const j = new TunnelJournal(path, positionOf(readJournal(path)));
    for (let i = 0; i < 600; i++) {
      j.put(rec(i % 50), i < 50);
      if (i % 50 === 49 && i < 550) for (let k = 0; k < 50; k++) j.remove(`t${k}`), j.put(rec(k), true);
    }
    expect(j.needsCompaction).toBe(true);
    const live = [...readJournal(path).records.values()].map((x) => x.record);
    await j.compact(live);
    expect(j.needsCompaction).toBe(false);
    j.put(rec(99), true);
    j.close();
    const c = readJournal(path);
    expect(c.lines).toBe(51);
    expect([...c.records.values()].map((x) => x.record)).toEqual([...live, rec(99)]);
  });

  it('reads what another writer appended, and only that; an edit in place, a replacement or a cut is no tail', async () => {
    const path = join(dir, 'tail.jsonl');
    const put = (i: number): string => `${JSON.stringify({ op: 'put', tunnel: rec(i) })}\n`;
    writeFileSync(path, put(1));
    const j = new TunnelJournal(path, positionOf(readJournal(path)));
    expect(j.readAppended()).toEqual({ lines: [], end: put(1).length });
    j.put(rec(2), true);
    appendFileSync(path, put(3) + JSON.stringify({ op: 'del', name: 't1' }) + '\n{"op":"put"');
    const tail = j.readAppended()!;
    // Numbered as lines of the file; the torn last line is not read yet.
    expect(tail.lines).toEqual([{ line: { op: 'put', tunnel: rec(3) }, number: 3 }, { line: { op: 'del', name: 't1' }, number: 4 }]);
    // Nothing is taken as read before advance.
    expect(j.readAppended()).toEqual(tail);
    j.advance(tail, 0);
    expect(j.readAppended()!.lines).toEqual([]);
    // Our own append after an unread foreign line: both come back, in order.
    appendFileSync(path, ',"tunnel":' + JSON.stringify(rec(5)) + '}\n');
    j.put(rec(6), true);
    expect(j.readAppended()!.lines.map((l) => l.line.op === 'put' && l.line.tunnel.name)).toEqual(['t5', 't6']);
    // Compaction would lose the unread lines: it waits.
    expect(await j.compact([rec(2)])).toBe(false);
    expect(readFileSync(path, 'utf8')).toContain('"t5"');
    j.advance(j.readAppended()!, 2);
    // An edit in place before the read position: no tail, a whole read is needed.
    const text = readFileSync(path, 'utf8');
    writeFileSync(path, text.replace('"t2"', '"t9"') + put(7));
    expect(j.readAppended()).toBeNull();
    writeFileSync(path, text + put(7));
    expect(j.readAppended()!.lines.map((l) => l.number)).toEqual([7]);
    // Cut short, or replaced by another file: no tail either.
    writeFileSync(path, put(1));
    expect(j.readAppended()).toBeNull();
    writeFileSync(`${path}.new`, text + put(7));
    renameSync(`${path}.new`, path);
    expect(j.readAppended()).toBeNull();
    j.close();
  });

  it('a bad line in a tail is an error naming the file and its line', () => {
    const path = join(dir, 'tail-bad.jsonl');
    writeFileSync(path, `${JSON.stringify({ op: 'put', tunnel: rec(1) })}\n`);
    const j = new TunnelJournal(path, positionOf(readJournal(path)));
    appendFileSync(path, '{"op":"rename"}\n');
    expect(() => j.readAppended()).toThrow(`${path}:2: expected {"op":"put","tunnel":{…}} or {"op":"del","name":…}`);
    j.close();
  });

  it('the configuration takes the file’s tunnels, then the journal’s changes on top', () => {
    const journal = join(dir, 'd.jsonl');
    const file = join(dir, 'd.yaml');
    writeFileSync(file, `mode: server\nendpoint_ranges: [documentation]\nlocal_ipv4: 203.0.113.1\nndp: off\ntunnel_journal: ${journal}\ntunnels:\n  - name: t1\n    client_ipv4: 198.51.100.3\n    server_ipv6: 2001:db8:ff::2/127\n    client_ipv6: 2001:db8:ff::3\n  - name: t2\n    client_ipv4: 198.51.100.4\n    server_ipv6: 2001:db8:ff::4/127\n    client_ipv6: 2001:db8:ff::5\n`);
    writeFileSync(journal, [{ op: 'put', tunnel: { ...rec(1), client_ipv4: '198.51.100.50' } }, { op: 'del', name: 't2' }, { op: 'put', tunnel: rec(3) }].map((l) => JSON.stringify(l) + '\n').join(''));
    const cfg = loadConfig(file) as ServerConfig;
    expect(cfg.tunnels.map((t) => [t.name, t.clientIpv4])).toEqual([['t1', '198.51.100.50'], ['t3', '198.51.100.5']]);
    // A bad record and a conflict name the journal's line.
    appendFileSync(journal, JSON.stringify({ op: 'put', tunnel: { ...rec(4), client_ipv4: 'nope' } }) + '\n');
    appendFileSync(journal, JSON.stringify({ op: 'put', tunnel: { ...rec(5), client_ipv4: '198.51.100.50' } }) + '\n');
    let e: ConfigError | null = null;
    try {
      loadConfig(file);
    } catch (x) {
      e = x as ConfigError;
    }
    // Both at once: the bad record hides not the conflict after it.
    expect(e?.message.split('\n')).toEqual([
      `${journal}: 2 errors:`,
      `  ${journal}:4: tunnels.t4.client_ipv4: expected an IPv4 address such as 203.0.113.1, got "nope"`,
      `  ${journal}:5: tunnels.t5.client_ipv4: duplicate remote IPv4 198.51.100.50 (also tunnel t1: client_ipv4)`,
    ]);
    writeFileSync(journal, readFileSync(journal, 'utf8').split('\n').filter((l) => !l.includes('nope')).join('\n'));
    expect(() => loadConfig(file)).toThrow(`${journal}:4: tunnels.t5.client_ipv4: duplicate remote IPv4 198.51.100.50 (also tunnel t1: client_ipv4)`);
  });
});
