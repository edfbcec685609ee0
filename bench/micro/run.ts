// All micro benchmarks: node --expose-gc dist/bench/micro/run.js
import { benchXmit } from './xmit.js';
import { benchRcv } from './rcv.js';
import { benchChecksum } from './checksum.js';
import { benchLpm } from './lpm.js';
import { benchNdp } from './ndp.js';
import type { MicroResult } from './harness.js';

const results: MicroResult[] = [await benchXmit(), await benchRcv(), ...(await benchChecksum()), ...(await benchLpm()), await benchNdp()];
process.stdout.write('| function | ns per packet | heap bytes per packet | GCs during run |\n|---|---|---|---|\n');
for (const r of results) process.stdout.write(`| ${r.name} | ${r.nsPerPacket.toFixed(1)} | ${r.bytesPerPacket.toFixed(2)} | ${r.gcs} |\n`);
