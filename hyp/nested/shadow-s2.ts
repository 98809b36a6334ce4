/**
 * Shadow stage 2 for a guest hypervisor (seed 003, KVM "nv: Shadow stage-2 page table
 * handling"): for each {VMID, VTTBR, VTCR} context L1 runs L2 with, one shadow MMU whose
 * tables map L2's IPAs straight to host PAs: the composition of L1's stage 2 (tables in
 * guest memory, walked with the one walker, each table address itself translated by our
 * stage 2) and ours. Shadows are built one fault at a time and behave as TLBs: they are
 * kept in a bounded array, recycled least-recently-used, and torn down (in part or
 * whole) by L1's TLB maintenance, never by L1's table writes alone.
 *
 * A shadow MMU is an ordinary stage-2 config (its own VMID: ours, not L1's) whose tables
 * live in a host-owned pool no IPA maps to, so the MMU model and the model TLB use it as
 * they use our own stage 2; entries the model TLB built from a shadow are tagged with the
 * shadow's VMID, which is how TLB maintenance finds exactly those of the right L1 VMID.
 *
 * One shadow MMU (its tables, entries and L1 context) is shadow-mmu.ts; this file holds the set
 * of them, the fault path that fills them and the TLBI emulation that empties them.
 *
 * Arm ARM: D8.2 (stage-2 translation), D8.4.3 (stage-2 permissions), D8.6.5/D8.6.6
 * (memory types, FWB; see compose.ts), D8.13 [K.a D8.16] and C5.5 (TLB maintenance).
 */
import { Walker, WALK_STOPPED, WALK_ADDRESS_SIZE, WALK_EXTERNAL_ABORT, WALK_RESOLVER_FAULT, type WalkParams, type TableResolver } from '../../emulator/mmu/walker.js';
import { decodeStage2, type Stage2Config } from '../../emulator/mmu/config.js';
import { levelShift, outputAddress, oaExceeds, DESC_AF, KIND_INVALID, POW2 } from '../../emulator/mmu/descriptors.js';
import { RamDescriptorMemory, type DescriptorMemory, type RamBlock } from '../../emulator/mmu/memory.js';
import { stage2Perms, S2Visitor, PERM_R, PERM_W, PERM_X, type AccessKind } from '../../emulator/mmu/translate.js';
import type { FaultType } from '../../emulator/mmu/faults.js';
import { decodeTlbiIpa, decodeTlbiRange } from '../../emulator/mmu/tlb.js';
import { composeS2MemAttr, intersectS2Perms } from './compose.js';
import { GRANULE, ShadowS2Mmu, type L1S2Context, type ShadowEntry } from './shadow-mmu.js';
import type { TlbiOp, TlbiScope } from './tlbi.js';

/**
 * Host-physical base of the shadow table pools: 2 GiB above our stage-2 pool
 * (S2_POOL_BASE, the last 4 GiB of the 40-bit PA space), never an IPA: guest
 * RAM (--mem up to 1019G) ends below both.
 */
export const SHADOW_POOL_BASE = 0xff_8000_0000;
/** Our VMIDs for shadow MMUs: SHADOW_VMID_BASE + slot (our own VM is VMID 1). */
export const SHADOW_VMID_BASE = 0x100;

export { ShadowS2Mmu, type L1S2Context, type ShadowEntry };

/** Our own stage 2 as the shadow code reads it: the config and the memory its tables live in. */
export interface HostStage2View {
  config: Stage2Config;
  mem: DescriptorMemory;
}

/** What the shadows tell the model TLB (TlbModel implements it). */
export interface ShadowTlbSink {
  invalidateVmid(vmid: number): boolean;
  invalidateIpa(vmid: number, ipa: number, length?: number, lastLevel?: boolean): boolean;
  /** stage-1 maintenance by VA / ASID, as TlbModel.tlbi */
  tlbi(op: string, xt: bigint, vmid: number): boolean;
}

export type FillOutcome =
  | { kind: 'mapped'; entry: ShadowEntry; perms: number; memAttr: number; l1Pa: number; hostPa: number }
  /** L1's stage 2 faults: deliver a stage-2 abort to L1 (ESR_EL2/FAR_EL2/HPFAR_EL2) */
  | { kind: 'l1-fault'; type: FaultType; level: number; ipa: number; detail: string }
  /** our stage 2 has nothing (or forbids the access) at `ipa` (an L1 PA): map RAM or emulate MMIO, then retry */
  | { kind: 'host-fault'; ipa: number; forL1Walk: boolean; permission: boolean };

export interface ShadowStats {
  shadowMmus: number;
  shadowFaults: number;
  shadowMaps: number;
  recycled: number;
  resets: number;
  tlbi: Record<string, number>;
}

export interface NestedS2Options {
  /** guest RAM, addressed by host PA (where L1's tables are read from) */
  guestMem: DescriptorMemory;
  /** our stage 2 now (config + table memory) */
  host: () => HostStage2View;
  tlb: ShadowTlbSink;
  /** how many shadow MMUs at most (seed 003: a bounded array, recycled LRU) */
  capacity?: number;
  /** table pages per shadow MMU */
  poolPages?: number;
}

/** The set of shadow MMUs, the fault path that fills them and the TLBI emulation that empties them. */
export class NestedS2 {
  readonly mmus: ShadowS2Mmu[] = [];
  readonly pool: RamBlock;
  readonly poolMem: RamDescriptorMemory;
  readonly stats: ShadowStats = { shadowMmus: 0, shadowFaults: 0, shadowMaps: 0, recycled: 0, resets: 0, tlbi: {} };
  private clock = 0;
  private readonly l1Walker = new Walker();
  private readonly hostWalker = new Walker();
  private readonly leaf = new S2Visitor();
  private readonly resolver: TableResolver;
  private readonly l1Params: WalkParams;
  private readonly hostParams: WalkParams;
  private hostFaultIpa = -1;
  private host!: HostStage2View;
  // output of hostLookup
  private hPa = 0;
  private hLo = 0;
  private hHi = 0;
  private hSize = 0;
  private readonly capacity: number;
  private readonly removed: ShadowEntry[] = [];

  constructor(private readonly o: NestedS2Options) {
    this.capacity = o.capacity ?? 8;
    const pages = o.poolPages ?? 256;
    this.pool = { base: SHADOW_POOL_BASE, bytes: new Uint8Array(this.capacity * pages * GRANULE) };
    this.poolMem = new RamDescriptorMemory(this.pool);
    for (let i = 0; i < this.capacity; i++) {
      this.mmus.push(new ShadowS2Mmu(i, SHADOW_VMID_BASE + i, this.poolMem, SHADOW_POOL_BASE + i * pages * GRANULE, pages));
    }
    const self = this;
    this.resolver = {
      resolveDescriptor(name: number): number {
        if (self.hostLookup(name)) return self.hPa;
        self.hostFaultIpa = name;
        return -1;
      },
    };
    this.l1Params = { geometry: decodeStage2({ vtcr: 0n, vttbr: 0n, hcr: 0n }).geometry, mem: o.guestMem, root: 0, resolver: this.resolver };
    this.hostParams = { geometry: this.l1Params.geometry, mem: o.guestMem, root: 0 };
  }

  /**
   * The shadow MMU for an L1 context (on every entry to L2): found, or a free slot
   * assigned, or the least recently used one recycled (its VMID invalidated first).
   */
  select(l1: L1S2Context): ShadowS2Mmu {
    const now = ++this.clock;
    let victim: ShadowS2Mmu | null = null;
    for (const m of this.mmus) {
      if (m.matches(l1)) {
        m.lastUsed = now;
        return m;
      }
      if (victim === null || (!m.inUse && victim.inUse) || (m.inUse === victim.inUse && m.lastUsed < victim.lastUsed)) victim = m;
    }
    const m = victim!;
    if (m.inUse) {
      this.stats.recycled++;
      this.o.tlb.invalidateVmid(m.vmid);
    } else this.stats.shadowMmus++;
    m.assign(l1);
    m.lastUsed = now;
    return m;
  }

  /** Walk our stage 2 for `ipa` (an L1 PA); fills hPa/hLo/hHi/hSize. */
  private hostLookup(ipa: number): boolean {
    const h = this.host;
    const c = h.config;
    if (!c.enabled) {
      this.hPa = ipa;
      this.hLo = (0xf << 2) | (3 << 6) | DESC_AF; // Normal WB, RW, executable: no restriction
      this.hHi = 0;
      this.hSize = 2 ** 30;
      return true;
    }
    if (c.misconfigured !== null || ipa >= POW2[c.geometry.inputBits]!) return false;
    const p = this.hostParams;
    p.geometry = c.geometry;
    p.mem = h.mem;
    p.root = c.tableBase;
    p.rootHi = c.baseHi;
    if (this.hostWalker.walkLeaf(p, ipa) !== WALK_STOPPED) return false;
    const x = this.hostWalker.ctx;
    if (x.kind === KIND_INVALID || (x.lo & DESC_AF) === 0 || oaExceeds(x.hi, c.geometry.oaBits)) return false;
    this.hLo = x.lo;
    this.hHi = x.hi;
    this.hSize = POW2[levelShift(c.geometry.granuleBits, x.level)]!;
    this.hPa = outputAddress(x.lo, x.hi, c.geometry.granuleBits, x.level) + (ipa - x.ia);
    return true;
  }

  /**
   * A stage-2 fault on `ipa` while L2 ran in `mmu`'s context (a shadow miss, or a
   * permission fault on a shadow entry): walk L1's stage 2, then ours, compose, install.
   */
  fill(mmu: ShadowS2Mmu, ipa: number, access: AccessKind, el: 0 | 1): FillOutcome {
    this.stats.shadowFaults++;
    mmu.faults++;
    this.host = this.o.host();
    const c = mmu.l1Config;
    const l1Fault = (type: FaultType, level: number, detail: string): FillOutcome => ({ kind: 'l1-fault', type, level, ipa, detail });
    if (c.misconfigured !== null) return l1Fault('translation', 0, c.misconfigured);
    if (ipa >= POW2[c.geometry.inputBits]!) return l1Fault('translation', 0, `IPA above L1's ${c.geometry.inputBits}-bit stage-2 input range`);
    const p = this.l1Params;
    p.geometry = c.geometry;
    p.root = c.tableBase;
    p.rootHi = c.baseHi;
    this.hostFaultIpa = -1;
    const st = this.l1Walker.walkOne(p, ipa, this.leaf);
    if (st === WALK_RESOLVER_FAULT) return { kind: 'host-fault', ipa: this.hostFaultIpa, forL1Walk: true, permission: false };
    if (st === WALK_ADDRESS_SIZE) return l1Fault('addressSize', this.l1Walker.faultLevel, 'L1 stage-2 table address above its PS');
    if (st === WALK_EXTERNAL_ABORT) return l1Fault('externalAbort', this.l1Walker.faultLevel, 'L1 stage-2 descriptor in unbacked memory');
    if (st !== WALK_STOPPED) return l1Fault('translation', this.l1Walker.faultLevel, 'L1 stage-2 walk found no entry');
    const lf = this.leaf;
    const gb = c.geometry.granuleBits;
    if (lf.leafKind === KIND_INVALID) return l1Fault('translation', lf.leafLevel, `invalid L1 stage-2 descriptor at level ${lf.leafLevel}`);
    if (oaExceeds(lf.leafHi, c.geometry.oaBits)) return l1Fault('addressSize', lf.leafLevel, 'L1 stage-2 output address above its PS');
    if ((lf.leafLo & DESC_AF) === 0) return l1Fault('accessFlag', lf.leafLevel, `L1 stage-2 AF = 0 at level ${lf.leafLevel}`);
    const need = access === 'fetch' ? PERM_X : access === 'write' ? PERM_W : PERM_R;
    const l1Perms = stage2Perms(lf.leafLo, lf.leafHi, c.xnx);
    if ((((el === 0 ? l1Perms >>> 3 : l1Perms) & 7) & need) === 0) return l1Fault('permission', lf.leafLevel, `L1 stage 2 does not permit ${access} at EL${el}`);
    const l1Lo = lf.leafLo;
    const l1Hi = lf.leafHi;
    const l1Level = lf.leafLevel;
    const l1Size = POW2[levelShift(gb, l1Level)]!;
    const l1LeafIpa = lf.leafIa;
    const l1Pa = outputAddress(l1Lo, l1Hi, gb, l1Level) + (ipa - l1LeafIpa);
    if (!this.hostLookup(l1Pa)) return { kind: 'host-fault', ipa: l1Pa, forL1Walk: false, permission: false };
    const hostPerms = stage2Perms(this.hLo, this.hHi, this.host.config.xnx);
    if ((((el === 0 ? hostPerms >>> 3 : hostPerms) & 7) & need) === 0) return { kind: 'host-fault', ipa: l1Pa, forL1Walk: false, permission: true };
    // The shadow leaf covers the smaller of both leaves: aligned alike in IPA, L1 PA and host PA.
    const size = Math.min(l1Size, this.hSize);
    const base = Math.floor(ipa / size) * size;
    const entry: ShadowEntry = { ipa: base, size, pa: this.hPa - (ipa - base), l1LeafIpa, l1LeafSize: l1Size, l1Level };
    const perms = intersectS2Perms(l1Lo, l1Hi, this.hLo, this.hHi, c.xnx && this.host.config.xnx);
    const memAttr = composeS2MemAttr((l1Lo >>> 2) & 0xf, mmu.l1.fwb, (this.hLo >>> 2) & 0xf, this.host.config.fwb);
    // A refill over a live entry (a permission fault L1 fixed, or a remap L1 invalidated
    // only partially) replaces it break-before-make: old entry out of the shadow and the TLB first.
    this.dropRange(mmu, base, base + size, false);
    if (!mmu.install(entry, perms, memAttr)) {
      // pool exhausted: discard the whole shadow, like a full TLB, and start again
      this.resetMmu(mmu);
      if (!mmu.install(entry, perms, memAttr)) throw new Error('shadow stage 2: an empty pool cannot hold one leaf');
    }
    this.stats.shadowMaps++;
    return { kind: 'mapped', entry, perms, memAttr, l1Pa, hostPa: this.hPa };
  }

  private dropRange(mmu: ShadowS2Mmu, start: number, end: number, byL1Leaf: boolean): number {
    const out = this.removed;
    out.length = 0;
    mmu.removeOverlapping(start, end, byL1Leaf, out);
    for (const e of out) this.o.tlb.invalidateIpa(mmu.vmid, e.ipa, e.size);
    const n = out.length;
    out.length = 0;
    return n;
  }

  private resetMmu(mmu: ShadowS2Mmu): void {
    this.stats.resets++;
    mmu.reset();
    this.o.tlb.invalidateVmid(mmu.vmid);
  }

  /** The shadow MMUs built for L1's VMID `vmid`. */
  private forVmid(vmid: number, fn: (m: ShadowS2Mmu) => void): number {
    let n = 0;
    for (const m of this.mmus) {
      if (m.inUse && m.l1Vmid === vmid) {
        m.tlbi++;
        fn(m);
        n++;
      }
    }
    return n;
  }

  /**
   * Emulate one TLBI L1 executed (virtual EL2) with operand `xt`, L1's current
   * VTTBR_EL2 VMID `vmid`. Returns the shadow entries removed (whole-MMU resets count
   * their entries) and which of our VMIDs were touched. EL2-regime forms are the
   * caller's (L1's own stage 1): scope 'el2' does nothing here.
   */
  tlbi(op: TlbiOp, xt: bigint, vmid: number): { scope: TlbiScope; removed: number; vmids: number[] } {
    this.stats.tlbi[op.base] = (this.stats.tlbi[op.base] ?? 0) + 1;
    const vmids: number[] = [];
    let removed = 0;
    const tlb = this.o.tlb;
    switch (op.scope) {
      case 'alle1':
        // D8.13: all EL1&0 entries of every VMID, both stages
        for (const m of this.mmus) {
          if (!m.inUse) continue;
          removed += m.entries.size;
          this.resetMmu(m);
          vmids.push(m.vmid);
        }
        break;
      case 'vmalls12e1':
        // stage 1 and stage 2 of the current VMID: every shadow of that VMID goes
        this.forVmid(vmid, (m) => {
          removed += m.entries.size;
          this.resetMmu(m);
          vmids.push(m.vmid);
        });
        break;
      case 'vmalle1':
        // stage 1 only: the shadows stay; the combined entries of that VMID leave the TLB
        this.forVmid(vmid, (m) => {
          tlb.invalidateVmid(m.vmid);
          vmids.push(m.vmid);
        });
        break;
      case 'va-e1':
        this.forVmid(vmid, (m) => {
          tlb.tlbi(op.base, xt, m.vmid);
          vmids.push(m.vmid);
        });
        break;
      case 'ipas2': {
        // by IPA: the entries built from L1's leaf covering the IPA; a TTL hint names that
        // leaf's level, and we invalidate its whole size (a superset is always allowed)
        const d = decodeTlbiIpa(xt);
        let start = d.ipa;
        let end = d.ipa + 1;
        if (d.ttl !== null && d.ttl.level > 0) {
          const sz = POW2[levelShift(d.ttl.granuleBits, d.ttl.level)]!;
          start = Math.floor(d.ipa / sz) * sz;
          end = start + sz;
        }
        this.forVmid(vmid, (m) => {
          removed += this.dropRange(m, start, end, true);
          vmids.push(m.vmid);
        });
        break;
      }
      case 'ripas2': {
        const d = decodeTlbiRange(xt);
        if (d.length === 0) break; // TG = 0b00 reserved: no invalidation required
        const start = Number(d.base & 0xffff_ffff_ffffn);
        this.forVmid(vmid, (m) => {
          removed += this.dropRange(m, start, start + d.length, true);
          vmids.push(m.vmid);
        });
        break;
      }
      case 'el2':
        break;
    }
    return { scope: op.scope, removed, vmids };
  }
}
