// Network namespace switching for the calling thread (setns(2)). Sockets and
// TUN devices opened while inside belong to that namespace for their lifetime.
import { native } from './native.js';
import { CLONE_NEWNET, O_RDONLY } from './constants.js';

export function netnsPath(name: string): string {
  if (!/^[A-Za-z0-9_.-]+$/.test(name)) throw new RangeError(`bad namespace name: ${name}`);
  return `/run/netns/${name}`;
}

/** Runs fn inside the named namespace (as made by `ip netns add`) and always
 * returns the thread to the namespace it was in. */
export function withNetns<T>(name: string, fn: () => T): T {
  const home = native.open('/proc/thread-self/ns/net', O_RDONLY);
  try {
    const target = native.open(netnsPath(name), O_RDONLY);
    try {
      native.setns(target, CLONE_NEWNET);
    } finally {
      native.close(target);
    }
    try {
      return fn();
    } finally {
      native.setns(home, CLONE_NEWNET);
    }
  } finally {
    native.close(home);
  }
}
