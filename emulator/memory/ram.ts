/**
 * Guest-physical RAM: one block of host memory shared zero-copy between
 * Unicorn (uc_mem_map_ptr) and TypeScript, so page-table walks and loaders
 * read and write it without FFI calls.
 */
import { Unicorn, type SharedBlock } from '../unicorn/uc.js';

export class GuestRam {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  readonly block: SharedBlock;

  constructor(
    readonly base: number,
    readonly size: number,
  ) {
    if (size <= 0 || size % 0x1000 !== 0) throw new RangeError(`RAM size must be a positive multiple of 4 KiB, got ${size}`);
    if (base % 0x1000 !== 0) throw new RangeError(`RAM base must be 4 KiB aligned, got 0x${base.toString(16)}`);
    this.block = Unicorn.allocShared(size);
    this.bytes = this.block.bytes;
    this.view = new DataView(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength);
  }

  get end(): number {
    return this.base + this.size;
  }

  contains(pa: number, len = 1): boolean {
    return pa >= this.base && pa + len <= this.base + this.size;
  }

  read32(pa: number): number {
    return this.view.getUint32(pa - this.base, true);
  }

  write32(pa: number, v: number): void {
    this.view.setUint32(pa - this.base, v >>> 0, true);
  }

  read64(pa: number): bigint {
    return this.view.getBigUint64(pa - this.base, true);
  }

  write64(pa: number, v: bigint): void {
    this.view.setBigUint64(pa - this.base, BigInt.asUintN(64, v), true);
  }

  load(pa: number, data: Uint8Array): void {
    if (!this.contains(pa, data.byteLength)) {
      throw new RangeError(`0x${pa.toString(16)}+0x${data.byteLength.toString(16)} is outside RAM`);
    }
    this.bytes.set(data, pa - this.base);
  }

  slice(pa: number, len: number): Uint8Array {
    return this.bytes.subarray(pa - this.base, pa - this.base + len);
  }
}
