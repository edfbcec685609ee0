// pcapng (draft-ietf-opsawg-pcapng): Section Header, Interface Description
// and Enhanced Packet blocks, little-endian, nanosecond timestamps, and a
// packet comment (opt_comment) per packet. Plus a reader for the blocks this
// writer emits, used by `sixtun trace` to print packets as text.
export const BT_SHB = 0x0a0d0d0a;
export const BT_IDB = 0x00000001;
export const BT_EPB = 0x00000006;
export const BYTE_ORDER_MAGIC = 0x1a2b3c4d;
export const OPT_END = 0;
export const OPT_COMMENT = 1;
export const OPT_IF_NAME = 2;
export const OPT_IF_TSRESOL = 9;

export const LINKTYPE_ETHERNET = 1;
export const LINKTYPE_IPV4 = 228;
export const LINKTYPE_IPV6 = 229;

const encoder = new TextEncoder();

function pad4(n: number): number {
  return (n + 3) & ~3;
}

function optionsLength(opts: Array<[number, Uint8Array]>): number {
  if (opts.length === 0) return 0;
  return opts.reduce((s, [, v]) => s + 4 + pad4(v.length), 0) + 4;
}

function writeOptions(dv: DataView, bytes: Uint8Array, off: number, opts: Array<[number, Uint8Array]>): number {
  if (opts.length === 0) return off;
  for (const [code, v] of opts) {
    dv.setUint16(off, code, true);
    dv.setUint16(off + 2, v.length, true);
    bytes.set(v, off + 4);
    bytes.fill(0, off + 4 + v.length, off + 4 + pad4(v.length));
    off += 4 + pad4(v.length);
  }
  dv.setUint32(off, 0, true);
  return off + 4;
}

function block(type: number, bodyLen: number, fill: (dv: DataView, bytes: Uint8Array, off: number) => void): Uint8Array {
  const total = 12 + bodyLen;
  const bytes = new Uint8Array(total);
  const dv = new DataView(bytes.buffer);
  dv.setUint32(0, type, true);
  dv.setUint32(4, total, true);
  fill(dv, bytes, 8);
  dv.setUint32(total - 4, total, true);
  return bytes;
}

/** Section Header Block: byte-order magic, version 1.0, section length unknown. */
export function sectionHeader(): Uint8Array {
  return block(BT_SHB, 16, (dv, _b, o) => {
    dv.setUint32(o, BYTE_ORDER_MAGIC, true);
    dv.setUint16(o + 4, 1, true);
    dv.setUint16(o + 6, 0, true);
    dv.setBigInt64(o + 8, -1n, true);
  });
}

/** Interface Description Block with a name and nanosecond resolution. */
export function interfaceDescription(linkType: number, snapLen: number, name: string): Uint8Array {
  const opts: Array<[number, Uint8Array]> = [[OPT_IF_NAME, encoder.encode(name)], [OPT_IF_TSRESOL, Uint8Array.of(9)]];
  return block(BT_IDB, 8 + optionsLength(opts), (dv, b, o) => {
    dv.setUint16(o, linkType, true);
    dv.setUint16(o + 2, 0, true);
    dv.setUint32(o + 4, snapLen, true);
    writeOptions(dv, b, o + 8, opts);
  });
}

/** Length of an Enhanced Packet Block for captured bytes and comment bytes. */
export function enhancedPacketLength(captured: number, commentBytes: number): number {
  return 12 + 20 + pad4(captured) + (commentBytes > 0 ? 4 + pad4(commentBytes) + 4 : 0);
}

/** Writes an Enhanced Packet Block at out[off] (the caller sized it with
 * enhancedPacketLength); the timestamp is nanoseconds split into 32-bit
 * halves. Returns the offset after it. */
export function writeEnhancedPacket(
  out: Uint8Array, dv: DataView, off: number, interfaceId: number, tsHigh: number, tsLow: number,
  data: Uint8Array, dataOff: number, captured: number, original: number, comment: Uint8Array | null,
): number {
  const total = enhancedPacketLength(captured, comment ? comment.length : 0);
  dv.setUint32(off, BT_EPB, true);
  dv.setUint32(off + 4, total, true);
  dv.setUint32(off + 8, interfaceId, true);
  dv.setUint32(off + 12, tsHigh, true);
  dv.setUint32(off + 16, tsLow, true);
  dv.setUint32(off + 20, captured, true);
  dv.setUint32(off + 24, original, true);
  out.set(data.subarray(dataOff, dataOff + captured), off + 28);
  out.fill(0, off + 28 + captured, off + 28 + pad4(captured));
  let p = off + 28 + pad4(captured);
  if (comment) p = writeOptions(dv, out, p, [[OPT_COMMENT, comment]]);
  dv.setUint32(p, total, true);
  return p + 4;
}

export interface PcapngPacket {
  interfaceId: number;
  linkType: number;
  interfaceName: string;
  timestampNs: bigint;
  data: Uint8Array;
  originalLength: number;
  comment: string | null;
}

/** Splits a little-endian pcapng byte stream into whole blocks as they
 * complete. Throws on a block length that cannot be. */
export class BlockSplitter {
  private buf = new Uint8Array(0);

  push(chunk: Uint8Array): Uint8Array[] {
    const joined = new Uint8Array(this.buf.length + chunk.length);
    joined.set(this.buf);
    joined.set(chunk, this.buf.length);
    const dv = new DataView(joined.buffer);
    const out: Uint8Array[] = [];
    let p = 0;
    while (joined.length - p >= 12) {
      const len = dv.getUint32(p + 4, true);
      if (len < 12 || len % 4 !== 0) throw new Error(`pcapng: bad block length ${len}`);
      if (joined.length - p < len) break;
      out.push(joined.subarray(p, p + len));
      p += len;
    }
    this.buf = joined.slice(p);
    return out;
  }
}

/** Incremental reader: feed bytes, take whole packets. Only little-endian
 * sections (what sixtun writes). Throws on a malformed block. */
export class PcapngReader {
  private readonly blocks = new BlockSplitter();
  private readonly interfaces: Array<{ linkType: number; name: string }> = [];

  push(chunk: Uint8Array): PcapngPacket[] {
    const out: PcapngPacket[] = [];
    for (const block of this.blocks.push(chunk)) {
      const dv = new DataView(block.buffer, block.byteOffset, block.byteLength);
      const type = dv.getUint32(0, true);
      const len = block.length;
      if (type === BT_IDB) {
        const opts = readOptions(block, dv, 16, len - 4);
        this.interfaces.push({ linkType: dv.getUint16(8, true), name: opts.get(OPT_IF_NAME) ?? '' });
      } else if (type === BT_EPB) {
        const id = dv.getUint32(8, true);
        const captured = dv.getUint32(20, true);
        const opts = readOptions(block, dv, 28 + pad4(captured), len - 4);
        const iface = this.interfaces[id] ?? { linkType: -1, name: '' };
        out.push({
          interfaceId: id,
          linkType: iface.linkType,
          interfaceName: iface.name,
          timestampNs: (BigInt(dv.getUint32(12, true)) << 32n) | BigInt(dv.getUint32(16, true)),
          data: block.slice(28, 28 + captured),
          originalLength: dv.getUint32(24, true),
          comment: opts.get(OPT_COMMENT) ?? null,
        });
      }
    }
    return out;
  }
}

function readOptions(bytes: Uint8Array, dv: DataView, p: number, end: number): Map<number, string> {
  const out = new Map<number, string>();
  const dec = new TextDecoder();
  while (p + 4 <= end) {
    const code = dv.getUint16(p, true);
    const len = dv.getUint16(p + 2, true);
    if (code === OPT_END) break;
    out.set(code, dec.decode(bytes.subarray(p + 4, p + 4 + len)));
    p += 4 + pad4(len);
  }
  return out;
}
