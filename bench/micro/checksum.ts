// The Internet checksum over a 20-byte header and a 1280-byte packet in
// TypeScript, and the native sums the offload code uses (one call per packet,
// and one call per batch of 64).
import { checksum } from '../../src/wire/checksum.js';
import { native } from '../../src/sys/native.js';
import { measure, type MicroResult } from './harness.js';

export async function benchChecksum(): Promise<MicroResult[]> {
  const buf = new Uint8Array(1280).map((_, i) => (i * 31) & 0xff);
  let sink = 0;
  const small = await measure('checksum (20 B)', 1, 2_000_000, () => { sink ^= checksum(buf, 0, 20); });
  const big = await measure('checksum (1280 B)', 1, 200_000, () => { sink ^= checksum(buf, 0, 1280); });
  const one = await measure('native sum16 (1280 B), one call per packet', 1, 200_000, () => { sink ^= native.sum16(buf, 0, 1280); });
  const starts = new Int32Array(64);
  const lengths = new Int32Array(64).fill(1280);
  const out = new Int32Array(64);
  const batch = await measure('native sum16Batch (64 × 1280 B), one call per batch', 64, 20_000, () => { native.sum16Batch(buf, starts, lengths, 64, out); });
  if (sink === 0x12345) process.stdout.write('');
  return [small, big, one, batch];
}
