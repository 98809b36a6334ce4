/**
 * The hypervisor's stage 2 for one VM: real VMSAv8-64 stage-2 tables in host
 * memory the hypervisor owns (a pool the guest can never reach: no IPA maps
 * to it), built one fault at a time as KVM's user_mem_abort does, and walked
 * by the same MMU model on every TLB miss.
 *
 * Layout: 40-bit IPA space (the board's PARange), 4 KB granule, start level 1
 * with two concatenated tables (VTCR_EL2.T0SZ = 24, SL0 = 1), VMID 1.
 * Guest RAM is mapped lazily with 2 MiB blocks (or pages); MMIO stays
 * unmapped so that accesses fault and are emulated from the syndrome; a
 * passthrough-style device region is mapped Normal-NC or Device-nGnRE
 * (seed 001), never executable. Changes to a live mapping follow
 * break-before-make with a TLB invalidation by IPA.
 */
import { Stage2Builder, type BuildResult, type S2MemType } from '../emulator/mmu/stage2-builder.js';
import { decodeStage2, type Stage2Config } from '../emulator/mmu/config.js';
import { RamDescriptorMemory, type RamBlock } from '../emulator/mmu/memory.js';
import type { HypStats } from './stats.js';

/**
 * Host-physical base of the table pool: the last 4 GiB of the 40-bit PA space
 * (the walker checks table addresses against VTCR_EL2.PS), above every guest
 * IPA the board uses and never mapped to the guest. Guest RAM ends below it.
 */
export const S2_POOL_BASE = 0xff_0000_0000;
const GRANULE = 0x1000;
const BLOCK_2M = 0x20_0000;

/**
 * VTCR_EL2 (Arm ARM D19.2.170): T0SZ = 24 (40-bit IPA), SL0 = 1 (start at
 * level 1 with the 4 KB granule), IRGN0 = ORGN0 = 1 (write-back), SH0 = 3
 * (inner shareable), TG0 = 0 (4 KB), PS = 2 (40-bit PA), bit 31 RES1.
 */
export const VTCR_DEFAULT = BigInt(24 | (1 << 6) | (1 << 8) | (1 << 10) | (3 << 12) | (0 << 14) | (2 << 16)) | (1n << 31n);

export interface Stage2Options {
  vmid?: number;
  /** Map guest RAM with 2 MiB blocks where they fit ('block', KVM with THP) or 4 KB pages. */
  mapping?: 'block' | 'page';
  fwb?: boolean;
  poolPages?: number;
}

export class Stage2 {
  readonly vmid: number;
  readonly pool: RamBlock;
  readonly vtcr: bigint = VTCR_DEFAULT;
  readonly vttbr: bigint;
  readonly config: Stage2Config;
  readonly mapping: 'block' | 'page';
  private readonly builder: Stage2Builder;
  private readonly mem: RamDescriptorMemory;
  private next: number;
  private readonly poolEnd: number;
  /** Called after a live mapping changed (break-before-make): invalidate by IPA in every TLB. */
  onInvalidateIpa: ((ipa: number, size: number) => void) | null = null;

  constructor(
    private readonly stats: HypStats,
    opts: Stage2Options = {},
  ) {
    this.vmid = opts.vmid ?? 1;
    this.mapping = opts.mapping ?? 'block';
    const pages = opts.poolPages ?? 1024;
    this.pool = { base: S2_POOL_BASE, bytes: new Uint8Array(pages * GRANULE) };
    this.poolEnd = S2_POOL_BASE + pages * GRANULE;
    this.mem = new RamDescriptorMemory(this.pool);
    // Two concatenated level-1 tables: 8 KB, 8 KB aligned (Arm ARM D8.2.7, concatenated translation tables).
    const root = S2_POOL_BASE;
    this.next = root + 2 * GRANULE;
    this.vttbr = BigInt(root) | (BigInt(this.vmid) << 48n);
    this.config = decodeStage2({ vtcr: this.vtcr, vttbr: this.vttbr, hcr: 1n });
    this.builder = new Stage2Builder({
      mem: this.mem,
      geometry: this.config.geometry,
      root,
      alloc: () => this.alloc(),
      fwb: opts.fwb ?? false,
      pagesOnly: this.mapping === 'page',
    });
  }

  private alloc(): number | null {
    if (this.next >= this.poolEnd) return null;
    const pa = this.next;
    this.next += GRANULE;
    this.pool.bytes.fill(0, pa - S2_POOL_BASE, pa - S2_POOL_BASE + GRANULE);
    return pa;
  }

  /** Pages of host memory holding stage-2 tables. */
  get tablePages(): number {
    return (this.next - S2_POOL_BASE) / GRANULE;
  }

  /**
   * Map the RAM around a faulting IPA, 1:1 onto host memory: a 2 MiB block
   * when the whole block lies in RAM and block mapping is on, else the page.
   */
  mapRam(ipa: number, ram: { base: number; size: number }): BuildResult {
    let base = ipa - (ipa % GRANULE);
    let size = GRANULE;
    const blockBase = ipa - (ipa % BLOCK_2M);
    if (this.mapping === 'block' && blockBase >= ram.base && blockBase + BLOCK_2M <= ram.base + ram.size) {
      base = blockBase;
      size = BLOCK_2M;
    }
    return this.map(base, base, size, { r: true, w: true, x: true, mem: 'normal' });
  }

  /** Map a device region for the guest: never executable; an executable request is refused (EINVAL), as stage2_set_prot_attr does. */
  mapDevice(ipa: number, pa: number, size: number, type: Exclude<S2MemType, 'normal'>, exec = false): BuildResult {
    return this.map(ipa, pa, size, { r: true, w: true, x: exec, mem: type });
  }

  /**
   * Map a range. If any of it is mapped already, the live entries are first
   * broken (invalidated, then every TLB told by IPA) before the new ones are
   * made: break-before-make (Arm ARM D8.16.1).
   */
  private map(ipa: number, pa: number, size: number, prot: { r: boolean; w: boolean; x: boolean; mem: S2MemType }): BuildResult {
    if (this.anyMapped(ipa, size)) {
      const u = this.unmap(ipa, size);
      if (!u.ok) return u;
    }
    const r = this.builder.map(ipa, pa, size, prot);
    if (r.ok) this.account(ipa, size, true);
    return r;
  }

  /** 4 KB pages currently mapped (the statistics count these, not requests). */
  private readonly mapped = new Set<number>();

  private anyMapped(ipa: number, size: number): boolean {
    for (let p = ipa / GRANULE, end = (ipa + size) / GRANULE; p < end; p++) if (this.mapped.has(p)) return true;
    return false;
  }

  private account(ipa: number, size: number, add: boolean): void {
    for (let p = ipa / GRANULE, end = (ipa + size) / GRANULE; p < end; p++) {
      if (add) this.mapped.add(p);
      else this.mapped.delete(p);
    }
    this.stats.stage2.mappedPages = this.mapped.size;
    this.stats.stage2.mappedBytes = this.mapped.size * GRANULE;
  }

  /**
   * Remove a mapping, break-before-make: the entries are invalidated first,
   * then every TLB is told by IPA, and only then may a new mapping be made.
   */
  unmap(ipa: number, size: number): BuildResult {
    if (!this.anyMapped(ipa, size)) return { ok: true, leavesWritten: 0, tablesAllocated: 0 };
    const r = this.builder.unmap(ipa, size);
    if (r.ok) {
      this.stats.stage2.unmaps++;
      this.account(ipa, size, false);
      this.stats.stage2.tlbiIpa++;
      this.onInvalidateIpa?.(ipa, size);
    }
    return r;
  }

  /** Change a live mapping's type or permissions: unmap (BBM) then map. */
  remapDevice(ipa: number, pa: number, size: number, type: Exclude<S2MemType, 'normal'>): BuildResult {
    const u = this.unmap(ipa, size);
    if (!u.ok) return u;
    return this.mapDevice(ipa, pa, size, type);
  }
}
