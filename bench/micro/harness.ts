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

export async function measure(name: string, packetsPerCall: number, calls: number, fn: () => void): Promise<MicroResult> {
  for (let i = 0; i < Math.min(calls, 20_000); i++) fn();
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
  for (let i = 0; i < calls; i++) fn();
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
