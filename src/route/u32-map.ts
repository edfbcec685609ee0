// A map from u32 (an IPv4 address) to a small int, with open addressing over
// Int32Arrays. A JS Map boxes keys above 2^31 into heap numbers on every
// lookup; this never allocates on get.
import { readI32 } from '../wire/ipv4.js';

const EMPTY = -1;

export class U32Map {
  private keys = new Int32Array(16);
  private values = new Int32Array(16).fill(EMPTY);
  private mask = 15;
  private count = 0;
  private readonly query = new Int32Array(1);

  get size(): number {
    return this.count;
  }

  private slot(key: number): number {
    let h = Math.imul(key | 0, 0x9e3779b1);
    h ^= h >>> 16;
    return h & this.mask;
  }

  /** Value for key, or -1. */
  get(key: number): number {
    this.query[0] = key;
    return this.probe();
  }

  /** get() of the big-endian u32 at b[off]: the datapath's form, which never
   * passes a key outside V8's small-integer range to a call (that would box it). */
  getAt(b: Uint8Array, off: number): number {
    this.query[0] = readI32(b, off);
    return this.probe();
  }

  private probe(): number {
    const k = this.query[0];
    let h = Math.imul(k, 0x9e3779b1);
    h ^= h >>> 16;
    for (let s = h & this.mask; ; s = (s + 1) & this.mask) {
      const v = this.values[s];
      if (v === EMPTY) return EMPTY;
      if (this.keys[s] === k) return v;
    }
  }

  has(key: number): boolean {
    return this.get(key) !== EMPTY;
  }

  set(key: number, value: number): void {
    if (value < 0) throw new RangeError('U32Map values are non-negative');
    if ((this.count + 1) * 2 > this.values.length) this.grow();
    const k = key | 0;
    for (let s = this.slot(k); ; s = (s + 1) & this.mask) {
      if (this.values[s] === EMPTY) {
        this.keys[s] = k;
        this.values[s] = value;
        this.count++;
        return;
      }
      if (this.keys[s] === k) {
        this.values[s] = value;
        return;
      }
    }
  }

  /** Removes key in place (backward-shift deletion: the entries after it in
   * its probe run move up into the hole, so no tombstones are needed). A
   * rebuild of the whole map per deletion, at 10^5 tunnels, delayed packets
   * through other tunnels by up to 670 ms over 20 removals. */
  delete(key: number): boolean {
    const k = key | 0;
    let hole = this.slot(k);
    for (; ; hole = (hole + 1) & this.mask) {
      if (this.values[hole] === EMPTY) return false;
      if (this.keys[hole] === k) break;
    }
    for (let j = (hole + 1) & this.mask; this.values[j] !== EMPTY; j = (j + 1) & this.mask) {
      const home = this.slot(this.keys[j]);
      // The entry at j stays when its home slot lies cyclically in (hole, j]: moving it would hide it.
      const stays = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (stays) continue;
      this.keys[hole] = this.keys[j];
      this.values[hole] = this.values[j];
      hole = j;
    }
    this.values[hole] = EMPTY;
    this.count--;
    return true;
  }

  entries(): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    for (let s = 0; s < this.values.length; s++) if (this.values[s] !== EMPTY) out.push([this.keys[s] >>> 0, this.values[s]]);
    return out;
  }

  private clearTo(size: number): void {
    this.keys = new Int32Array(size);
    this.values = new Int32Array(size).fill(EMPTY);
    this.mask = size - 1;
    this.count = 0;
  }

  private grow(): void {
    const entries = this.entries();
    this.clearTo(this.values.length * 2);
    for (const [k, v] of entries) this.set(k, v);
  }
}
