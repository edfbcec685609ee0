// Files root acts on: the configuration must be root's alone (the file, its
// directories, where a symlink leads); write-back keeps mode and owner and
// never follows a symlink left at its temporary name; the journal is opened
// only as a regular file with one link. Needs root (to own files as others).
import { afterAll, expect, it } from 'vitest';
import { chmodSync, chownSync, constants, linkSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeRoot } from '../support/root.js';
import { writableByOthers } from '../../src/control/preflight.js';
import { openRegularFile, writeAtomically } from '../../src/sys/durable.js';

const UID = 60123;

describeRoot('files root acts on', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sixtun-trust-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('a configuration is trusted only when no one but root can change it, or the directories above it', () => {
    const etc = join(dir, 'etc');
    mkdirSync(etc, { mode: 0o755 });
    const file = join(etc, 'server.yaml');
    writeFileSync(file, 'mode: server\n', { mode: 0o644 });
    expect(writableByOthers(file)).toBeNull();
    chownSync(file, UID, 0);
    expect(writableByOthers(file)).toBe(`${file} is owned by uid ${UID}`);
    chownSync(file, 0, UID);
    chmodSync(file, 0o664);
    expect(writableByOthers(file)).toBe(`${file} is writable by group ${UID}`);
    chmodSync(file, 0o644);
    chmodSync(etc, 0o777);
    expect(writableByOthers(file)).toBe(`${etc} is writable by everyone`);
    // Sticky, as /tmp: others cannot replace root's entries.
    chmodSync(etc, 0o1777);
    expect(writableByOthers(file)).toBeNull();
    chmodSync(etc, 0o755);
    // Through a symlink into a directory of another user's.
    const theirs = join(dir, 'theirs');
    mkdirSync(theirs, { mode: 0o755 });
    writeFileSync(join(theirs, 'x.yaml'), 'mode: server\n');
    chownSync(theirs, UID, UID);
    symlinkSync(join(theirs, 'x.yaml'), join(etc, 'linked.yaml'));
    expect(writableByOthers(join(etc, 'linked.yaml'))).toBe(`${theirs} is owned by uid ${UID}`);
  });

  it('write-back keeps the mode and owner, and never follows a symlink at its temporary name', () => {
    const file = join(dir, 'kept.yaml');
    writeFileSync(file, 'old\n');
    chownSync(file, 0, UID);
    chmodSync(file, 0o640);
    writeAtomically(file, 'new\n');
    const st = statSync(file);
    expect([readFileSync(file, 'utf8'), st.uid, st.gid, st.mode & 0o7777]).toEqual(['new\n', 0, UID, 0o640]);
    const victim = join(dir, 'victim');
    writeFileSync(victim, 'untouched\n');
    symlinkSync(victim, `${file}.tmp-${process.pid}`);
    expect(() => writeAtomically(file, 'newer\n')).toThrow(/EEXIST/);
    expect(readFileSync(victim, 'utf8')).toBe('untouched\n');
    expect(readFileSync(file, 'utf8')).toBe('new\n');
  });

  it('the journal is opened only as a regular file with one link, never through a symlink', () => {
    const target = join(dir, 'target');
    writeFileSync(target, '');
    symlinkSync(target, join(dir, 'sym.jsonl'));
    expect(() => openRegularFile(join(dir, 'sym.jsonl'), constants.O_RDONLY)).toThrow(/ELOOP/);
    linkSync(target, join(dir, 'hard.jsonl'));
    expect(() => openRegularFile(join(dir, 'hard.jsonl'), constants.O_RDONLY)).toThrow(/linked 2 times/);
    expect(() => openRegularFile('/dev/null', constants.O_RDONLY)).toThrow(/not a regular file/);
  });
});
