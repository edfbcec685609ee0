import { native, type NativeWatchHandle } from './native.js';
import { READABLE } from './constants.js';

/** An fd watched for readiness on this thread's libuv loop (main thread or worker). */
export class Watcher {
  private handle: NativeWatchHandle | null;

  constructor(fd: number, onReady: (events: number, status: number) => void, events = READABLE) {
    this.handle = native.watch(fd, events, onReady);
  }

  get active(): boolean {
    return this.handle !== null;
  }

  stop(): void {
    if (this.handle !== null) {
      native.unwatch(this.handle);
      this.handle = null;
    }
  }
}
