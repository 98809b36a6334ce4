/**
 * Guest-physical RAM: one anonymous host mapping shared zero-copy between
 * Unicorn (uc_mem_map_ptr) and TypeScript, so page-table walks and loaders
 * read and write it without FFI calls. Reserving it costs nothing: the OS
 * zero-fills a page when it is first touched, so RSS follows what the guest
 * uses, whatever --mem says.
 *
 * TypeScript sees it through views of SHARED_SEGMENT (1 GiB) each (V8 caps a
 * view at 4 GiB; RAM may be much larger). Accesses of at most a page never
 * cross a segment; `load`/`copyOut` split larger ones.
 */
import { readSync } from 'node:fs';
import { Unicorn, SHARED_SEGMENT, type SharedBlock } from '../unicorn/uc.js';
import type { FileBytes } from '../platform/image-types.js';
import type { RamBlock } from '../mmu/memory.js';

export class GuestRam {
  readonly block: SharedBlock;
  // Per-segment views, made on first use (see SharedBlock.segment).
  private readonly views: Array<DataView | undefined>;
  private readonly words: Array<Uint32Array | undefined>;

  constructor(
    readonly base: number,
    readonly size: number,
  ) {
    if (size <= 0 || size % 0x1000 !== 0) throw new RangeError(`RAM size must be a positive multiple of 4 KiB, got ${size}`);
    if (base % 0x1000 !== 0) throw new RangeError(`RAM base must be 4 KiB aligned, got 0x${base.toString(16)}`);
    this.block = Unicorn.allocShared(size);
    this.views = new Array(this.block.segmentCount);
    this.words = new Array(this.block.segmentCount);
  }

  private seg(i: number): Uint8Array {
    return this.block.segment(i);
  }

  private view(i: number): DataView {
    let v = this.views[i];
    if (v === undefined) {
      const b = this.seg(i);
      v = this.views[i] = new DataView(b.buffer, b.byteOffset, b.byteLength);
    }
    return v;
  }

  get end(): number {
    return this.base + this.size;
  }

  contains(pa: number, len = 1): boolean {
    return pa >= this.base && pa + len <= this.base + this.size;
  }

  /** The RAM as descriptor-memory blocks (one per segment) for the page-table walkers. */
  blocks(): RamBlock[] {
    const out: RamBlock[] = [];
    for (let i = 0; i < this.block.segmentCount; i++) {
      const block = this.block;
      out.push({
        base: this.base + i * SHARED_SEGMENT,
        size: Math.min(SHARED_SEGMENT, this.size - i * SHARED_SEGMENT),
        get bytes() {
          return block.segment(i);
        },
      });
    }
    return out;
  }

  /**
   * A live view of [pa, pa + len), which must not cross a 1 GiB segment
   * boundary (anything within one page never does). Throws when outside RAM.
   */
  bytesAt(pa: number, len: number): Uint8Array {
    const off = pa - this.base;
    if (!this.contains(pa, len)) throw new RangeError(`0x${pa.toString(16)}+0x${len.toString(16)} is outside RAM`);
    const seg = Math.floor(off / SHARED_SEGMENT);
    const o = off - seg * SHARED_SEGMENT;
    if (o + len > SHARED_SEGMENT) throw new RangeError(`0x${pa.toString(16)}+0x${len.toString(16)} crosses a RAM segment`);
    return this.seg(seg).subarray(o, o + len);
  }

  /** The 32-bit words of the segment holding `pa`, and pa's word index in it (for scans of a page). */
  wordsAt(pa: number): { words: Uint32Array; index: number } {
    const off = pa - this.base;
    const seg = Math.floor(off / SHARED_SEGMENT);
    let words = this.words[seg];
    if (words === undefined) {
      const b = this.seg(seg);
      words = this.words[seg] = new Uint32Array(b.buffer, b.byteOffset, b.byteLength >>> 2);
    }
    return { words, index: (off - seg * SHARED_SEGMENT) >>> 2 };
  }

  read32(pa: number): number {
    const off = pa - this.base;
    const seg = Math.floor(off / SHARED_SEGMENT);
    return this.view(seg).getUint32(off - seg * SHARED_SEGMENT, true);
  }

  write32(pa: number, v: number): void {
    const off = pa - this.base;
    const seg = Math.floor(off / SHARED_SEGMENT);
    this.view(seg).setUint32(off - seg * SHARED_SEGMENT, v >>> 0, true);
  }

  read64(pa: number): bigint {
    const off = pa - this.base;
    const seg = Math.floor(off / SHARED_SEGMENT);
    return this.view(seg).getBigUint64(off - seg * SHARED_SEGMENT, true);
  }

  write64(pa: number, v: bigint): void {
    const off = pa - this.base;
    const seg = Math.floor(off / SHARED_SEGMENT);
    this.view(seg).setBigUint64(off - seg * SHARED_SEGMENT, BigInt.asUintN(64, v), true);
  }

  /**
   * Back [pa, pa + len) (page-aligned) with a copy-on-write mapping of file `fd` at `fileOffset`
   * instead of copying (a snapshot restore). False when the host refuses: load the bytes instead.
   */
  mapFile(fd: number, fileOffset: number, pa: number, len: number): boolean {
    if (!this.contains(pa, len)) throw new RangeError(`0x${pa.toString(16)}+0x${len.toString(16)} is outside RAM`);
    return Unicorn.mapFileInto(this.block, pa - this.base, len, fd, fileOffset);
  }

  /** Copy data into RAM at pa (any length; split across segments). */
  load(pa: number, data: Uint8Array): void {
    if (!this.contains(pa, data.byteLength)) {
      throw new RangeError(`0x${pa.toString(16)}+0x${data.byteLength.toString(16)} is outside RAM`);
    }
    this.eachPart(pa, data.byteLength, (seg, o, done, n) => seg.set(data.subarray(done, done + n), o));
  }

  /**
   * Read `f.length` bytes of the open file `f.fd` from `f.offset` into RAM at pa: the OS copies
   * them from its page cache into the guest's pages, with no buffer between (an image loader).
   * A copy on purpose, not mapFile: RAM must not change when the file does during the run (a
   * MAP_PRIVATE page not yet touched shows the file's new bytes, a truncated file makes any access
   * past its new end a SIGBUS), and a mapped kernel Image measured no faster over a whole Linux
   * boot (README, "Running guests").
   */
  loadFile(pa: number, f: FileBytes): void {
    if (!this.contains(pa, f.length)) throw new RangeError(`0x${pa.toString(16)}+0x${f.length.toString(16)} is outside RAM`);
    this.eachPart(pa, f.length, (seg, o, done, n) => {
      for (let got = 0; got < n; ) {
        const r = readSync(f.fd, seg, o + got, n - got, f.offset + done + got);
        if (r === 0) throw new Error(`file ended ${f.length - done - got} bytes early (changed since it was opened?)`);
        got += r;
      }
    });
  }

  /** Zero [pa, pa + len). */
  zero(pa: number, len: number): void {
    if (!this.contains(pa, len)) throw new RangeError(`0x${pa.toString(16)}+0x${len.toString(16)} is outside RAM`);
    this.eachPart(pa, len, (seg, o, _done, n) => seg.fill(0, o, o + n));
  }

  /** A copy of [pa, pa + len). */
  slice(pa: number, len: number): Uint8Array {
    if (!this.contains(pa, len)) throw new RangeError(`0x${pa.toString(16)}+0x${len.toString(16)} is outside RAM`);
    const out = new Uint8Array(len);
    this.eachPart(pa, len, (seg, o, done, n) => out.set(seg.subarray(o, o + n), done));
    return out;
  }

  private eachPart(pa: number, len: number, fn: (seg: Uint8Array, offInSeg: number, done: number, n: number) => void): void {
    let done = 0;
    while (done < len) {
      const off = pa - this.base + done;
      const seg = Math.floor(off / SHARED_SEGMENT);
      const o = off - seg * SHARED_SEGMENT;
      const n = Math.min(len - done, SHARED_SEGMENT - o);
      fn(this.seg(seg), o, done, n);
      done += n;
    }
  }
}
