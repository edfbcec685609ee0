// The profile attribution of the benches (bench/e2e/profile.ts): perf script
// lines go to the process they interrupted, split into user and kernel.
import { describe, expect, it } from 'vitest';
import { attribute, profileMarkdown } from '../../bench/e2e/profile.js';

const script = [
  '       0 ffffffff81e2c1a0 pv_native_safe_halt ([kernel.kallsyms])',
  '       0 ffffffff81e2c1a0 pv_native_safe_halt ([kernel.kallsyms])',
  '    1282 7f9d18005e82 [unknown] (/tmp/perf-1282.map)',
  '    1282 7f9d18005e82 JS:*rcvBatch file:///x/rcv.js:28:25 (/tmp/perf-1282.map)',
  '    1282 7f9d18005e82 JS:*rcvBatch file:///x/rcv.js:28:25 (/tmp/perf-1282.map)',
  '    1282 ffffffff81a00000 tun_get_user ([kernel.kallsyms])',
  '    1300 7f00000000 __libc_write (/usr/lib/libc.so.6)',
  '    1300 ffffffff81a00000 tcp_sendmsg ([kernel.kallsyms])',
  '      77 ffffffff81a00000 worker_thread ([kernel.kallsyms])',
  'perf: some warning that is not a sample',
  '',
].join('\n');

describe('bench profile attribution', () => {
  it('splits samples by process into user and kernel, idle as pid 0, the rest as other', () => {
    const p = attribute(script, new Map([[1282, 'forwarder, server end'], [1300, 'iperf3 sender']]));
    expect(p.samples).toBe(9);
    const row = (who: string) => p.rows.find((r) => r.who === who)!;
    expect(row('forwarder, server end').user).toBeCloseTo((3 / 9) * 100);
    expect(row('forwarder, server end').kernel).toBeCloseTo((1 / 9) * 100);
    expect(row('iperf3 sender').user).toBeCloseTo((1 / 9) * 100);
    expect(row('iperf3 sender').kernel).toBeCloseTo((1 / 9) * 100);
    expect(row('other').kernel).toBeCloseTo((1 / 9) * 100);
    expect(row('idle').kernel).toBeCloseTo((2 / 9) * 100);
    expect(p.rows.map((r) => r.who)).toEqual(['forwarder, server end', 'iperf3 sender', 'other', 'idle']);
    // Only the forwarders' user-space symbols, busiest first.
    expect(p.topUser.map((s) => s.symbol)).toEqual(['JS:*rcvBatch file:///x/rcv.js:28:25 (perf-1282.map)', '[unknown] (perf-1282.map)']);
    expect(profileMarkdown('sixtun', '1 kpps', p)).toMatch(/\| forwarder, server end \| 33\.3 \| 11\.1 \| 44\.4 \|/);
  });

  it('an empty recording gives no rows and no division by zero', () => {
    const p = attribute('', new Map());
    expect(p).toEqual({ samples: 0, rows: [], topUser: [] });
  });
});
