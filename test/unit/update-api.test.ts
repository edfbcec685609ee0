// The update API under abuse, without sockets: a stranger's wrong keys cost
// the stranger alone, an unknown tunnel or user costs a key check like a
// wrong key, the owner's own budget is separate, and key checks run at most
// MAX_CHECKS at once.
import { describe, expect, it } from 'vitest';
import type { IncomingMessage } from 'node:http';
import { MAX_CHECKS, UpdateApi, type UpdateBackend } from '../../src/control/update-api.js';
import { randomKey } from '../../src/control/update-keys.js';
import { ENDPOINT_RANGE_CLASSES, endpointProblem, type EndpointRangeClass } from '../../src/config/endpoint.js';
import { echoRequest } from '../../src/control/echo-check.js';
import { checksum } from '../../src/wire/checksum.js';

const OWNER = '198.51.100.20';
const STRANGER = '203.0.113.66';

function backend(): UpdateBackend & { applied: string[] } {
  const applied: string[] = [];
  return {
    applied,
    lookup: (name) => (name === 'home' ? { user: 'alice', keyHash: 'scrypt$right', currentIpv4: '198.51.100.2' } : null),
    refuse: async () => null,
    apply: async (_name, ip) => { applied.push(ip); },
    log: () => undefined,
  };
}

function request(from: string, user: string, key: string, hostname = 'home', myip = '198.51.100.30'): IncomingMessage {
  const auth = `Basic ${Buffer.from(`${user}:${key}`).toString('base64')}`;
  return { method: 'GET', url: `/nic/update?hostname=${hostname}&myip=${myip}`, headers: { authorization: auth }, socket: { remoteAddress: from } } as unknown as IncomingMessage;
}

/** A key check that records what it was asked and accepts "right" for "scrypt$right". */
function counted(): { verify: (key: string, hash: string) => Promise<boolean>; calls: Array<[string, string]> } {
  const calls: Array<[string, string]> = [];
  return { calls, verify: async (key, hash) => { calls.push([key, hash]); return hash === 'scrypt$right' && key === 'right'; } };
}

describe('update API under abuse', () => {
  it('a stranger guessing keys is cut off after the burst, without further key checks, and the owner still gets good', async () => {
    const v = counted();
    const api = new UpdateApi(backend(), { burst: 5, perSecond: 0, verify: v.verify, endpointRanges: ['documentation'] });
    const answers: string[] = [];
    for (let i = 0; i < 20; i++) answers.push(await api.answer(request(STRANGER, 'alice', `guess${i}`)));
    expect(answers).toEqual([...Array(5).fill('badauth'), ...Array(15).fill('abuse')]);
    expect(v.calls).toHaveLength(5);
    expect(await api.answer(request(OWNER, 'alice', 'right'))).toBe('good 198.51.100.30');
  });

  it('a new endpoint that does not answer ICMP echo is not taken; nochg asks nothing', async () => {
    const asked: string[] = [];
    const b = { ...backend(), reachable: async (ip: string) => { asked.push(ip); return ip !== '198.51.100.99'; } };
    const v = counted();
    const api = new UpdateApi(b, { burst: 5, perSecond: 0, verify: v.verify, endpointRanges: ['documentation'] });
    expect(await api.answer(request(OWNER, 'alice', 'right', 'home', '198.51.100.99'))).toBe('badip 198.51.100.99');
    expect(await api.answer(request(OWNER, 'alice', 'right', 'home', '198.51.100.2'))).toBe('nochg 198.51.100.2');
    expect(await api.answer(request(OWNER, 'alice', 'right', 'home', '198.51.100.30'))).toBe('good 198.51.100.30');
    expect([asked, b.applied]).toEqual([['198.51.100.99', '198.51.100.30'], ['198.51.100.30']]);
  });

  it('takes the credentials in the query too (Tunnel Broker’s username=&password= form, for routers such as a FRITZ!Box)', async () => {
    const v = counted();
    const api = new UpdateApi(backend(), { burst: 5, perSecond: 0, verify: v.verify, endpointRanges: ['documentation'] });
    const inQuery = (user: string, key: string): IncomingMessage => ({
      method: 'GET', url: `/nic/update?username=${user}&password=${key}&hostname=home&myip=198.51.100.30`, headers: {}, socket: { remoteAddress: OWNER },
    }) as unknown as IncomingMessage;
    expect(await api.answer(inQuery('alice', 'wrong'))).toBe('badauth');
    expect(await api.answer(inQuery('alice', 'right'))).toBe('good 198.51.100.30');
    expect(v.calls.map(([key]) => key)).toEqual(['wrong', 'right']);
  });

  it('Echo Requests carry a checksum the receiver verifies (RFC 792, RFC 1071)', () => {
    const m = echoRequest(0xbeef, 0x0102, new Uint8Array(16).fill(7));
    expect([...m.subarray(0, 8)].slice(0, 2)).toEqual([8, 0]);
    expect([m[4], m[5], m[6], m[7]]).toEqual([0xbe, 0xef, 0x01, 0x02]);
    expect(checksum(m, 0, m.length)).toBe(0);
  });

  it('an unknown tunnel or user costs one key check, like a wrong key (no timing tells which exist)', async () => {
    const v = counted();
    const api = new UpdateApi(backend(), { burst: 5, perSecond: 0, verify: v.verify, endpointRanges: ['documentation'] });
    expect(await api.answer(request(STRANGER, 'alice', 'right', 'nosuch'))).toBe('nohost');
    expect(await api.answer(request(STRANGER, 'mallory', 'right'))).toBe('badauth');
    expect(await api.answer(request(STRANGER, 'alice', 'wrong'))).toBe('badauth');
    expect(v.calls.map(([, hash]) => hash.startsWith('scrypt$16384$'))).toEqual([true, true, false]);
  });

  it('the owner’s updates have their own budget, which strangers cannot spend', async () => {
    const v = counted();
    const api = new UpdateApi(backend(), { burst: 3, perSecond: 0, verify: v.verify, endpointRanges: ['documentation'] });
    for (let i = 0; i < 10; i++) await api.answer(request(STRANGER, 'alice', 'wrong'));
    const owner: string[] = [];
    for (let i = 0; i < 4; i++) owner.push(await api.answer(request(OWNER, 'alice', 'right', 'home', `198.51.100.${40 + i}`)));
    expect(owner).toEqual(['good 198.51.100.40', 'good 198.51.100.41', 'good 198.51.100.42', 'abuse']);
  });

  it(`runs at most ${MAX_CHECKS} key checks at once and answers 911 beyond, from any number of sources`, async () => {
    let running = 0;
    let most = 0;
    const release: Array<() => void> = [];
    const verify = async (): Promise<boolean> => {
      most = Math.max(most, ++running);
      await new Promise<void>((r) => release.push(r));
      running--;
      return false;
    };
    const api = new UpdateApi(backend(), { burst: 5, perSecond: 0, verify });
    const pending = Array.from({ length: 10 }, (_, i) => api.answer(request(`203.0.113.${100 + i}`, 'alice', 'wrong')));
    await new Promise((r) => setImmediate(r));
    expect(release).toHaveLength(MAX_CHECKS);
    for (const r of release) r();
    const answers = await Promise.all(pending);
    expect(most).toBe(MAX_CHECKS);
    expect(answers.filter((a) => a === 'badauth')).toHaveLength(MAX_CHECKS);
    expect(answers.filter((a) => a === '911')).toHaveLength(10 - MAX_CHECKS);
  });

  it('an update key never starts with "-" (it would read as an option: sixtun export --key KEY)', () => {
    const keys = Array.from({ length: 10_000 }, randomKey);
    expect(keys.filter((k) => k.startsWith('-'))).toEqual([]);
    expect(keys.every((k) => /^[A-Za-z0-9_][A-Za-z0-9_-]{31}$/.test(k))).toBe(true);
  });

  it('one endpoint rule: special-purpose ranges always refused; private, documentation, benchmarking only where endpoint_ranges lists them', () => {
    const always: Array<[string, string]> = [
      ['0.1.2.3', '"this network"'], ['127.0.0.1', 'loopback'], ['169.254.1.1', 'link-local'], ['192.0.0.9', 'IETF protocol'],
      ['192.88.99.1', '6to4'], ['224.0.0.5', 'multicast'], ['239.255.255.255', 'multicast'], ['240.0.0.1', 'reserved'], ['255.255.255.255', 'broadcast'],
    ];
    for (const [ip, why] of always) {
      expect(endpointProblem(ip, ENDPOINT_RANGE_CLASSES), ip).toContain(why);
      expect(endpointProblem(ip, []), ip).toContain(why);
    }
    const byClass: Array<[string, EndpointRangeClass]> = [
      ['10.1.2.3', 'private'], ['100.64.0.1', 'private'], ['172.16.0.1', 'private'], ['172.31.255.255', 'private'], ['192.168.1.1', 'private'],
      ['192.0.2.1', 'documentation'], ['198.51.100.7', 'documentation'], ['203.0.113.9', 'documentation'],
      ['198.18.0.1', 'benchmarking'], ['198.19.255.255', 'benchmarking'],
    ];
    for (const [ip, cls] of byClass) {
      expect(endpointProblem(ip, []), ip).toContain(`allowed only with endpoint_ranges: [${cls}]`);
      expect(endpointProblem(ip, ENDPOINT_RANGE_CLASSES.filter((c) => c !== cls)), ip).not.toBeNull();
      expect(endpointProblem(ip, [cls]), ip).toBeNull();
    }
    for (const ip of ['1.1.1.1', '172.32.0.1', '100.128.0.1', '198.20.0.1', '223.255.255.254', '9.255.255.255']) expect(endpointProblem(ip, []), ip).toBeNull();
  });
});
