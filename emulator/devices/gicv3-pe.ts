/**
 * One PE's part of a GICv3 (Arm IHI0069): its Redistributor state for the private INTIDs 0-31
 * (SGIs and PPIs, the SGI_base frame, 12.11) and its CPU interface (the ICC_* system registers,
 * 12.2), with the highest-priority-pending computation that decides the PE's IRQ and FIQ lines.
 * The distributor (gicv3.ts) owns the SPIs and shares them with every PE through `GicV3Spis`.
 *
 * Each PE's private state is kept as one-word bit arrays with the same names and indexing as the
 * distributor's, so the bank register code (gicv3.ts) serves GICD words 1..8 and GICR_SGI word 0
 * with one implementation.
 */

import { LPI_FIRST, LpiState, type GicMemory } from './gicv3-lpi.js';

/** Number of INTIDs implemented (SGIs + PPIs + SPIs): 32 * (GICD_TYPER.ITLinesNumber + 1). */
export const GIC_NUM_IRQS = 288;
/** The special INTID "no pending interrupt" (IHI0069 2.2.1 "Special INTIDs"). */
export const GIC_SPURIOUS = 1023;
export const WORDS = GIC_NUM_IRQS / 32;
export const PRI_BITS = 5;
/** Implemented priority bits in the CPU interface (IHI0069 4.8 "Interrupt prioritization"). */
export const PRI_MASK = (0xff << (8 - PRI_BITS)) & 0xff;
export const MIN_BPR0 = 7 - PRI_BITS;
export const MIN_BPR1 = MIN_BPR0 + 1;

/** GICD_CTLR bits with GICD_CTLR.DS == 1 (IHI0069 12.9.4 "GICD_CTLR"). */
export const GICD_CTLR = { EnableGrp0: 1 << 0, EnableGrp1: 1 << 1, ARE: 1 << 4, DS: 1 << 6, RWP: 1 << 31 } as const;
/** GICR_WAKER bits (IHI0069 12.11 "GICR_WAKER"). */
export const GICR_WAKER = { ProcessorSleep: 1 << 1, ChildrenAsleep: 1 << 2 } as const;

/** ICC_CTLR_EL1 (IHI0069 12.2 "ICC_CTLR_EL1"): CBPR [0], EOImode [1], PMHE [6] writable; PRIbits [10:8], A3V [15]. */
const ICC_CTLR = { CBPR: 1 << 0, EOImode: 1 << 1, PMHE: 1 << 6, RO: ((PRI_BITS - 1) << 8) | (1 << 15) } as const;
const ICC_CTLR_RW = ICC_CTLR.CBPR | ICC_CTLR.EOImode | ICC_CTLR.PMHE;

/** The per-INTID bit arrays of a bank (IHI0069 4.1 "Interrupt lifecycle"). Pending = latch | (line & level-sensitive). */
export interface IntBank {
  readonly group: Uint32Array; // 1 = Group 1
  readonly enabled: Uint32Array;
  readonly latch: Uint32Array; // edge / software pending state
  readonly line: Uint32Array; // input levels from devices
  readonly edge: Uint32Array; // ICFGR Int_config[1]: 1 = edge-triggered
  readonly active: Uint32Array;
  readonly priority: Uint8Array;
}

/** What a PE needs from the distributor: the SPI bank, GICD_CTLR, routing, and SGI delivery. */
export interface GicV3Spis extends IntBank {
  /** GICD_CTLR EnableGrp0 | EnableGrp1. */
  readonly ctlr: number;
  /** Is SPI `id` routed to the PE with this affinity (GICD_IROUTER<n>, IRM = 0)? */
  routedTo(id: number, affinity: number): boolean;
  /** ICC_SGI{0,1}R_EL1 written on PE `from`. */
  sendSgi(from: number, value: bigint, g1: boolean): void;
  /** Something a PE's signalling depends on changed. */
  changed(): void;
  /** PE `pe` wrote an EOI (the SMP scheduler gives the turn back: machine/smp.ts). */
  readonly onEoi: ((pe: number) => void) | undefined;
  /** Guest memory, where the LPI tables are (gicv3-lpi.ts); null until the board attaches RAM. */
  readonly memory: GicMemory | null;
}

export const bit = (b: Uint32Array, i: number): boolean => ((b[i >> 5]! >>> (i & 31)) & 1) !== 0;
export const setBit = (b: Uint32Array, i: number, v: boolean): void => {
  if (v) b[i >> 5]! |= 1 << (i & 31);
  else b[i >> 5]! &= ~(1 << (i & 31));
};

/** Active-priority registers beyond the first: with 5 priority bits (32 preemption levels) only
 * ICC_AP{0,1}R0_EL1 hold state, the others are RAZ/WI (IHI0069 12.2.1-12.2.4). */
const AP_RAZ_WI = new Set(['ICC_AP0R1_EL1', 'ICC_AP0R2_EL1', 'ICC_AP0R3_EL1', 'ICC_AP1R1_EL1', 'ICC_AP1R2_EL1', 'ICC_AP1R3_EL1']);

export class GicV3Pe implements IntBank {
  readonly group = new Uint32Array(1);
  readonly enabled = new Uint32Array(1);
  readonly latch = new Uint32Array(1);
  readonly line = new Uint32Array(1);
  readonly edge = new Uint32Array(1);
  readonly active = new Uint32Array(1);
  readonly priority = new Uint8Array(32);
  waker = 0;
  /** This Redistributor's LPIs (GICR_CTLR.EnableLPIs, PROPBASER, PENDBASER; gicv3-lpi.ts). */
  readonly lpi = new LpiState();

  // CPU interface.
  private pmr = 0;
  private bpr0 = MIN_BPR0;
  private bpr1 = MIN_BPR1;
  private iccCtlr = 0;
  private igrpen0 = 0;
  private igrpen1 = 0;
  private ap0 = 0; // ICC_AP0R0_EL1
  private ap1 = 0; // ICC_AP1R0_EL1

  private dirty = true;
  irqCache = false;
  fiqCache = false;
  private hppiCache = GIC_SPURIOUS;
  /** The HPPI's priority (CPU-interface bits) and group, for the preemption and group checks. */
  private hppiPrio = 0xff;
  private hppiG1 = false;

  /**
   * @param index the PE's number (GICR_TYPER.Processor_Number)
   * @param affinity Aff2.Aff1.Aff0 (bits [23:0]) of its MPIDR; Aff3 is 0 on this board
   */
  constructor(
    readonly index: number,
    readonly affinity: number,
    private readonly spis: GicV3Spis,
  ) {
    this.reset();
  }

  /** Reset state (IHI0069 12.11 / 12.2 reset values; UNKNOWN ones are 0, all interrupts Group 0). */
  reset(): void {
    for (const a of [this.group, this.enabled, this.latch, this.active, this.line]) a[0] = 0;
    this.edge[0] = 0xffff; // SGIs are always edge-triggered
    this.priority.fill(0);
    this.waker = GICR_WAKER.ProcessorSleep | GICR_WAKER.ChildrenAsleep;
    this.pmr = 0;
    this.bpr0 = MIN_BPR0;
    this.bpr1 = MIN_BPR1;
    this.iccCtlr = 0;
    this.igrpen0 = this.igrpen1 = 0;
    this.ap0 = this.ap1 = 0;
    this.lpi.reset();
    this.dirty = true;
  }

  /** Signalling must be recomputed before it is next read. */
  invalidate(): void {
    this.dirty = true;
  }

  /** A Group 1 interrupt is signalled to the PE as IRQ (IHI0069 4.8 "Interrupt prioritization"). */
  irqPending(): boolean {
    if (this.dirty) this.recompute();
    return this.irqCache;
  }

  /** A Group 0 interrupt is signalled as FIQ (Linux uses none). */
  fiqPending(): boolean {
    if (this.dirty) this.recompute();
    return this.fiqCache;
  }

  /** Pend SGI `id` (from ICC_SGI*R_EL1 of any PE) if its group matches. */
  pendSgi(id: number, g1: boolean): void {
    if (bit(this.group, id) === g1) {
      setBit(this.latch, id, true);
      this.dirty = true;
    }
  }

  private bankOf(id: number): IntBank {
    return id < 32 ? this : this.spis;
  }

  private groupEnabled(g1: boolean): boolean {
    const c = this.spis.ctlr;
    return g1 ? (c & GICD_CTLR.EnableGrp1) !== 0 && (this.igrpen1 & 1) !== 0 : (c & GICD_CTLR.EnableGrp0) !== 0 && (this.igrpen0 & 1) !== 0;
  }

  /**
   * The highest priority pending interrupt (IHI0069 4.7 / 4.8): pending, enabled, not active, of a
   * group enabled in GICD_CTLR and ICC_IGRPEN<n>_EL1, private or routed to this PE; lowest
   * priority value wins, then lowest INTID. LPIs (Group 1, no active state) compete too.
   */
  recompute(): void {
    this.dirty = false;
    const g0 = this.groupEnabled(false);
    const g1 = this.groupEnabled(true);
    let best = GIC_SPURIOUS;
    let bestPrio = 0x100;
    let bestG1 = false;
    if (g0 || g1) {
      for (let w = 0; w < WORDS; w++) {
        const b: IntBank = w === 0 ? this : this.spis;
        let cand = (b.latch[w]! | (b.line[w]! & ~b.edge[w]!)) & b.enabled[w]! & ~b.active[w]!;
        const grp = b.group[w]!;
        cand &= (g1 ? grp : 0) | (g0 ? ~grp : 0);
        while (cand !== 0) {
          const k = 31 - Math.clz32(cand & -cand);
          cand &= cand - 1;
          const id = w * 32 + k;
          if (w !== 0 && !this.spis.routedTo(id, this.affinity)) continue;
          const p = b.priority[id]! & PRI_MASK;
          if (p < bestPrio) {
            bestPrio = p;
            best = id;
            bestG1 = bit(b.group, id);
          }
        }
      }
    }
    if (g1 && this.lpi.enabled) {
      this.lpi.refresh(this.spis.memory);
      const p = this.lpi.bestPrio & PRI_MASK;
      if (this.lpi.best !== GIC_SPURIOUS && p < bestPrio) {
        bestPrio = p;
        best = this.lpi.best;
        bestG1 = true;
      }
    }
    this.hppiCache = best;
    this.hppiPrio = bestPrio;
    this.hppiG1 = bestG1;
    this.irqCache = false;
    this.fiqCache = false;
    if (best !== GIC_SPURIOUS && this.canPreempt(bestPrio, bestG1)) {
      if (bestG1) this.irqCache = true;
      else this.fiqCache = true;
    }
  }

  /** Priority above PMR and group priority above the running priority (IHI0069 4.8.x "Preemption"). */
  private canPreempt(p: number, g1: boolean): boolean {
    if (p >= this.pmr) return false;
    const rpr = this.runningPriority();
    return rpr === 0xff || (p & this.groupMask(g1)) < rpr;
  }

  private effectiveBpr(g1: boolean): number {
    return g1 && !(this.iccCtlr & ICC_CTLR.CBPR) ? this.bpr1 : this.bpr0;
  }

  /** Group priority field mask for a BPR value (IHI0069 4.8.3 "Priority grouping"). */
  private groupMask(g1: boolean): number {
    return (0xff << (this.effectiveBpr(g1) + 1)) & 0xff;
  }

  /** ICC_RPR_EL1: the priority of the highest set active-priority bit, or 0xFF. */
  private runningPriority(): number {
    const a = (this.ap0 | this.ap1) >>> 0;
    if (a === 0) return 0xff;
    return (31 - Math.clz32(a & -a)) << (8 - PRI_BITS);
  }

  // --- CPU interface (IHI0069 12.2 "AArch64 System register descriptions") -----------------

  iccRead(name: string): bigint | null {
    if (AP_RAZ_WI.has(name)) return 0n;
    switch (name) {
      case 'ICC_PMR_EL1':
        return BigInt(this.pmr);
      case 'ICC_IAR1_EL1':
        return BigInt(this.acknowledge(true));
      case 'ICC_IAR0_EL1':
        return BigInt(this.acknowledge(false));
      case 'ICC_HPPIR1_EL1':
      case 'ICC_HPPIR0_EL1': {
        if (this.dirty) this.recompute();
        const id = this.hppiCache;
        const g1 = name === 'ICC_HPPIR1_EL1';
        return BigInt(id !== GIC_SPURIOUS && this.hppiG1 === g1 ? id : GIC_SPURIOUS);
      }
      case 'ICC_EOIR1_EL1':
      case 'ICC_EOIR0_EL1':
      case 'ICC_DIR_EL1':
      case 'ICC_SGI1R_EL1':
      case 'ICC_ASGI1R_EL1':
      case 'ICC_SGI0R_EL1':
        return 0n; // write-only
      case 'ICC_CTLR_EL1':
        return BigInt((this.iccCtlr | ICC_CTLR.RO) >>> 0);
      case 'ICC_SRE_EL1':
        return 7n; // SRE, DFB, DIB RAO/WI
      case 'ICC_IGRPEN1_EL1':
        return BigInt(this.igrpen1);
      case 'ICC_IGRPEN0_EL1':
        return BigInt(this.igrpen0);
      case 'ICC_BPR1_EL1':
        return BigInt(this.effectiveBpr(true));
      case 'ICC_BPR0_EL1':
        return BigInt(this.bpr0);
      case 'ICC_RPR_EL1':
        return BigInt(this.runningPriority());
      case 'ICC_AP1R0_EL1':
        return BigInt(this.ap1 >>> 0);
      case 'ICC_AP0R0_EL1':
        return BigInt(this.ap0 >>> 0);
      default:
        return null;
    }
  }

  iccWrite(name: string, value: bigint): boolean {
    if (AP_RAZ_WI.has(name)) return true;
    const v = Number(value & 0xffff_ffffn) >>> 0;
    switch (name) {
      case 'ICC_PMR_EL1':
        this.pmr = v & PRI_MASK;
        break;
      case 'ICC_EOIR1_EL1':
      case 'ICC_EOIR0_EL1':
        this.endOfInterrupt(v & 0xff_ffff, name === 'ICC_EOIR1_EL1');
        break;
      case 'ICC_DIR_EL1':
        // With EOImode == 0 a DIR write is UNPREDICTABLE; ignored here (as QEMU).
        if (this.iccCtlr & ICC_CTLR.EOImode) this.deactivate(v & 0xff_ffff);
        break;
      case 'ICC_SGI1R_EL1':
      case 'ICC_ASGI1R_EL1': // one Security state: treated as SGI1R (as QEMU)
        this.spis.sendSgi(this.index, value, true);
        break;
      case 'ICC_SGI0R_EL1':
        this.spis.sendSgi(this.index, value, false);
        break;
      case 'ICC_CTLR_EL1':
        this.iccCtlr = v & ICC_CTLR_RW;
        break;
      case 'ICC_SRE_EL1':
        break;
      case 'ICC_IGRPEN1_EL1':
        this.igrpen1 = v & 1;
        break;
      case 'ICC_IGRPEN0_EL1':
        this.igrpen0 = v & 1;
        break;
      case 'ICC_BPR1_EL1':
        // With CBPR set, BPR0 governs Group 1 and BPR1 writes are ignored.
        if (!(this.iccCtlr & ICC_CTLR.CBPR)) this.bpr1 = Math.max(v & 7, MIN_BPR1);
        break;
      case 'ICC_BPR0_EL1':
        this.bpr0 = Math.max(v & 7, MIN_BPR0);
        break;
      case 'ICC_AP1R0_EL1':
        this.ap1 = v;
        break;
      case 'ICC_AP0R0_EL1':
        this.ap0 = v;
        break;
      case 'ICC_IAR1_EL1':
      case 'ICC_IAR0_EL1':
      case 'ICC_HPPIR1_EL1':
      case 'ICC_HPPIR0_EL1':
      case 'ICC_RPR_EL1':
        return true; // read-only
      default:
        return false;
    }
    this.dirty = true;
    this.spis.changed();
    return true;
  }

  /**
   * ICC_IAR<n>_EL1 (IHI0069 4.1 "Interrupt lifecycle", 12.2 "ICC_IAR1_EL1"): the HPPI of the group,
   * if it may preempt, becomes active (the pending latch clears; a level-sensitive interrupt whose
   * line is still high stays pending) and its group priority is set in ICC_AP<n>R0_EL1. An LPI
   * has no active state: its pending bit in the LPI Pending table clears (5.1 "LPIs").
   */
  private acknowledge(g1: boolean): number {
    if (this.dirty) this.recompute();
    const id = this.hppiCache;
    if (id === GIC_SPURIOUS) return GIC_SPURIOUS;
    if (this.hppiG1 !== g1 || !this.canPreempt(this.hppiPrio, g1)) return GIC_SPURIOUS;
    if (id >= LPI_FIRST) {
      this.lpi.setPending(this.spis.memory, id, false);
    } else {
      const b = this.bankOf(id);
      setBit(b.active, id, true);
      setBit(b.latch, id, false);
    }
    const apBit = 1 << ((this.hppiPrio & this.groupMask(g1)) >> (8 - PRI_BITS));
    if (g1) this.ap1 = (this.ap1 | apBit) >>> 0;
    else this.ap0 = (this.ap0 | apBit) >>> 0;
    this.dirty = true;
    this.spis.changed();
    return id;
  }

  /**
   * ICC_EOIR<n>_EL1 (IHI0069 4.1.1 "Priority drop and interrupt deactivation"): drop the running
   * priority (clear the highest priority active bit, if it belongs to this group), then with
   * ICC_CTLR_EL1.EOImode == 0 deactivate the INTID.
   */
  private endOfInterrupt(id: number, g1: boolean): void {
    if (id >= 1020 && id <= 1023) return; // special INTIDs
    this.spis.onEoi?.(this.index);
    const all = (this.ap0 | this.ap1) >>> 0;
    if (all === 0) return;
    const lowest = (all & -all) >>> 0;
    if (g1 ? (this.ap1 & lowest) === 0 : (this.ap0 & lowest) === 0) return; // not this group's: UNPREDICTABLE, ignored
    if (g1) this.ap1 = (this.ap1 & ~lowest) >>> 0;
    else this.ap0 = (this.ap0 & ~lowest) >>> 0;
    if (!(this.iccCtlr & ICC_CTLR.EOImode)) this.deactivate(id);
  }

  private deactivate(id: number): void {
    if (id < GIC_NUM_IRQS) setBit(this.bankOf(id).active, id, false);
  }
}
