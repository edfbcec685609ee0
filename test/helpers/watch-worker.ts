// Worker-thread half of the watch() test: enters a namespace, opens a raw
// protocol-41 socket there, and reports the first readiness event.
import { parentPort, workerData } from 'node:worker_threads';
import { openRaw4 } from '../../src/sys/raw4.js';
import { withNetns } from '../../src/sys/netns.js';
import { Watcher } from '../../src/sys/watch.js';
import { native } from '../../src/sys/native.js';

const { ns } = workerData as { ns: string };
const fd = withNetns(ns, () => openRaw4({ protocol: 41 }));
const watcher = new Watcher(fd, (events) => {
  watcher.stop();
  native.close(fd);
  parentPort?.postMessage({ fired: true, events });
});
parentPort?.postMessage({ ready: true });
