/**
 * The model's TLB: a record of every translation handed to Unicorn, so that
 * (1) Unicorn's 1 KiB-page fills inside one 4 KiB (or larger) leaf cost a Map lookup,
 * not a walk, and (2) TLB maintenance can tell whether Unicorn's TLB must be flushed.
 *
 * Entries are combined stage-1 + stage-2 translations keyed at 4 KiB-page granularity
 * within their leaf region (the region is the smaller of the two leaves: VA, IPA and PA
 * are aligned alike over it), tagged with VMID, ASID or global, and TTBR half (VA[55]).
 * Entries larger than 4 KiB are also indexed by region so that invalidation by VA finds
 * every 4 KiB key of a block.
 *
 * Invalidation follows the Arm ARM (D7.7 [K.a D8.16/C5.5.x] "TLB maintenance instructions"):
 *  VMALLE1 / VMALLS12E1: all entries of a VMID; ALLE1: all VMIDs;
 *  VAE1: entries for the VA with that ASID, and global entries; VAAE1: any ASID;
 *  VALE1 / VAALE1: last level only (this model caches only leaf translations, so the
 *    same as VAE1 / VAAE1 - invalidating more than required is always allowed);
 *  ASIDE1: non-global entries of the ASID; RVAE1 & co.: a VA range (Xt: ASID, TG, SCALE,
 *  NUM, TTL, BaseADDR); IPAS2E1 / RIPAS2E1: entries whose stage-2 leaf covers the IPA
 *  (the architecture only requires stage-2-only entries to go; combined entries are
 *  dropped too, which KVM's "IPAS2E1IS; DSB; VMALLE1IS" sequence would do anyway).
 *  TTL hints are decoded and reported but not used to restrict matching (allowed: a
 *  TTL that does not match may or may not invalidate).
 *
 * Every invalidation returns true when Unicorn's TLB must be flushed
 * (uc_ctl(UC_CTL_TLB_FLUSH)) before the guest runs again: an entry the model handed out
 * was removed, or entries were evicted for capacity since the last flush.
 *
 * Size (~610 lines), why it stays whole: TlbModel is one class whose lookup, insertion and
 * invalidation paths all update the same bookkeeping together (each entry's table and size
 * group, the free list, the removed-page record). Its storage (TlbEntry, EntryTable, the
 * per-VMID space) is tlb-tables.ts; the decoding of a TLBI's Xt operand is tlbi-op.ts.
 */
import { parseTlbi, decodeTlbiIpa, decodeTlbiRange, decodeTlbiVa, type TlbiOperation } from './tlbi-op.js';
import { EntryTable, VmidSpace, blankEntry, type TlbEntry } from './tlb-tables.js';
import type { Access, Regime, TranslateOutcome, TranslationResult } from './translate.js';
import { PERM_R, PERM_W, PERM_X } from './translate.js';
import { POW2 } from './descriptors.js';
import type { FaultType } from './faults.js';

const TWO32 = 4294967296;
const TWO36 = 2 ** 36;
const TWO37 = 2 ** 37;
const TWO38 = 2 ** 38;
const TWO48 = 2 ** 48;

// The entry tables and the Xt decoders moved to their own modules; their names stay part of this one's API.
export { EntryTable, type TlbEntry } from './tlb-tables.js';
export { decodeTlbiIpa, decodeTlbiRange, decodeTlbiVa, type TtlHint } from './tlbi-op.js';

/** Capacity of TlbModel.removedPages, and the count that means "unknown: flush everything". */
export const REMOVED_MAX = 64;
export const REMOVED_UNKNOWN = -1;

export interface TlbStats {
  /** successful walks inserted into the model */
  fills: number;
  /** translations answered from the model */
  hits: number;
  /** invalidation operations performed */
  invalidations: number;
  /** entries removed by invalidation */
  entriesInvalidated: number;
  /** invalidations that required a Unicorn TLB flush */
  unicornFlushes: number;
  /** capacity evictions (whole-model clears) */
  evictions: number;
  /** faults by type, index = level (0..3) */
  faults: Record<FaultType, number[]>;
  /** faults by stage */
  faultsByStage: [number, number, number];
}

function newStats(): TlbStats {
  const z = (): number[] => [0, 0, 0, 0];
  return {
    fills: 0,
    hits: 0,
    invalidations: 0,
    entriesInvalidated: 0,
    unicornFlushes: 0,
    evictions: 0,
    faults: { translation: z(), accessFlag: z(), permission: z(), addressSize: z(), externalAbort: z() },
    faultsByStage: [0, 0, 0],
  };
}

export interface TlbOptions {
  /** maximum entries before the model clears itself (default 65536) */
  capacity?: number;
}

/** Split a VA (Number < 2^53 or BigInt) into halves without allocating for Numbers. */
function vaHalves(va: number | bigint, out: { hi: number; lo: number }): void {
  if (typeof va === 'number') {
    out.hi = Math.floor(va / TWO32);
    out.lo = va >>> 0;
  } else {
    const v = BigInt.asUintN(64, va);
    out.hi = Number(v >> 32n);
    out.lo = Number(v & 0xffff_ffffn);
  }
}

/** VA[47:0] and VA[55] of a BigInt VA. */
function splitVa(va: bigint): { low48: number; ttbr: 0 | 1 } {
  const v = BigInt.asUintN(64, va);
  return { low48: Number(v & 0xffff_ffff_ffffn), ttbr: Number((v >> 55n) & 1n) as 0 | 1 };
}

/** Source of TlbModel's walk-cache generations: unique across models and kinds, so a Regime cannot mistake one model's for another's. */
let generations = 0;

export class TlbModel {
  readonly stats: TlbStats = newStats();
  /**
   * Changes whenever an invalidation may concern stage 2 (clearAll, a VMID, an IPA range): the
   * Regime's stage-2 leaf cache (translate.ts) is valid only under the value it was filled in.
   * TLBIs by VA or ASID leave it (stage 1 only: Arm ARM D8.13 [K.a D8.16], TLBI VAE1 and ASIDE1
   * name stage-1 entries; the stage-2 mapping changes only with the IPA, VMID and ALL forms).
   */
  private s2Generation = ++generations;
  /**
   * Changes with every invalidation but the last-level ones by VA (VALE1, VAALE1, RVALE1,
   * RVAALE1): the Regime's stage-1 walk cache (translate.ts) holds table entries above the last
   * level, which only those leave alone (Arm ARM D8.13 [K.a D8.16]).
   */
  private s1Generation = ++generations;
  private readonly spaces = new Map<number, VmidSpace>();
  private readonly capacity: number;
  private total = 0;
  /** entries were dropped without Unicorn being flushed: the next invalidation must flush */
  private stale = false;
  private readonly hl = { hi: 0, lo: 0 };
  /** entries removed from the tables, reused by insert (no allocation per fill in steady state) */
  private readonly free: TlbEntry[] = [];
  /** the space of the last VMID looked up (spaces are kept until clearAll drops them all) */
  private lastVmid = -1;
  private lastSpace: VmidSpace | null = null;

  constructor(opts: TlbOptions = {}) {
    this.capacity = opts.capacity ?? 65536;
  }

  /**
   * TLBIs the CPU completed natively that this model has not applied yet (the native TLBI front,
   * emulator/unicorn/native/tlb-flush.c): `ctl[0]` of them, applied by `drain` (which zeroes it
   * first, then calls invalidateQueuedVa) before any lookup or invalidation here, so the model
   * never answers from an entry a TLBI already removed.
   */
  queued: { readonly ctl: Uint32Array; drain(): void } | null = null;

  private drainQueued(): void {
    const q = this.queued;
    if (q !== null && q.ctl[0] !== 0) q.drain();
  }

  /**
   * A TLBI by VA the CPU already completed in Unicorn's TLB (the native front flushed the four
   * 1 KiB pages of the 4 KiB page, and no entry larger than 4 KiB covered it): drop the same from
   * the model. Xt in two 32-bit halves. Leaves `stale` alone: the front's flush was exact for the
   * pages it covers, and a later invalidation that needs a whole flush still gets one.
   */
  invalidateQueuedVa(op: TlbiOperation, hi: number, lo: number, vmid: number): void {
    if (!op.lastLevel) this.tablesInvalidated();
    const sp = vmid === this.lastVmid ? this.lastSpace! : this.spaces.get(vmid);
    this.stats.invalidations++;
    if (sp === undefined) return;
    this.removedCount = 0;
    this.stats.entriesInvalidated += this.removeVaPage(sp, ((hi & 0xf) * TWO32 + lo) * 4096, (hi >>> 11) & 1, op.allAsids ? null : hi >>> 16);
  }

  get size(): number {
    return this.total;
  }

  private space(vmid: number): VmidSpace {
    if (vmid === this.lastVmid) return this.lastSpace!;
    let s = this.spaces.get(vmid);
    if (s === undefined) {
      s = new VmidSpace();
      this.spaces.set(vmid, s);
    }
    this.lastVmid = vmid;
    this.lastSpace = s;
    return s;
  }

  /**
   * The fill-hook entry point: answer from the model when possible, else walk
   * (regime.translateHL), insert successful translations, count faults.
   * Returns the regime's reused result/fault object (see Regime.translate).
   */
  translate(regime: Regime, va: number | bigint, access: Access): TranslateOutcome {
    this.drainQueued();
    const hl = this.hl;
    vaHalves(va, hl);
    const vaHi = hl.hi;
    const vaLo = hl.lo;
    const s1 = regime.stage1;
    const s2 = regime.stage2;
    const flat = !s1.enabled || (s2.enabled && s2.dc);
    const vmid = s2.enabled ? s2.vmid : 0;
    const key = ((vaHi >>> 23) & 1) * TWO36 + (vaHi & 0xffff) * 1048576 + (vaLo >>> 12);
    const e = this.lookupKey(vmid, flat ? -1 : s1.asid, flat, key, vaHi >>> 16);
    const need = access.kind === 'fetch' ? PERM_X : access.kind === 'write' ? PERM_W : PERM_R;
    const el = access.unprivileged === true ? 0 : access.el;
    if (e !== undefined) {
      const perms = el === 0 ? e.permsEl0 : e.permsEl1;
      if ((perms & need) !== 0) {
        this.stats.hits++;
        const r = regime.result;
        const off = (vaHi & 0xffff) * TWO32 + vaLo - e.regionBase;
        r.va = va;
        r.ipa = e.ipaBase + off;
        r.pa = e.paBase + off;
        r.perms = perms;
        r.permsEl1 = e.permsEl1;
        r.permsEl0 = e.permsEl0;
        r.sizeLog2 = e.sizeLog2;
        r.s1Level = e.s1Level;
        r.s1SizeLog2 = e.s1SizeLog2;
        r.s2Level = e.s2Level;
        r.s2SizeLog2 = e.s2SizeLog2;
        r.asid = s1.asid;
        r.vmid = e.vmid;
        r.nG = !e.global;
        r.global = e.global;
        r.ttbr = e.ttbr;
        r.attrs = e.attrs;
        r.walk = null;
        return r;
      }
      // not permitted by the cached entry: walk again for the exact fault (faults are never cached)
    }
    const out = regime.translateHL(va, vaHi, vaLo, access, undefined, this.s2Generation, this.s1Generation);
    if (out.ok) {
      // cache maintenance skips the Access flag check: never cache what it returns
      if (access.cacheMaintenance !== true) this.insert(out, vaHi, vaLo, flat);
    } else {
      this.stats.faults[out.type][out.level & 3]!++;
      this.stats.faultsByStage[out.stage]++;
    }
    return out;
  }

  /**
   * Take back the count of a fault translate() just reported that turned out not to be one: a
   * stage-2 translation fault on a page the EL2 model answers natively (the console window,
   * emulator/cpu/fill-handler.ts). Its refills follow Unicorn's TLB, which QEMU sizes by host time.
   */
  forgetFault(type: FaultType, stage: 1 | 2, level: number): void {
    this.stats.faults[type][level & 3]!--;
    this.stats.faultsByStage[stage]--;
  }

  /** Look up the entry for a VA in the current context (debugger / tests). */
  lookup(regime: Regime, va: number | bigint): TlbEntry | undefined {
    this.drainQueued();
    vaHalves(va, this.hl);
    const { hi, lo } = this.hl;
    const s1 = regime.stage1;
    const s2 = regime.stage2;
    const flat = !s1.enabled || (s2.enabled && s2.dc);
    const key = ((hi >>> 23) & 1) * TWO36 + (hi & 0xffff) * 1048576 + (lo >>> 12);
    return this.lookupKey(s2.enabled ? s2.vmid : 0, flat ? -1 : s1.asid, flat, key, hi >>> 16);
  }

  /**
   * The PA the model's entry for `va` gives a read at `el`, or -1 when it holds none that permits
   * one (then the caller walks). Counts nothing and inserts nothing: for cache maintenance by VA
   * (IC IVAU), which may use any translation the TLB holds (Arm ARM D8.13 [K.a D5.8]: a TLB entry
   * stays usable until it is invalidated), where a walk cost ~1 us per instruction.
   */
  readPa(regime: Regime, va: number, el: number): number {
    const e = this.lookup(regime, va);
    if (e === undefined || ((el === 0 ? e.permsEl0 : e.permsEl1) & PERM_R) === 0) return -1;
    const { hi, lo } = this.hl;
    return e.paBase + ((hi & 0xffff) * TWO32 + lo - e.regionBase);
  }

  private lookupKey(vmid: number, asid: number, flat: boolean, key: number, vaTop: number): TlbEntry | undefined {
    const sp = vmid === this.lastVmid ? this.lastSpace! : this.spaces.get(vmid);
    if (sp === undefined) return undefined;
    let e: TlbEntry | undefined;
    if (flat) e = sp.flat.get(key);
    else {
      e = sp.global.get(key);
      if (e === undefined) e = sp.asids.get(asid)?.get(key);
    }
    if (e !== undefined && e.vaTop !== vaTop) return undefined;
    return e;
  }

  /** Record a successful translation (done by translate(); public for callers that walk themselves). */
  insert(r: TranslationResult, vaHi: number, vaLo: number, flat: boolean): TlbEntry {
    if (this.total >= this.capacity) {
      this.clearAll();
      this.stats.evictions++;
      this.stale = true;
    }
    const sp = this.space(r.vmid);
    const low48 = (vaHi & 0xffff) * TWO32 + vaLo;
    const size = POW2[r.sizeLog2]!;
    const regionBase = Math.floor(low48 / size) * size;
    const off = low48 - regionBase;
    const key = r.ttbr * TWO36 + Math.floor(low48 / 4096);
    const map = flat ? sp.flat : r.global ? sp.global : sp.asidMap(r.asid);
    const e = this.free.length > 0 ? this.free.pop()! : blankEntry(r.attrs);
    e.key = key;
    e.vaTop = vaHi >>> 16;
    e.ttbr = r.ttbr;
    e.regionBase = regionBase;
    e.sizeLog2 = r.sizeLog2;
    e.ipaBase = r.ipa - off;
    e.paBase = r.pa - off;
    e.permsEl1 = r.permsEl1;
    e.permsEl0 = r.permsEl0;
    e.s1Level = r.s1Level;
    e.s1SizeLog2 = r.s1SizeLog2;
    e.s2Level = r.s2Level;
    e.s2SizeLog2 = r.s2SizeLog2;
    e.s2LeafIpa = r.s2Level < 0 ? -1 : Math.floor(r.ipa / POW2[r.s2SizeLog2]!) * POW2[r.s2SizeLog2]!;
    e.asid = r.asid;
    e.global = flat || r.global;
    e.flat = flat;
    e.vmid = r.vmid;
    e.attrs = r.attrs;
    e.map = map;
    e.groupKey = -1;
    const old = map.set(key, e);
    if (old !== undefined) this.detach(sp, old);
    if (r.sizeLog2 > 12) {
      const gk = r.sizeLog2 * TWO38 + r.ttbr * TWO37 + Math.floor(low48 / size);
      e.groupKey = gk;
      let g = sp.groups.get(gk);
      if (g === undefined) {
        g = new Set();
        sp.groups.set(gk, g);
      }
      g.add(e);
      sp.sizes.add(r.sizeLog2);
    }
    sp.count++;
    this.total++;
    this.stats.fills++;
    return e;
  }

  private remove(sp: VmidSpace, e: TlbEntry): void {
    const m = e.map;
    if (m === null) return; // already removed
    this.recordRemoved(e);
    if (m.get(e.key) === e) {
      m.delete(e.key);
      sp.count--;
      this.total--;
    }
    this.release(sp, e);
  }

  /** Drop an entry from its size group and return it to the free list. */
  private release(sp: VmidSpace, e: TlbEntry): void {
    if (e.groupKey >= 0) {
      const g = sp.groups.get(e.groupKey);
      if (g !== undefined) {
        g.delete(e);
        if (g.size === 0) sp.groups.delete(e.groupKey);
      }
    }
    e.map = null;
    this.free.push(e);
  }

  /** The bookkeeping of remove() for an entry already replaced in its table by set(). */
  private detach(sp: VmidSpace, e: TlbEntry): void {
    sp.count--;
    this.total--;
    this.release(sp, e);
  }


  /**
   * The 4 KiB VA pages (signed VAs) of the entries the last invalidation by VA removed, so that
   * Unicorn's TLB can be flushed page by page (every Unicorn entry was filled from a model entry
   * keyed by its 4 KiB page): `removedCount` of them in `removedPages`, or REMOVED_UNKNOWN when
   * more were removed than fit or entries were evicted for capacity (then only a whole flush is exact).
   */
  readonly removedPages = new Float64Array(REMOVED_MAX);
  removedCount = 0;

  private recordRemoved(e: TlbEntry): void {
    const n = this.removedCount;
    if (n === REMOVED_UNKNOWN) return;
    if (n === REMOVED_MAX) {
      this.removedCount = REMOVED_UNKNOWN;
      return;
    }
    const top = e.vaTop >= 0x8000 ? e.vaTop - 0x1_0000 : e.vaTop;
    this.removedPages[n] = top * TWO48 + (e.key % TWO36) * 4096;
    this.removedCount = n + 1;
  }

  private done(removed: number): boolean {
    this.stats.invalidations++;
    this.stats.entriesInvalidated += removed;
    if (this.stale) this.removedCount = REMOVED_UNKNOWN;
    const flush = removed > 0 || this.stale;
    if (flush) {
      this.stats.unicornFlushes++;
      this.stale = false;
    }
    return flush;
  }

  /** An invalidation that may reach stage-1 table entries above the last level: the stage-1 walk cache goes. */
  private tablesInvalidated(): void {
    this.s1Generation = ++generations;
  }
  /** An invalidation that may reach stage 2 (ALL, a VMID, an IPA range): both walk caches go. */
  private stage2Invalidated(): void {
    this.s2Generation = ++generations;
    this.s1Generation = ++generations;
  }

  private clearAll(): number {
    this.stage2Invalidated();
    const n = this.total;
    for (const sp of this.spaces.values()) sp.reset(this.free);
    if (this.spaces.size > 16) {
      this.spaces.clear();
      this.lastVmid = -1;
      this.lastSpace = null;
    }
    this.total = 0;
    return n;
  }

  /** Tell the model that Unicorn's TLB was flushed for another reason (clears the stale flag). */
  unicornFlushed(): void {
    this.stale = false;
  }

  // ---- invalidation -----------------------------------------------------------------------

  /** TLBI ALLE1 (all VMIDs, all ASIDs). */
  invalidateAll(): boolean {
    this.drainQueued();
    return this.done(this.clearAll());
  }

  /** TLBI VMALLE1 / VMALLS12E1 for one VMID (this model's entries are combined). */
  invalidateVmid(vmid: number): boolean {
    this.stage2Invalidated();
    const sp = this.spaces.get(vmid);
    if (sp === undefined) return this.done(0);
    const n = sp.count;
    sp.reset(this.free);
    this.total -= n;
    return this.done(n);
  }

  /** TLBI ASIDE1: non-global entries of `asid` in `vmid`. */
  invalidateAsid(vmid: number, asid: number): boolean {
    this.tablesInvalidated();
    const sp = this.spaces.get(vmid);
    const m = sp?.asids.get(asid);
    if (sp === undefined || m === undefined) return this.done(0);
    let n = 0;
    for (const e of m.values()) {
      this.remove(sp, e);
      n++;
    }
    return this.done(n);
  }

  private matchAsid(e: TlbEntry, asid: number | null): boolean {
    return asid === null || e.global || e.asid === asid;
  }

  /** Remove the entry for `key` in table m if it matches asid (null = any): 1 if removed, else 0. */
  private removeKey(sp: VmidSpace, m: EntryTable | undefined, key: number, asid: number | null): number {
    const e = m?.get(key);
    if (e === undefined || !this.matchAsid(e, asid)) return 0;
    this.remove(sp, e);
    return 1;
  }

  /** remove entries covering VA page (low48, ttbr) that match asid (null = any); returns count */
  private removeVaPage(sp: VmidSpace, low48: number, ttbr: number, asid: number | null): number {
    // No closure or iterator object per call: a Linux boot executes ~43k TLBI by VA.
    const key = ttbr * TWO36 + Math.floor(low48 / 4096);
    let n = this.removeKey(sp, sp.flat, key, asid) + this.removeKey(sp, sp.global, key, asid);
    if (asid === null) {
      if (sp.asids.size > 0) for (const m of sp.asids.values()) n += this.removeKey(sp, m, key, asid);
    } else n += this.removeKey(sp, sp.asids.get(asid), key, asid);
    if (sp.sizes.size > 0) n += this.removeBlocks(sp, low48, ttbr, asid);
    return n;
  }

  /** The entries of blocks larger than 4 KiB covering the VA page (each 4 KiB key of a block is its own entry). */
  private removeBlocks(sp: VmidSpace, low48: number, ttbr: number, asid: number | null): number {
    let n = 0;
    for (const s of sp.sizes) {
      const g = sp.groups.get(s * TWO38 + ttbr * TWO37 + Math.floor(low48 / POW2[s]!));
      if (g === undefined) continue;
      for (const e of [...g]) {
        if (this.matchAsid(e, asid)) {
          this.remove(sp, e);
          n++;
        }
      }
    }
    return n;
  }

  /**
   * TLBI VAE1 / VALE1 (asid given) or VAAE1 / VAALE1 (asid null) for a VA.
   * `lastLevel` is accepted for the record; leaf-only entries make it equivalent.
   */
  invalidateVa(vmid: number, va: bigint, asid: number | null, lastLevel = false): boolean {
    if (!lastLevel) this.tablesInvalidated();
    const sp = this.spaces.get(vmid);
    if (sp === undefined) return this.done(0);
    const { low48, ttbr } = splitVa(va);
    return this.done(this.removeVaPage(sp, low48, ttbr, asid));
  }

  /**
   * invalidateVa with the operands of a TLBI by VA already decoded (VA[47:0] of the page, VA[55]):
   * what invalidate() does for the 'va' forms, without a BigInt or an object per call.
   */
  private invalidateVaPage(vmid: number, low48: number, ttbr: number, asid: number | null): boolean {
    const sp = vmid === this.lastVmid ? this.lastSpace! : this.spaces.get(vmid);
    if (sp === undefined) return this.done(0);
    return this.done(this.removeVaPage(sp, low48, ttbr, asid));
  }

  /** Range form: every entry overlapping [start, start + length) (VA, TTBR half of start). */
  invalidateVaRange(vmid: number, start: bigint, length: number, asid: number | null, lastLevel = false): boolean {
    if (!lastLevel) this.tablesInvalidated();
    const sp = this.spaces.get(vmid);
    if (sp === undefined) return this.done(0);
    const { low48, ttbr } = splitVa(start);
    const end = Math.min(low48 + length, 2 ** 48);
    let n = 0;
    if (length / 4096 <= 512) {
      for (let a = low48 - (low48 % 4096); a < end; a += 4096) n += this.removeVaPage(sp, a, ttbr, asid);
    } else {
      for (const m of sp.maps()) {
        for (const e of m.values()) {
          if (e.ttbr !== ttbr || !this.matchAsid(e, asid)) continue;
          if (e.regionBase < end && e.regionBase + POW2[e.sizeLog2]! > low48) {
            this.remove(sp, e);
            n++;
          }
        }
      }
    }
    return this.done(n);
  }

  /** TLBI IPAS2E1 / IPAS2LE1 (length 1) and RIPAS2E1 (range): entries whose stage-2 leaf overlaps. */
  invalidateIpa(vmid: number, ipa: number, length = 1, lastLevel = false): boolean {
    void lastLevel;
    this.stage2Invalidated();
    const sp = this.spaces.get(vmid);
    if (sp === undefined) return this.done(0);
    let n = 0;
    const end = ipa + length;
    for (const m of sp.maps()) {
      for (const e of m.values()) {
        if (e.s2LeafIpa < 0) continue;
        if (e.s2LeafIpa < end && e.s2LeafIpa + POW2[e.s2SizeLog2]! > ipa) {
          this.remove(sp, e);
          n++;
        }
      }
    }
    return this.done(n);
  }

  /** Execute a TLBI by mnemonic (IS/OS/NXS suffixes accepted) with its Xt and the current VMID. */
  tlbi(op: string, xt: bigint, vmid: number): boolean {
    return this.invalidate(parseTlbi(op), xt, vmid);
  }

  /** Execute a TLB maintenance operation with its Xt and the current VMID (D8.13: what each form removes). */
  invalidate(op: TlbiOperation, xt: bigint, vmid: number): boolean {
    this.drainQueued();
    this.removedCount = op.scope === 'va' || op.scope === 'va-range' ? 0 : REMOVED_UNKNOWN;
    switch (op.scope) {
      case 'all':
        return this.invalidateAll();
      case 'vmid':
        return this.invalidateVmid(vmid);
      case 'asid':
        return this.invalidateAsid(vmid, decodeTlbiVa(xt).asid);
      case 'va': {
        if (!op.lastLevel) this.tablesInvalidated();
        // Xt as decodeTlbiVa reads it (ASID [63:48], VA[55:12] in [43:0]), in two 32-bit halves:
        // VA[47:0] = Xt[35:0] << 12 and VA[55] = Xt[43] (the TTBR half).
        const hi = Number(BigInt.asUintN(64, xt) >> 32n);
        const lo = Number(BigInt.asUintN(32, xt));
        return this.invalidateVaPage(vmid, ((hi & 0xf) * TWO32 + lo) * 4096, (hi >>> 11) & 1, op.allAsids ? null : hi >>> 16);
      }
      case 'va-range': {
        const d = decodeTlbiRange(xt);
        if (d.length === 0) return this.done(0); // TG = 0b00 reserved: no invalidation required
        return this.invalidateVaRange(vmid, d.base, d.length, op.allAsids ? null : d.asid, op.lastLevel);
      }
      case 'ipa':
        return this.invalidateIpa(vmid, decodeTlbiIpa(xt).ipa, 1, op.lastLevel);
      case 'ipa-range': {
        const d = decodeTlbiRange(xt);
        if (d.length === 0) return this.done(0);
        return this.invalidateIpa(vmid, Number(d.base & 0xffff_ffff_ffffn), d.length, op.lastLevel);
      }
    }
  }
}
