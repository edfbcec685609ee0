// Integration tests run as root in namespaces they create. Without root they
// skip, loudly, so a green run without root is never mistaken for coverage.
import { describe, afterAll } from 'vitest';
import { Lab, isRoot } from '../../src/lab/netns.js';

export const rootAvailable = isRoot();

if (!rootAvailable) {
  console.warn('\n*** sixtun: NOT ROOT — integration tests that need namespaces are SKIPPED ***\n');
}

export const describeRoot = rootAvailable ? describe : describe.skip;

/** A Lab torn down after the enclosing suite, pass or fail. */
export function useLab(tag: string): Lab {
  const lab = new Lab(tag);
  afterAll(async () => {
    await lab.cleanup();
  });
  return lab;
}
