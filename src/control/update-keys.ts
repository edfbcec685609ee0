// Per-tunnel update keys: shown once when made, stored only as an scrypt hash
// ("scrypt$N$r$p$salt$hash", base64url), checked in constant time.
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

const N = 16384;
const R = 8;
const P = 1;
const KEY_LEN = 32;

function derive(key: string, salt: Buffer, n: number, r: number, p: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    // Asynchronous: on the threadpool, so a flood of guesses never stalls forwarding.
    scrypt(key, salt, KEY_LEN, { N: n, r, p, maxmem: 64 * 1024 * 1024 }, (err, out) => (err ? reject(err) : resolve(out)));
  });
}

/** 24 random bytes, base64url; never with a leading '-' (1 key in 64): that
 * reads as an option on a command line (`sixtun export --key KEY`, getopt). */
export function randomKey(): string {
  let key: string;
  do key = randomBytes(24).toString('base64url'); while (key.startsWith('-'));
  return key;
}

/** A new random key and its hash for the configuration. */
export async function makeUpdateKey(): Promise<{ key: string; hash: string }> {
  const key = randomKey();
  const salt = randomBytes(16);
  const hash = await derive(key, salt, N, R, P);
  return { key, hash: `scrypt$${N}$${R}$${P}$${salt.toString('base64url')}$${hash.toString('base64url')}` };
}

export async function verifyUpdateKey(key: string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [n, r, p] = parts.slice(1, 4).map(Number);
  const salt = Buffer.from(parts[4], 'base64url');
  const want = Buffer.from(parts[5], 'base64url');
  if (!(n >= 1024 && n <= 1 << 20) || !(r >= 1 && r <= 32) || !(p >= 1 && p <= 16) || want.length !== KEY_LEN) return false;
  const got = await derive(key, salt, n, r, p);
  return timingSafeEqual(got, want);
}
