// One ArrayBuffer per direction, N fixed slots. Views are made once here,
// always with byteOffset, so the hot path never builds a view per packet.
import { native } from './native.js';

export interface SlabOptions {
  /** Number of packet slots (at most the addon's MAX_BATCH, unless inChunks). */
  slots: number;
  /** More slots than one addon call takes: handed over as chunks(). */
  inChunks?: boolean;
  /** Bytes per slot, headroom included. */
  slotSize: number;
  /** Bytes kept free in front of each packet (20 for the outer IPv4 header). */
  headroom?: number;
  /** Bytes of socket address per slot (0: none). */
  nameStride?: number;
  /** Bytes of control-message space per slot (0: none). */
  ctrlStride?: number;
  /** Bytes after the slots in the same buffer, from tailStart: a staging area
   * whose packets move into slots with copyWithin (no views, no allocation). */
  tailBytes?: number;
}

export interface SlabChunk {
  /** Index of the chunk's first slot in the slab. */
  start: number;
  bytes: Uint8Array;
  lens: Int32Array;
  names: Uint8Array | null;
}

export class Slab {
  readonly slots: number;
  readonly slotSize: number;
  readonly headroom: number;
  readonly buffer: ArrayBuffer;
  readonly bytes: Uint8Array;
  readonly view: DataView;
  readonly lens: Int32Array;
  readonly nameStride: number;
  readonly names: Uint8Array | null;
  readonly ctrlStride: number;
  readonly ctrl: Uint8Array | null;
  /** Offset of the tail area (slots * slotSize). */
  readonly tailStart: number;
  /** Packets currently held (filled by a receive, consumed by a send). */
  count: number;

  constructor(opts: SlabOptions) {
    if (opts.slots < 1 || (opts.slots > native.MAX_BATCH && opts.inChunks !== true)) {
      throw new RangeError(`slab slots must be 1..${native.MAX_BATCH}, got ${opts.slots}`);
    }
    const headroom = opts.headroom ?? 0;
    if (opts.slotSize <= headroom) throw new RangeError('slab slotSize must exceed headroom');
    this.slots = opts.slots;
    this.slotSize = opts.slotSize;
    this.headroom = headroom;
    this.tailStart = opts.slots * opts.slotSize;
    this.buffer = new ArrayBuffer(this.tailStart + (opts.tailBytes ?? 0));
    this.bytes = new Uint8Array(this.buffer);
    this.view = new DataView(this.buffer, 0, this.buffer.byteLength);
    this.lens = new Int32Array(opts.slots);
    this.nameStride = opts.nameStride ?? 0;
    this.names = this.nameStride > 0 ? new Uint8Array(opts.slots * this.nameStride) : null;
    this.ctrlStride = opts.ctrlStride ?? 0;
    this.ctrl = this.ctrlStride > 0 ? new Uint8Array(opts.slots * this.ctrlStride) : null;
    this.count = 0;
  }

  /** Views of consecutive runs of MAX_BATCH slots (the last one shorter),
   * for addon calls; made once by the caller. */
  chunks(): SlabChunk[] {
    const out: SlabChunk[] = [];
    for (let start = 0; start < this.slots; start += native.MAX_BATCH) {
      out.push({
        start,
        bytes: this.bytes.subarray(start * this.slotSize),
        lens: this.lens.subarray(start),
        names: this.names?.subarray(start * this.nameStride) ?? null,
      });
    }
    return out;
  }

  /** Byte offset of slot i's first byte (the start of its headroom). */
  slotStart(i: number): number {
    return i * this.slotSize;
  }

  /** Byte offset of slot i's packet data (after the headroom). */
  dataStart(i: number): number {
    return i * this.slotSize + this.headroom;
  }

  /** Capacity of a slot's data area. */
  get dataCapacity(): number {
    return this.slotSize - this.headroom;
  }
}
