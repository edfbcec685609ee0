// A tiny micro-benchmark harness: ns per packet and heap bytes allocated per
// packet, the latter from the heap growth over a run in which no garbage
// collection happened (run with --expose-gc; GCs during the run are counted).
import { PerformanceObserver, performance } from 'node:perf_hooks';

export interface MicroResult {
  name: string;
  packetsPerCall: number;
  nsPerPacket: number;
  bytesPerPacket: number;
  gcs: number;
}

declare const gc: (() => void) | undefined;

function repeat(fn: () => void, times: number): void {
  for (let i = 0; i < times; i++) fn();
}

export async function measure(name: string, packetsPerCall: number, calls: number, fn: () => void): Promise<MicroResult> {
  // Warm up in rounds with pauses: V8 optimizes on a background thread, and
  // code measured before the optimized version is installed allocates.
  // The measured loop is warmed up too: an unoptimized loop around fn
  // allocates by itself.
  for (let round = 0; round < 3; round++) {
    repeat(fn, Math.min(calls, 20_000));
    await new Promise((r) => setTimeout(r, 50));
  }
  // Only collections that start inside the measured window count (the
  // forced one before it is reported asynchronously).
  const starts: number[] = [];
  const obs = new PerformanceObserver((list) => { for (const e of list.getEntries()) starts.push(e.startTime); });
  obs.observe({ entryTypes: ['gc'] });
  if (typeof gc === 'function') gc();
  await new Promise((r) => setTimeout(r, 20));
  const heap0 = process.memoryUsage().heapUsed;
  const w0 = performance.now();
  const t0 = process.hrtime.bigint();
  repeat(fn, calls);
  const t1 = process.hrtime.bigint();
  const w1 = performance.now();
  const heap1 = process.memoryUsage().heapUsed;
  await new Promise((r) => setTimeout(r, 20));
  obs.disconnect();
  const gcs = starts.filter((t) => t >= w0 && t <= w1).length;
  const packets = calls * packetsPerCall;
  return {
    name, packetsPerCall,
    nsPerPacket: Number(t1 - t0) / packets,
    bytesPerPacket: Math.max(0, heap1 - heap0) / packets,
    gcs,
  };
}
