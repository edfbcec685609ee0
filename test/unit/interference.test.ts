// Detection of the kernel's own protocol-41 handling. This machine's kernel
// has no sit, so a fake /sys tree stands in (no namespace can load a module).
import { describe, expect, it } from 'vitest';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kernelInterference } from '../../src/control/daemon.js';

describe('kernel protocol-41 interference', () => {
  it('reports sit/tunnel4 modules and a sit0 device, and nothing on a clean kernel', () => {
    const root = mkdtempSync(join(tmpdir(), 'sixtun-sys-'));
    try {
      expect(kernelInterference(root)).toEqual([]);
      mkdirSync(join(root, 'module', 'tunnel4'), { recursive: true });
      mkdirSync(join(root, 'module', 'sit'), { recursive: true });
      mkdirSync(join(root, 'class', 'net', 'sit0'), { recursive: true });
      expect(kernelInterference(root)).toEqual(['kernel module sit is loaded', 'kernel module tunnel4 is loaded', 'interface sit0 exists']);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
