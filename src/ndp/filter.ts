// The classic BPF program for the NDP listener: IPv6 → ICMPv6 → type 135
// (Neighbor Solicitation) on an Ethernet frame. Written out instruction by
// instruction so a test can run it (test/unit/ndp.test.ts interprets it).
import type { BpfInsn } from '../sys/packet.js';
import { ETH_HEADER_LEN, ETH_TYPE, ETHERTYPE_IPV6 } from '../wire/ethernet.js';
import { IPV6_HEADER_LEN, IPV6_NEXT_HEADER, NEXT_HEADER_ICMPV6 } from '../wire/ipv6.js';
import { ICMPV6_NEIGHBOR_SOLICITATION } from '../wire/icmpv6.js';

// linux/filter.h opcodes
export const BPF_LD_H_ABS = 0x28;
export const BPF_LD_B_ABS = 0x30;
export const BPF_JEQ_K = 0x15;
export const BPF_RET_K = 0x06;

/** Accept the whole frame (up to 64 KiB) or nothing. */
const ACCEPT = 0x40000;

export const NS_FILTER: readonly BpfInsn[] = [
  { code: BPF_LD_H_ABS, jt: 0, jf: 0, k: ETH_TYPE },
  { code: BPF_JEQ_K, jt: 0, jf: 5, k: ETHERTYPE_IPV6 },
  { code: BPF_LD_B_ABS, jt: 0, jf: 0, k: ETH_HEADER_LEN + IPV6_NEXT_HEADER },
  { code: BPF_JEQ_K, jt: 0, jf: 3, k: NEXT_HEADER_ICMPV6 },
  { code: BPF_LD_B_ABS, jt: 0, jf: 0, k: ETH_HEADER_LEN + IPV6_HEADER_LEN },
  { code: BPF_JEQ_K, jt: 0, jf: 1, k: ICMPV6_NEIGHBOR_SOLICITATION },
  { code: BPF_RET_K, jt: 0, jf: 0, k: ACCEPT },
  { code: BPF_RET_K, jt: 0, jf: 0, k: 0 },
];

/** A minimal interpreter for the opcodes above: how many bytes the kernel
 * would accept for this frame (0 = dropped). For tests and documentation. */
export function runFilter(program: readonly BpfInsn[], frame: Uint8Array): number {
  let a = 0;
  for (let pc = 0; pc < program.length; pc++) {
    const i = program[pc];
    switch (i.code) {
      case BPF_LD_H_ABS:
        if (i.k + 2 > frame.length) return 0;
        a = (frame[i.k] << 8) | frame[i.k + 1];
        break;
      case BPF_LD_B_ABS:
        if (i.k + 1 > frame.length) return 0;
        a = frame[i.k];
        break;
      case BPF_JEQ_K:
        pc += a === i.k ? i.jt : i.jf;
        break;
      case BPF_RET_K:
        return Math.min(i.k, frame.length);
      default:
        throw new Error(`unsupported BPF opcode ${i.code}`);
    }
  }
  return 0;
}
