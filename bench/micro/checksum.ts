// The Internet checksum over a 20-byte header and a 1280-byte packet.
import { checksum } from '../../src/wire/checksum.js';
import { measure, type MicroResult } from './harness.js';

export async function benchChecksum(): Promise<MicroResult[]> {
  const buf = new Uint8Array(1280).map((_, i) => (i * 31) & 0xff);
  let sink = 0;
  const small = await measure('checksum (20 B)', 1, 2_000_000, () => { sink ^= checksum(buf, 0, 20); });
  const big = await measure('checksum (1280 B)', 1, 200_000, () => { sink ^= checksum(buf, 0, 1280); });
  if (sink === 0x12345) process.stdout.write('');
  return [small, big];
}
