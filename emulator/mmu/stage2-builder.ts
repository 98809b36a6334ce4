/**
 * Stage-2 table builder: map / unmap as visitors on the generic walker, the way
 * KVM's kvm_pgtable_stage2_map() / _unmap() are (arch/arm64/kvm/hyp/pgtable.c).
 * Tables are allocated through a callback and written through the DescriptorMemory
 * (mm_ops). The protection request (S2Prot) is kept apart from descriptor bits, and
 * FWB is a property of the builder, as in KVM.
 *
 * Seed 001 (KVM "Introduce new flag for non-cacheable IO memory"): stage-2 memory types
 * Normal (MemAttr 0xF, FWB 6), Normal-NC (0x5, FWB 5) and Device-nGnRE (0x1, FWB 1);
 * Device and Normal-NC mappings may not be executable: such requests fail with EINVAL.
 */
import type { DescriptorMemory } from './memory.js';
import type { Geometry } from './config.js';
import { blockAllowed, levelShift, outputAddress, KIND_BLOCK, KIND_PAGE, KIND_INVALID, POW2 } from './descriptors.js';
import { Walker, CONTINUE, STOP, LEAF, WALK_OK, type VisitContext, type WalkVisitor } from './walker.js';

export type S2MemType = 'normal' | 'normal-nc' | 'device';

export interface S2Prot {
  r: boolean;
  w: boolean;
  x: boolean;
  /** default 'normal' */
  mem?: S2MemType;
  /**
   * Raw stage-2 MemAttr[3:0] and XN[1:0], overriding `mem` and `x` (a nested hypervisor's
   * shadow stage 2 writes the attributes it composed from two stage 2s; no seed-001 check).
   */
  raw?: { memAttr: number; xn: number };
}

export type BuildResult =
  | { ok: true; leavesWritten: number; tablesAllocated: number }
  | { ok: false; error: 'EINVAL' | 'ENOMEM' | 'EFAULT'; reason: string };

export interface Stage2BuilderOptions {
  mem: DescriptorMemory;
  geometry: Geometry;
  /** PA of the (possibly concatenated) start-level table */
  root: number;
  /** returns the PA of a zeroed, granule-sized, granule-aligned page, or null when out of memory */
  alloc: () => number | null;
  /** HCR_EL2.FWB in effect for these tables */
  fwb: boolean;
  /** map with pages only (no blocks), e.g. for dirty logging */
  pagesOnly?: boolean;
}

/** Stage-2 MemAttr[3:0] for a memory type (KVM's MT_S2_* / MT_S2_FWB_* values). */
export function s2MemAttrFor(mem: S2MemType, fwb: boolean): number {
  if (mem === 'device') return 0x1;
  if (mem === 'normal-nc') return 0x5;
  return fwb ? 0x6 : 0xf;
}

/** Leaf descriptor halves for a stage-2 mapping (AF = 1, SH = Inner Shareable). */
export function s2LeafHalves(oa: number, level: number, prot: S2Prot, fwb: boolean): { lo: number; hi: number } {
  const memAttr = prot.raw !== undefined ? prot.raw.memAttr & 0xf : s2MemAttrFor(prot.mem ?? 'normal', fwb);
  let lo = (oa >>> 0) & 0xfffff000;
  lo |= level === 3 ? 3 : 1;
  lo |= memAttr << 2;
  if (prot.r) lo |= 1 << 6;
  if (prot.w) lo |= 1 << 7;
  lo |= 3 << 8; // SH = Inner Shareable
  lo |= 1 << 10; // AF
  let hi = Math.floor(oa / 4294967296) & 0xffff;
  if (prot.raw !== undefined) hi |= (prot.raw.xn & 3) << 21;
  else if (!prot.x) hi |= 2 << 21; // XN[1:0] = 0b10: not executable at EL1 or EL0
  return { lo: lo >>> 0, hi: hi >>> 0 };
}

class MapVisitor implements WalkVisitor {
  flags = LEAF;
  ipa = 0;
  end = 0;
  pa = 0;
  prot: S2Prot = { r: true, w: true, x: true };
  leaves = 0;
  tables = 0;
  error: BuildResult | null = null;
  unmap = false;
  constructor(private readonly b: Stage2Builder) {}

  visit(c: VisitContext): number {
    const g = this.b.geometry;
    const covered = c.ia >= this.ipa && c.ia + c.size <= this.end;
    if (this.unmap) {
      if (c.kind === KIND_INVALID) return CONTINUE;
      if (covered) {
        c.walker.setDescriptor(0, 0);
        this.leaves++;
        return CONTINUE;
      }
      return this.split(c); // partially unmapped block: split it, the walker descends
    }
    const oa = this.pa + (c.ia - this.ipa);
    const canLeaf = covered && oa % c.size === 0 && (c.level === 3 || (!this.b.pagesOnly && blockAllowed(g.granuleBits, c.level)));
    if (canLeaf) {
      const d = s2LeafHalves(oa, c.level, this.prot, this.b.fwb);
      c.walker.setDescriptor(d.lo, d.hi);
      this.leaves++;
      return CONTINUE;
    }
    if (c.level === 3) {
      this.error = { ok: false, error: 'EINVAL', reason: `IPA 0x${c.ia.toString(16)} and PA 0x${oa.toString(16)} cannot be mapped with ${POW2[g.granuleBits]}-byte pages` };
      return STOP;
    }
    return this.split(c);
  }

  /** replace the entry by a table; if it was a block, the table reproduces the block with next-level leaves */
  private split(c: VisitContext): number {
    const g = this.b.geometry;
    const t = this.b.alloc();
    if (t === null) {
      this.error = { ok: false, error: 'ENOMEM', reason: 'stage-2 table allocator is out of pages' };
      return STOP;
    }
    this.tables++;
    const mem = this.b.mem;
    if (c.kind === KIND_BLOCK || c.kind === KIND_PAGE) {
      const oldOa = outputAddress(c.lo, c.hi, g.granuleBits, c.level);
      const childSize = POW2[levelShift(g.granuleBits, c.level + 1)]!;
      const childType = c.level + 1 === 3 ? 3 : 1;
      const attrLo = c.lo & 0x00000ffc; // lower attributes [11:2]
      for (let i = 0; i < POW2[g.stride]!; i++) {
        const oa = oldOa + i * childSize;
        // oa is aligned to childSize; upper attributes kept except the Contiguous hint (bit 52)
        mem.write32(t + i * 8, ((oa >>> 0) | attrLo | childType) >>> 0);
        mem.write32(t + i * 8 + 4, ((c.hi & 0xffef0000) | (Math.floor(oa / 4294967296) & 0xffff)) >>> 0);
      }
    }
    c.walker.setDescriptor(((t >>> 0) & ~(POW2[g.granuleBits]! - 1)) | 3, Math.floor(t / 4294967296) & 0xffff);
    return CONTINUE;
  }
}

export class Stage2Builder {
  readonly mem: DescriptorMemory;
  readonly geometry: Geometry;
  readonly root: number;
  readonly alloc: () => number | null;
  readonly fwb: boolean;
  readonly pagesOnly: boolean;
  private readonly walker = new Walker();

  constructor(o: Stage2BuilderOptions) {
    this.mem = o.mem;
    this.geometry = o.geometry;
    this.root = o.root;
    this.alloc = o.alloc;
    this.fwb = o.fwb;
    this.pagesOnly = o.pagesOnly ?? false;
  }

  private check(ipa: number, size: number): BuildResult | null {
    const gran = POW2[this.geometry.granuleBits]!;
    if (size <= 0 || ipa % gran !== 0 || size % gran !== 0) return { ok: false, error: 'EINVAL', reason: `IPA range 0x${ipa.toString(16)}+0x${size.toString(16)} is not granule aligned` };
    if (ipa + size > POW2[this.geometry.inputBits]!) return { ok: false, error: 'EINVAL', reason: `IPA range above the ${this.geometry.inputBits}-bit stage-2 input size` };
    return null;
  }

  /** Map [ipa, ipa + size) to [pa, pa + size) with `prot`, using blocks where alignment allows. */
  map(ipa: number, pa: number, size: number, prot: S2Prot): BuildResult {
    const bad = this.check(ipa, size);
    if (bad) return bad;
    const mem = prot.mem ?? 'normal';
    if (prot.raw === undefined && prot.x && mem !== 'normal') return { ok: false, error: 'EINVAL', reason: `${mem} stage-2 mappings cannot be executable (seed 001)` };
    if (pa % POW2[this.geometry.granuleBits]! !== 0) return { ok: false, error: 'EINVAL', reason: 'PA not granule aligned' };
    const v = new MapVisitor(this);
    v.ipa = ipa;
    v.end = ipa + size;
    v.pa = pa;
    v.prot = prot;
    return this.run(v);
  }

  /** Unmap [ipa, ipa + size): leaves inside are cleared, blocks straddling the edge are split first. */
  unmap(ipa: number, size: number): BuildResult {
    const bad = this.check(ipa, size);
    if (bad) return bad;
    const v = new MapVisitor(this);
    v.unmap = true;
    v.ipa = ipa;
    v.end = ipa + size;
    return this.run(v);
  }

  private run(v: MapVisitor): BuildResult {
    const st = this.walker.walk({ geometry: this.geometry, mem: this.mem, root: this.root }, v.ipa, v.end - 1, v);
    if (v.error !== null) return v.error;
    if (st !== WALK_OK) return { ok: false, error: 'EFAULT', reason: `stage-2 walk failed (status ${st}) at level ${this.walker.faultLevel}` };
    return { ok: true, leavesWritten: v.leaves, tablesAllocated: v.tables };
  }
}
