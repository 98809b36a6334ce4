/**
 * LPIs in the GICv3 Redistributors (Arm IHI0069, chapter 5 "Locality-specific Peripheral
 * Interrupts and the ITS", 5.1 "LPIs"): each Redistributor finds its LPIs' configuration and
 * pending state in two tables in guest memory, named by GICR_PROPBASER and GICR_PENDBASER
 * (12.11 "GICR_PROPBASER", "GICR_PENDBASER") and used while GICR_CTLR.EnableLPIs is 1.
 *
 * - LPI Configuration table (5.1.1 "LPI Configuration tables"): one byte per LPI from INTID 8192,
 *   bit 0 Enable, bits [7:2] Priority (bit 1 RES1). The model reads it from memory; a change
 *   takes effect at the next invalidation (ITS INV/INVALL, EnableLPIs written) or whenever the
 *   Redistributor next rescans, which the architecture allows ("not guaranteed to be visible
 *   until an appropriate invalidation operation has completed").
 * - LPI Pending table (5.1.2 "LPI Pending tables"): one bit per INTID; the first 1 KiB (INTIDs
 *   below 8192) is not used. **The pending state lives there**, in guest memory, not in the model:
 *   a set LPI sets its bit, an acknowledge clears it, and turning EnableLPIs on scans the table,
 *   so pending bits written by software before (kvm-unit-tests its-pending-migration) are taken,
 *   and machine snapshots carry LPI state with guest RAM. GICR_PENDBASER.PTZ is accepted and
 *   ignored (the table is always read: a zero table reads as zero).
 * - LPIs are always Group 1 (5.1 "LPIs": "LPIs are always Non-secure Group 1 interrupts" with
 *   GICD_CTLR.DS = 1), edge-triggered, and have no active state: ICC_IAR1_EL1 returning an LPI
 *   clears its pending bit (4.1 "Interrupt lifecycle"), ICC_EOIR1_EL1 only drops the priority.
 *
 * The model caches each PE's highest-priority pending enabled LPI (`best`) and rescans the table
 * only when that cache was invalidated (its LPI acknowledged or cleared, an invalidation command,
 * EnableLPIs or PROPBASER written), so interrupts that are not LPIs cost nothing extra.
 *
 * INTID space: GICD_TYPER.IDbits = 15 (16 bits): LPIs 8192-65535. GICR_PROPBASER.IDbits limits
 * it further per Redistributor; below 13 (fewer than 14 bits) no LPI is in range (12.11
 * "GICR_PROPBASER": "If the value of this field is less than 0b1101 ... all LPIs are out of range").
 */

/** "No interrupt" (IHI0069 2.2.1 "Special INTIDs"); the same value as gicv3-pe.ts's GIC_SPURIOUS. */
const GIC_SPURIOUS = 1023;

/** The first LPI INTID (IHI0069 2.2.1 "INTIDs"). */
export const LPI_FIRST = 8192;
/** INTID bits the GIC implements (GICD_TYPER.IDbits + 1). */
export const GIC_ID_BITS = 16;

/** GICR_CTLR.EnableLPIs (IHI0069 12.11 "GICR_CTLR"). */
export const GICR_CTLR_ENABLE_LPIS = 1;

/** Guest-physical memory as the GIC's table accesses see it (guest RAM; anything else is an error). */
export interface GicMemory {
  contains(pa: number, len?: number): boolean;
  read32(pa: number): number;
  write32(pa: number, v: number): void;
  bytesAt(pa: number, len: number): Uint8Array;
}

/**
 * Writable bits of GICR_PROPBASER: IDbits [4:0], InnerCache [9:7], Shareability [11:10],
 * Physical_Address [51:12], OuterCache [58:56]; the rest RES0. As (low word, high word).
 */
const PROPBASER_LO = 0xffff_ff9f;
const PROPBASER_HI = 0x0700_ffff;
/** GICR_PENDBASER: InnerCache, Shareability, Physical_Address [51:16], OuterCache; PTZ [62] reads 0. */
const PENDBASER_LO = 0xffff_0f80;
const PENDBASER_HI = 0x0700_ffff;

/** One Redistributor's LPI registers and its cached highest-priority pending LPI: plain data (snapshots). */
export class LpiState {
  /** GICR_CTLR.EnableLPIs. */
  enabled = false;
  propLo = 0;
  propHi = 0;
  pendLo = 0;
  pendHi = 0;
  /** Highest-priority pending enabled LPI and its priority byte (0x100 = none); valid unless stale. */
  best = GIC_SPURIOUS;
  bestPrio = 0x100;
  stale = true;

  reset(): void {
    this.enabled = false;
    this.propLo = this.propHi = this.pendLo = this.pendHi = 0;
    this.best = GIC_SPURIOUS;
    this.bestPrio = 0x100;
    this.stale = true;
  }

  /** Number of LPI INTID bits in use: min(PROPBASER.IDbits + 1, 16), or 0 when no LPI is in range. */
  idBits(): number {
    const n = (this.propLo & 0x1f) + 1;
    return n < 14 ? 0 : Math.min(n, GIC_ID_BITS);
  }
  private propBase(): number {
    return (this.propHi & 0xfffff) * 0x1_0000_0000 + ((this.propLo & 0xffff_f000) >>> 0);
  }
  private pendBase(): number {
    return (this.pendHi & 0xfffff) * 0x1_0000_0000 + ((this.pendLo & 0xffff_0000) >>> 0);
  }

  /** Is `intid` an LPI this Redistributor handles now (EnableLPIs, in range of PROPBASER.IDbits)? */
  inRange(intid: number): boolean {
    return this.enabled && intid >= LPI_FIRST && intid < 2 ** this.idBits();
  }

  // --- registers (IHI0069 12.11) -------------------------------------------------------------

  /** GICR_CTLR, PROPBASER and PENDBASER words; null for other offsets. */
  read(off: number): number | null {
    switch (off) {
      case 0x0000:
        return this.enabled ? GICR_CTLR_ENABLE_LPIS : 0; // RWP 0 (writes take effect at once), CES 0, UWP 0
      case 0x0070:
        return this.propLo >>> 0;
      case 0x0074:
        return this.propHi >>> 0;
      case 0x0078:
        return this.pendLo >>> 0;
      case 0x007c:
        return this.pendHi >>> 0;
      default:
        return null;
    }
  }

  /**
   * Returns whether the write was one of these registers. PROPBASER and PENDBASER are written only
   * while EnableLPIs is 0 (12.11: writes while it is 1 are UNPREDICTABLE; ignored, as QEMU does).
   * EnableLPIs may be cleared again (IMPLEMENTATION DEFINED; as QEMU), which drops the cache.
   */
  write(off: number, v: number, mem: GicMemory | null): boolean {
    switch (off) {
      case 0x0000: {
        const on = (v & GICR_CTLR_ENABLE_LPIS) !== 0;
        if (on !== this.enabled) {
          this.enabled = on;
          this.stale = true;
          if (on) this.refresh(mem);
        }
        return true;
      }
      case 0x0070:
      case 0x0074:
      case 0x0078:
      case 0x007c:
        if (this.enabled) return true;
        if (off === 0x0070) this.propLo = v & PROPBASER_LO;
        else if (off === 0x0074) this.propHi = v & PROPBASER_HI;
        else if (off === 0x0078) this.pendLo = v & PENDBASER_LO;
        else this.pendHi = v & PENDBASER_HI; // PTZ [62] is not kept: it reads as 0
        this.stale = true;
        return true;
      default:
        return false;
    }
  }

  // --- the tables ----------------------------------------------------------------------------

  /** The configuration byte of LPI `intid` (0: disabled, when the table is not in RAM). */
  config(mem: GicMemory | null, intid: number): number {
    const pa = this.propBase() + (intid - LPI_FIRST);
    if (mem === null || !mem.contains(pa, 1)) return 0;
    return mem.bytesAt(pa, 1)[0]!;
  }

  isPending(mem: GicMemory | null, intid: number): boolean {
    const pa = this.pendBase() + (intid >> 3);
    if (mem === null || !this.inRange(intid) || !mem.contains(pa, 1)) return false;
    return ((mem.bytesAt(pa, 1)[0]! >> (intid & 7)) & 1) !== 0;
  }

  /**
   * Set or clear LPI `intid`'s pending bit in the pending table. Returns whether this PE's
   * signalling may have changed. An LPI out of range, or with EnableLPIs 0, is dropped (5.1:
   * LPIs are not pended while EnableLPIs is 0).
   */
  setPending(mem: GicMemory | null, intid: number, pending: boolean): boolean {
    if (mem === null || !this.inRange(intid)) return false;
    const pa = this.pendBase() + (intid >> 3);
    if (!mem.contains(pa, 1)) return false;
    const cell = mem.bytesAt(pa, 1);
    const m = 1 << (intid & 7);
    const was = (cell[0]! & m) !== 0;
    if (was === pending) return false;
    cell[0] = pending ? cell[0]! | m : cell[0]! & ~m;
    if (!pending) {
      if (intid === this.best) this.stale = true;
      return intid === this.best;
    }
    if (this.stale) return true;
    const c = this.config(mem, intid);
    const prio = c & 0xfc;
    if ((c & 1) !== 0 && (prio < this.bestPrio || (prio === this.bestPrio && intid < this.best))) {
      this.best = intid;
      this.bestPrio = prio;
      return true;
    }
    return false;
  }

  /**
   * The highest-priority pending enabled LPI, rescanning the pending table if the cache is stale
   * (IHI0069 4.7 "Interrupt prioritization": lowest priority value, then lowest INTID).
   */
  refresh(mem: GicMemory | null): void {
    if (!this.stale) return;
    this.stale = false;
    this.best = GIC_SPURIOUS;
    this.bestPrio = 0x100;
    const bits = this.idBits();
    if (mem === null || !this.enabled || bits === 0) return;
    const first = LPI_FIRST >> 3;
    const end = 2 ** bits >> 3;
    const pend = this.pendBase();
    if (!mem.contains(pend + first, end - first)) return;
    const table = mem.bytesAt(pend + first, end - first);
    for (let i = 0; i < table.length; i++) {
      let b = table[i]!;
      while (b !== 0) {
        const k = 31 - Math.clz32(b & -b);
        b &= b - 1;
        const id = (first + i) * 8 + k;
        const c = this.config(mem, id);
        if ((c & 1) !== 0 && (c & 0xfc) < this.bestPrio) {
          this.best = id;
          this.bestPrio = c & 0xfc;
        }
      }
    }
  }

  /** Every pending LPI of this Redistributor (ITS MOVALL). */
  pendingLpis(mem: GicMemory | null): number[] {
    const out: number[] = [];
    const bits = this.idBits();
    if (mem === null || !this.enabled || bits === 0) return out;
    for (let id = LPI_FIRST; id < 2 ** bits; id += 8) {
      const pa = this.pendBase() + (id >> 3);
      if (!mem.contains(pa, 1)) break;
      const b = mem.bytesAt(pa, 1)[0]!;
      for (let k = 0; k < 8; k++) if ((b >> k) & 1) out.push(id + k);
    }
    return out;
  }
}

/** What itsRedistributors needs of the GIC: each PE's LPI state, guest memory, and "signalling may have changed". */
export interface LpiHost {
  readonly cpus: number;
  readonly pes: readonly { readonly lpi: LpiState }[];
  readonly memory: GicMemory | null;
  changed(): void;
}

/** The Redistributors as the ITS (its.ts) drives them. */
export interface ItsRedistributors {
  /** Number of Redistributors (Processor_Number 0 .. count - 1). */
  readonly count: number;
  memory(): GicMemory | null;
  setPending(pe: number, intid: number, pending: boolean): void;
  isPending(pe: number, intid: number): boolean;
  pendingLpis(pe: number): number[];
  /** The configuration of this PE's LPIs may have changed (INV, INVALL). */
  invalidate(pe: number): void;
}

/** The Redistributors as the ITS drives them (its.ts): pend, clear and test LPIs; invalidate a PE's configuration cache. */
export function itsRedistributors(gic: LpiHost): ItsRedistributors {
  return {
    count: gic.cpus,
    memory: () => gic.memory,
    setPending: (pe, intid, pending) => {
      if (gic.pes[pe]!.lpi.setPending(gic.memory, intid, pending)) gic.changed();
    },
    isPending: (pe, intid) => gic.pes[pe]!.lpi.isPending(gic.memory, intid),
    pendingLpis: (pe) => gic.pes[pe]!.lpi.pendingLpis(gic.memory),
    invalidate: (pe) => {
      gic.pes[pe]!.lpi.stale = true;
      gic.changed();
    },
  };
}
