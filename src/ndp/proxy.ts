// The NDP proxy's I/O: an AF_PACKET socket on the external interface with the
// NS filter and all-multicast membership (a raw ICMPv6 socket would never see
// NS sent to solicited-node groups it has not joined). The membership belongs
// to the socket, so the interface's all-multicast state returns to what it
// was when the socket closes, even after SIGKILL.
import { native } from '../sys/native.js';
import { openPacket, encodeBpf } from '../sys/packet.js';
import { Slab } from '../sys/slab.js';
import { Watcher } from '../sys/watch.js';
import { ETH_P_IPV6 } from '../sys/constants.js';
import { SOCKADDR_LL_LEN, sockaddrLl } from '../sys/sockaddr.js';
import { NS_FILTER } from './filter.js';
import type { NdpResponder } from './responder.js';
import type { Tracer } from '../trace/tracer.js';

/** sockaddr_ll.sll_pkttype (byte 10, linux/if_packet.h). */
const SLL_PKTTYPE = 10;
/** A frame to another host's MAC, seen because the interface is promiscuous
 * (a bridge port, a running tcpdump): not for us, as IPv6 input drops it. */
const PACKET_OTHERHOST = 3;
/** Our own host's frames going out. */
const PACKET_OUTGOING = 4;

/** The proxy's socket on the external interface: NS frames only, all-multicast. */
export function openNdpSocket(ifindex: number): number {
  return openPacket({ ifindex, protocol: ETH_P_IPV6, allMulticast: true, filter: encodeBpf(NS_FILTER) });
}

export class NdpProxy {
  private readonly fd: number;
  private readonly watcher: Watcher;
  private readonly rx = new Slab({ slots: 32, slotSize: 2048, nameStride: SOCKADDR_LL_LEN });
  private readonly out = new Uint8Array(256);
  private readonly dest: Uint8Array;
  tracer: Tracer | null = null;

  /** fd: from openNdpSocket, opened by the control thread (the datapath
   * thread that runs this holds no capabilities). */
  constructor(fd: number, readonly ifindex: number, readonly responder: NdpResponder) {
    this.fd = fd;
    this.dest = sockaddrLl(ifindex, ETH_P_IPV6, new Uint8Array(6));
    this.watcher = new Watcher(this.fd, () => this.onReadable());
  }

  private onReadable(): void {
    const rx = this.rx;
    for (let round = 0; round < 8; round++) {
      const n = native.recvBatch(this.fd, rx.bytes, rx.slotSize, 0, rx.lens, rx.slots, rx.names, rx.nameStride);
      if (n <= 0) return;
      const now = Date.now();
      for (let i = 0; i < n; i++) {
        const kind = rx.names![i * rx.nameStride + SLL_PKTTYPE];
        if (kind === PACKET_OUTGOING || rx.lens[i] < 0) continue;
        if (kind === PACKET_OTHERHOST) {
          this.responder.counters.otherHost++;
          continue;
        }
        const frame = rx.bytes.subarray(rx.slotStart(i), rx.slotStart(i) + rx.slotSize);
        const len = this.responder.handle(frame, rx.lens[i], this.out, now);
        if (this.tracer !== null && this.tracer.active) {
          this.tracer.captureNdp(frame, 0, rx.lens[i], this.responder.lastVerdict, len > 0 ? this.out : null, len);
        }
        if (len > 0) {
          // sockaddr_ll destination MAC (bytes 12..17) = the frame's Ethernet destination.
          this.dest.set(this.out.subarray(0, 6), 12);
          native.sendTo(this.fd, this.out, 0, len, this.dest);
        }
      }
      if (n < rx.slots) return;
    }
  }

  /** Stops watching; the socket is the opener's to close. */
  stop(): void {
    this.watcher.stop();
  }
}
