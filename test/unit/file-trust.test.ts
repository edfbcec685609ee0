// Files root acts on: the configuration must be root's alone (the file, its
// directories, where a symlink leads); write-back keeps mode and owner and
// never follows a symlink left at its temporary name; the journal is opened
// only as a regular file with one link; the etcd TLS files a configuration
// names are held to the same rule. Needs root (to own files as others).
import { afterAll, expect, it } from 'vitest';
import { chmodSync, chownSync, constants, linkSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeRoot } from '../support/root.js';
import { checkFilesTrusted, writableByOthers } from '../../src/control/preflight.js';
import { parseConfig } from '../../src/config/config.js';
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

  it('a user who may replace the etcd CA, client certificate or key (to choose whom root believes to be etcd) stops the start', () => {
    const etc = join(dir, 'etc-tls');
    mkdirSync(etc, { mode: 0o755 });
    const pem = (name: string): string => {
      const path = join(etc, name);
      writeFileSync(path, '-----BEGIN CERTIFICATE-----\n', { mode: 0o600 });
      return path;
    };
    const [ca, cert, key] = [pem('ca.pem'), pem('client.pem'), pem('client-key.pem')];
    const file = join(etc, 'server.yaml');
    const write = (tls: string): void => writeFileSync(file, `mode: server\nlocal_ipv4: 203.0.113.1\nndp: off\nstore: {etcd: {endpoints: ["https://192.0.2.9:2379"], tls: {${tls}}}}\n`, { mode: 0o600 });
    const check = (): void => checkFilesTrusted(parseConfig(readFileSync(file, 'utf8'), file));
    write(`ca: ${ca}, cert: ${cert}, key: ${key}`);
    expect(check).not.toThrow();
    // The attack: the CA handed to a user, then the key made group-writable, then a directory of theirs.
    chownSync(ca, UID, UID);
    expect(check).toThrow(`${ca} (store.etcd.tls.ca in ${file}): ${ca} is owned by uid ${UID}; sixtun runs as root and believes etcd by it`);
    chownSync(ca, 0, 0);
    chownSync(key, 0, UID);
    chmodSync(key, 0o660);
    expect(check).toThrow(`store.etcd.tls.key in ${file}): ${key} is writable by group ${UID}`);
    chmodSync(key, 0o600);
    const theirs = join(dir, 'theirs-tls');
    mkdirSync(theirs, { mode: 0o755 });
    chownSync(theirs, UID, UID);
    const planted = join(theirs, 'ca.pem');
    writeFileSync(planted, '-----BEGIN CERTIFICATE-----\n');
    write(`ca: ${planted}`);
    expect(check).toThrow(`(store.etcd.tls.ca in ${file}): ${theirs} is owned by uid ${UID}`);
    // A file that is not there is a configuration error naming the field.
    write(`ca: ${join(etc, 'missing.pem')}`);
    expect(check).toThrow(`store.etcd.tls.ca: expected a PEM file: ${join(etc, 'missing.pem')} does not exist`);
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
