// The Internet checksum over a 20-byte header and a 1280-byte packet in
// TypeScript, and the native sums the offload code uses (one call per packet,
// and one call per batch of 64); payload moves of 1420 bytes (a TCP segment's)
// with TypedArray.copyWithin per packet and with native copyBatch per batch.
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
  const area = new Uint8Array(64 * 2048 + 64 * 1420);
  const from = new Int32Array(64).map((_, i) => 64 * 2048 + i * 1420);
  const to = new Int32Array(64).map((_, i) => i * 2048 + 80);
  const moveLengths = new Int32Array(64).fill(1420);
  const each = await measure('payload move (1420 B), copyWithin per packet', 64, 20_000, () => {
    for (let i = 0; i < 64; i++) area.copyWithin(to[i], from[i], from[i] + 1420);
  });
  const moves = await measure('payload move (64 × 1420 B), native copyBatch per batch', 64, 20_000, () => { native.copyBatch(area, from, to, moveLengths, 64); });
  if (sink === 0x12345) process.stdout.write('');
  return [small, big, one, batch, each, moves];
}
