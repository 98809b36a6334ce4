/**
 * One shadow MMU of a guest hypervisor's shadow stage 2 (shadow-s2.ts, seed 003): an L1 stage-2
 * context {VTTBR, VTCR, FWB}, our VMID for it, its tables in a host-owned pool and the entries
 * built into them, each tagged with the L1 leaf it came from (the TTL-like tag TLB maintenance
 * by IPA matches). Built one fault at a time by NestedS2.fill, emptied by its TLBI emulation.
 *
 * Arm ARM: D8.2 (stage-2 translation), D8.4.3 (stage-2 permissions, encodeS2Perms).
 */
import { decodeStage2, type Stage2Config } from '../../emulator/mmu/config.js';
import { Stage2Builder } from '../../emulator/mmu/stage2-builder.js';
import type { DescriptorMemory } from '../../emulator/mmu/memory.js';
import { encodeS2Perms } from './compose.js';


export const GRANULE = 0x1000;
/**
 * Shadow VTCR: T0SZ 16 (48-bit IPA, enough for any L1 VTCR), SL0 2 (start at level 0,
 * 4 KB granule), IRGN0/ORGN0 WB, SH0 inner, PS 48 bits, VS (16-bit VMIDs), RES1 bit 31.
 */
const SHADOW_VTCR = BigInt(16 | (2 << 6) | (1 << 8) | (1 << 10) | (3 << 12) | (5 << 16) | (1 << 19)) | (1n << 31n);
const HCR_VM = 1n;
const HCR_FWB = 1n << 46n;

/** L1's stage-2 context (its virtual VTTBR_EL2 / VTCR_EL2 / HCR_EL2.FWB). */
export interface L1S2Context {
  vttbr: bigint;
  vtcr: bigint;
  fwb: boolean;
}

export interface ShadowEntry {
  /** L2 IPA of the shadow leaf's region and its size */
  ipa: number;
  size: number;
  pa: number;
  /** L1's stage-2 leaf this came from (the TTL-like tag of seed 003) */
  l1LeafIpa: number;
  l1LeafSize: number;
  l1Level: number;
}

/** One shadow MMU: an L1 context, our VMID for it, its tables and its entries. */
export class ShadowS2Mmu {
  l1: L1S2Context = { vttbr: 0n, vtcr: 0n, fwb: false };
  /** decoded L1 stage-2 config of this context */
  l1Config!: Stage2Config;
  /** the shadow stage 2 the MMU walks while L2 runs in this context */
  config!: Stage2Config;
  inUse = false;
  lastUsed = 0;
  /** shadow faults and L1 TLBIs that touched this context since it was assigned */
  faults = 0;
  tlbi = 0;
  /** VTTBR_EL2 / VTCR_EL2 of the shadow stage 2 (our VMID, host-owned root) */
  vttbr = 0n;
  readonly vtcr = SHADOW_VTCR;
  readonly entries = new Map<number, ShadowEntry>();
  private builder!: Stage2Builder;
  private next = 0;

  constructor(
    readonly slot: number,
    readonly vmid: number,
    private readonly mem: DescriptorMemory,
    private readonly poolBase: number,
    private readonly poolPages: number,
  ) {}

  /** L1's VMID (VTTBR_EL2.VMID, 8 or 16 bits per VTCR_EL2.VS) */
  get l1Vmid(): number {
    return this.l1Config.vmid;
  }

  /** Assign to a context (empty tables). */
  assign(l1: L1S2Context): void {
    this.l1 = { vttbr: l1.vttbr, vtcr: l1.vtcr, fwb: l1.fwb };
    this.inUse = true;
    this.faults = 0;
    this.tlbi = 0;
    this.reset();
  }

  /** Drop every entry: zeroed root, allocator rewound (the caller invalidates the model TLB). */
  reset(): void {
    this.entries.clear();
    const root = this.poolBase;
    for (let a = root; a < root + GRANULE; a += 4) this.mem.write32(a, 0);
    this.next = root + GRANULE;
    this.vttbr = BigInt(root) | (BigInt(this.vmid) << 48n);
    this.decode();
  }

  /** The decoded configs and the table builder, from l1 and vttbr (reset, and a snapshot restore). */
  decode(): void {
    const l1 = this.l1;
    this.l1Config = decodeStage2({ vtcr: l1.vtcr, vttbr: l1.vttbr, hcr: HCR_VM | (l1.fwb ? HCR_FWB : 0n) });
    this.config = decodeStage2({ vtcr: SHADOW_VTCR, vttbr: this.vttbr, hcr: HCR_VM | (l1.fwb ? HCR_FWB : 0n) });
    this.builder = new Stage2Builder({ mem: this.mem, geometry: this.config.geometry, root: this.poolBase, alloc: () => this.alloc(), fwb: l1.fwb });
  }

  private alloc(): number | null {
    if (this.next >= this.poolBase + this.poolPages * GRANULE) return null;
    const pa = this.next;
    this.next += GRANULE;
    for (let a = pa; a < pa + GRANULE; a += 4) this.mem.write32(a, 0);
    return pa;
  }

  matches(l1: L1S2Context): boolean {
    return this.inUse && this.l1.vttbr === l1.vttbr && this.l1.vtcr === l1.vtcr && this.l1.fwb === l1.fwb;
  }

  /** Install a leaf; false when the pool is exhausted. */
  install(e: ShadowEntry, perms: number, memAttr: number): boolean {
    const { s2ap, xn } = encodeS2Perms(perms);
    const r = this.builder.map(e.ipa, e.pa, e.size, { r: (s2ap & 1) !== 0, w: (s2ap & 2) !== 0, x: xn !== 2, raw: { memAttr, xn } });
    if (!r.ok) return false;
    this.entries.set(e.ipa, e);
    return true;
  }

  /**
   * Remove the entries whose shadow region overlaps [start, end), and with `byL1Leaf` also
   * those built from an L1 leaf that overlaps it (TLBI by IPA: L1's TLB entry would have
   * covered its whole leaf); returns them in `out`.
   */
  removeOverlapping(start: number, end: number, byL1Leaf: boolean, out: ShadowEntry[]): void {
    for (const e of this.entries.values()) {
      const hitsLeaf = byL1Leaf && e.l1LeafIpa < end && e.l1LeafIpa + e.l1LeafSize > start;
      const hitsRegion = e.ipa < end && e.ipa + e.size > start;
      if (hitsLeaf || hitsRegion) out.push(e);
    }
    for (const e of out) {
      this.builder.unmap(e.ipa, e.size);
      this.entries.delete(e.ipa);
    }
  }
}
