/**
 * Descriptor memory: the page-table walker's mm_ops (KVM hyp/pgtable.c's
 * `kvm_pgtable_mm_ops`, reduced to what a walker needs).
 *
 * Addresses are physical (PA) and are exact doubles below 2^53. Descriptors are
 * 64-bit and are read as two little-endian 32-bit halves (lo at pa, hi at pa+4),
 * never as BigInt, because the walker runs on every TLB miss.
 */
export interface DescriptorMemory {
  /** Unsigned 32-bit little-endian read. Only called after isBacked(pa, 8) said yes. */
  read32(pa: number): number;
  /** 32-bit little-endian write (builder and hardware-update paths only). */
  write32(pa: number, v: number): void;
  /** True when [pa, pa+len) is entirely backed by memory the walker may read. */
  isBacked(pa: number, len: number): boolean;
  /**
   * Optional fast path for walkers: when [pa, pa+8) is backed, store the descriptor's
   * halves (as read32(pa), read32(pa + 4)) in out.lo / out.hi and return true; else
   * return false and leave `out` alone. The same answers as isBacked + 2 x read32.
   */
  readPair?(pa: number, out: DescriptorPair): boolean;
}

/** The two 32-bit halves of a descriptor (readPair's output). */
export interface DescriptorPair {
  lo: number;
  hi: number;
}

/**
 * A block of RAM at a physical base address (for instance a koffi.view over
 * guest RAM). With `size` given, `bytes` is read only when the walker first
 * touches the block (it may be a getter that makes the view then).
 */
export interface RamBlock {
  base: number;
  size?: number;
  readonly bytes: Uint8Array;
}

const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** One block; its views are made when the walker first touches it (RamBlock.size given). */
class Region {
  readonly end: number; // exclusive
  /** Fast path when the view is 4-byte aligned and the host is little endian. */
  u32: Uint32Array | null = null;
  dv: DataView | null = null;
  constructor(
    readonly base: number,
    private readonly block: RamBlock,
  ) {
    this.end = base + (block.size ?? block.bytes.byteLength);
    if (block.size === undefined) this.ensure();
  }
  ensure(): this {
    if (this.dv === null) {
      const b = this.block.bytes;
      this.u32 = HOST_LITTLE_ENDIAN && b.byteOffset % 4 === 0 ? new Uint32Array(b.buffer, b.byteOffset, b.byteLength >>> 2) : null;
      this.dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
    }
    return this;
  }
}

/**
 * DescriptorMemory over one or more RAM blocks. Remembers the last block hit,
 * so a walk that stays inside guest RAM costs one compare per access.
 * Unaligned 32-bit accesses are supported (through the DataView) but page-table
 * descriptors are always 8-byte aligned.
 */
export class RamDescriptorMemory implements DescriptorMemory {
  private readonly regions: Region[];
  private last: Region;

  constructor(blocks: RamBlock | RamBlock[]) {
    const list = Array.isArray(blocks) ? blocks : [blocks];
    if (list.length === 0) throw new Error('RamDescriptorMemory: at least one RAM block is required');
    this.regions = list.map((b) => new Region(b.base, b));
    // `last` is always a region whose views exist (find makes them on a hit).
    this.last = this.regions[0]!.ensure();
  }

  private find(pa: number, len: number): Region | null {
    const l = this.last;
    if (pa >= l.base && pa + len <= l.end) return l;
    const regions = this.regions;
    for (let i = 0; i < regions.length; i++) {
      const r = regions[i]!;
      if (pa >= r.base && pa + len <= r.end) {
        this.last = r.ensure();
        return r;
      }
    }
    return null;
  }

  readPair(pa: number, out: DescriptorPair): boolean {
    const r = this.find(pa, 8);
    if (r === null) return false;
    const off = pa - r.base;
    const u32 = r.u32;
    if (u32 !== null && (off & 3) === 0) {
      const i = off / 4;
      out.lo = u32[i]!;
      out.hi = u32[i + 1]!;
    } else {
      out.lo = r.dv!.getUint32(off, true);
      out.hi = r.dv!.getUint32(off + 4, true);
    }
    return true;
  }

  isBacked(pa: number, len: number): boolean {
    return this.find(pa, len) !== null;
  }

  read32(pa: number): number {
    const r = this.find(pa, 4);
    if (r === null) throw new RangeError(`read32: PA 0x${pa.toString(16)} is not backed`);
    const off = pa - r.base;
    if (r.u32 !== null && (off & 3) === 0) return r.u32[off / 4]!;
    return r.dv!.getUint32(off, true);
  }

  write32(pa: number, v: number): void {
    const r = this.find(pa, 4);
    if (r === null) throw new RangeError(`write32: PA 0x${pa.toString(16)} is not backed`);
    const off = pa - r.base;
    if (r.u32 !== null && (off & 3) === 0) r.u32[off / 4] = v >>> 0;
    else r.dv!.setUint32(off, v >>> 0, true);
  }
}

/** Convenience: read a whole 64-bit descriptor as a BigInt (debug and tests only; not for hot paths). */
export function read64(mem: DescriptorMemory, pa: number): bigint {
  return (BigInt(mem.read32(pa + 4)) << 32n) | BigInt(mem.read32(pa));
}

/** Convenience: write a whole 64-bit descriptor given as a BigInt (tests and builders). */
export function write64(mem: DescriptorMemory, pa: number, v: bigint): void {
  mem.write32(pa, Number(v & 0xffff_ffffn));
  mem.write32(pa + 4, Number((v >> 32n) & 0xffff_ffffn));
}
