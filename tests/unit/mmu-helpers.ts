/**
 * Test helpers: a RAM block with a bump allocator and a tiny table writer that
 * creates intermediate tables on demand. Tables are written by address "name"
 * (PA, or IPA for stage-1 tables under stage 2) through `toPa`.
 */
import { RamDescriptorMemory, write64, read64 } from '../../emulator/mmu/memory.js';
import { makeTable, levelShift, tableAddress, splitDescriptor, type GranuleBits } from '../../emulator/mmu/descriptors.js';
import type { Geometry } from '../../emulator/mmu/config.js';

export class TestRam {
  readonly bytes: Uint8Array;
  readonly mem: RamDescriptorMemory;
  private next: number;
  constructor(
    readonly base = 0x4000_0000,
    size = 8 << 20,
  ) {
    this.bytes = new Uint8Array(size);
    this.mem = new RamDescriptorMemory({ base, bytes: this.bytes });
    this.next = base;
  }
  /** allocate `size` zeroed bytes aligned to `align` (default: size) */
  alloc(size: number, align = size): number {
    this.next = Math.ceil(this.next / align) * align;
    const a = this.next;
    this.next += size;
    if (this.next > this.base + this.bytes.length) throw new Error('TestRam full');
    return a;
  }
  set(pa: number, d: bigint): void {
    write64(this.mem, pa, d);
  }
  get(pa: number): bigint {
    return read64(this.mem, pa);
  }
}

export interface TableWriter {
  ram: TestRam;
  g: Geometry;
  root: number; // as named
  /** name (PA or IPA) -> PA; identity by default */
  toPa?: (name: number) => number;
  /** allocator returning a name (default: ram.alloc of one granule) */
  allocTable?: () => number;
  /** extra bits to OR into created table descriptors at a given level */
  tableBits?: (level: number) => bigint;
}

/** Index of `ia` at `level` in geometry g (start level uses startBits). */
export function indexAt(g: Geometry, ia: number, level: number): number {
  const shift = levelShift(g.granuleBits, level);
  const bits = level === g.startLevel ? g.startBits : g.stride;
  return Math.floor(ia / 2 ** shift) % 2 ** bits;
}

/** Address (PA) of the descriptor for `ia` at `level`, creating tables above it. */
export function slotFor(w: TableWriter, ia: number, level: number): number {
  const toPa = w.toPa ?? ((x: number) => x);
  const gb = w.g.granuleBits as GranuleBits;
  const alloc = w.allocTable ?? (() => w.ram.alloc(2 ** gb));
  let table = w.root;
  for (let l = w.g.startLevel; l < level; l++) {
    const slot = toPa(table + indexAt(w.g, ia, l) * 8);
    let d = w.ram.get(slot);
    if ((d & 3n) !== 3n) {
      const t = alloc();
      d = makeTable(t, gb) | (w.tableBits ? w.tableBits(l) : 0n);
      w.ram.set(slot, d);
    }
    const { lo, hi } = splitDescriptor(d);
    table = tableAddress(lo, hi, gb);
  }
  return toPa(table + indexAt(w.g, ia, level) * 8);
}

/** Write leaf descriptor `d` for `ia` at `level`. */
export function setLeaf(w: TableWriter, ia: number, level: number, d: bigint): number {
  const slot = slotFor(w, ia, level);
  w.ram.set(slot, d);
  return slot;
}

/** Build TCR_EL1 from fields (bigint). */
export function tcr(f: { t0sz?: number; t1sz?: number; tg0?: number; tg1?: number; ips?: number; epd0?: boolean; epd1?: boolean; a1?: boolean; as?: boolean; tbi0?: boolean; tbi1?: boolean; hpd0?: boolean; hpd1?: boolean }): bigint {
  let v = 0n;
  v |= BigInt(f.t0sz ?? 16);
  if (f.epd0) v |= 1n << 7n;
  v |= BigInt(f.tg0 ?? 0) << 14n;
  v |= BigInt(f.t1sz ?? 16) << 16n;
  if (f.a1) v |= 1n << 22n;
  if (f.epd1) v |= 1n << 23n;
  v |= BigInt(f.tg1 ?? 2) << 30n;
  v |= BigInt(f.ips ?? 5) << 32n;
  if (f.as) v |= 1n << 36n;
  if (f.tbi0) v |= 1n << 37n;
  if (f.tbi1) v |= 1n << 38n;
  if (f.hpd0) v |= 1n << 41n;
  if (f.hpd1) v |= 1n << 42n;
  return v;
}

/** Build VTCR_EL2 from fields. tg0: 0 4K, 1 64K, 2 16K. */
export function vtcr(f: { t0sz: number; sl0: number; tg0?: number; ps?: number; vs?: boolean }): bigint {
  return BigInt(f.t0sz) | (BigInt(f.sl0) << 6n) | (BigInt(f.tg0 ?? 0) << 14n) | (BigInt(f.ps ?? 5) << 16n) | (f.vs ? 1n << 19n : 0n);
}

export const HCR_VM = 1n;
export const HCR_PTW = 1n << 2n;
export const HCR_DC = 1n << 12n;
export const HCR_FWB = 1n << 46n;
