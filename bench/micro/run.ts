// All micro benchmarks: node --expose-gc dist/bench/micro/run.js
import { benchXmit } from './xmit.js';
import { benchRcv } from './rcv.js';
import { benchChecksum } from './checksum.js';
import { benchLpm } from './lpm.js';
import { benchNdp } from './ndp.js';
import { benchOffload } from './offload.js';
import type { MicroResult } from './harness.js';

const all = async (): Promise<MicroResult[]> =>
  [await benchXmit(), await benchRcv(), ...(await benchChecksum()), ...(await benchLpm()), await benchNdp(), ...(await benchOffload())];
// A first pass settles V8's optimizations of the helpers the functions share
// (a helper optimized for one caller's data is deoptimized by the next
// caller's, and allocates until it is optimized again); the second is reported.
await all();
const results = await all();
process.stdout.write('| function | ns per packet | heap bytes per packet | GCs during run |\n|---|---|---|---|\n');
for (const r of results) process.stdout.write(`| ${r.name} | ${r.nsPerPacket.toFixed(1)} | ${r.bytesPerPacket.toFixed(2)} | ${r.gcs} |\n`);
