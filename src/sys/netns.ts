// Network namespace switching for the calling thread (setns(2)). Sockets and
// TUN devices opened while inside belong to that namespace for their lifetime.
import { native } from './native.js';
import { CLONE_NEWNET, O_RDONLY } from './constants.js';

export function netnsPath(name: string): string {
  if (!/^[A-Za-z0-9_.-]+$/.test(name)) throw new RangeError(`bad namespace name: ${name}`);
  return `/run/netns/${name}`;
}

/** Moves the calling thread into the namespace made by `ip netns add NAME`
 * until the returned function is called. Sysctl writes through /proc follow
 * the thread's namespace too. */
export function enterNetns(name: string): () => void {
  const home = native.open('/proc/thread-self/ns/net', O_RDONLY);
  let target = -1;
  try {
    target = native.open(netnsPath(name), O_RDONLY);
    native.setns(target, CLONE_NEWNET);
  } catch (e) {
    native.close(home);
    throw e;
  } finally {
    if (target >= 0) native.close(target);
  }
  return () => {
    try {
      native.setns(home, CLONE_NEWNET);
    } finally {
      native.close(home);
    }
  };
}

/** Runs fn inside the named namespace and always returns the thread to where it was. */
export function withNetns<T>(name: string, fn: () => T): T {
  const leave = enterNetns(name);
  try {
    return fn();
  } finally {
    leave();
  }
}
