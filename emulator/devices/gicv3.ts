/**
 * GICv3 for one PE: Distributor (GICD), one Redistributor (GICR: RD_base + SGI_base) and the
 * CPU interface's system registers (ICC_*), as Linux's drivers/irqchip/irq-gic-v3.c drives them
 * on QEMU's virt board. Reference: "Arm Generic Interrupt Controller Architecture Specification,
 * GIC architecture version 3 and version 4", Arm IHI0069 (the section titles below are its own):
 * chapter 4 "Physical Interrupt Handling and Prioritization", chapter 12 "Programmers' Model"
 * (12.2 CPU interface System registers, 12.9 Distributor registers, 12.11 Redistributor registers).
 *
 * Configuration (each choice is guest-visible and deterministic):
 * - One Security state: GICD_CTLR.DS is RAO/WI (QEMU virt without EL3). So GICD_CTLR bit 0 is
 *   EnableGrp0 and bit 1 EnableGrp1 (the Non-secure view's EnableGrp1NS); IGRPMODR and NSACR
 *   are RAZ/WI; Group 0 goes to FIQ (fiqPending), Group 1 to IRQ (irqPending).
 * - No legacy operation: GICD_CTLR.ARE is RAO/WI, ICC_SRE_EL1.{SRE,DFB,DIB} RAO/WI. The
 *   banked GICD registers for INTIDs 0-31, ITARGETSR, SGIR, {C,S}PENDSGIR are RAZ/WI.
 * - 288 INTIDs (ITLinesNumber = 8: SGIs, PPIs, 256 SPIs), 16 INTID bits, no LPIs, no MBIs,
 *   no extended ranges, no 1-of-N SPI routing (GICD_TYPER.No1N = 1, IROUTER.IRM RAZ/WI).
 * - 5 bits of priority and of preemption (ICC_CTLR_EL1.PRIbits = 4, like Cortex-A cores and
 *   QEMU's max CPU): PMR keeps bits [7:3]; the minimum BPR0 is 2, BPR1 is 3; only
 *   ICC_AP{0,1}R0_EL1 is implemented (AP{0,1}R1-3 RAZ/WI). Distributor priority fields keep
 *   all 8 bits; the CPU interface uses the top 5.
 * - Register writes take effect at once: GICD_CTLR.RWP and GICR_CTLR.RWP/UWP read 0.
 * - GICR_WAKER.ProcessorSleep does not gate delivery (as QEMU); ChildrenAsleep follows it.
 */
import type { AccessSize, MmioDevice } from '../memory/bus.js';
import { VIRT } from '../platform/memmap.js';
import { applyState, captureState, type RestoreContext, type SnapshotContext, type Snapshottable, type StateValue } from '../snapshot/state.js';

/** Number of INTIDs implemented (SGIs + PPIs + SPIs): 32 * (GICD_TYPER.ITLinesNumber + 1). */
export const GIC_NUM_IRQS = 288;
/** The special INTID "no pending interrupt" (IHI0069 2.2.1 "Special INTIDs"). */
export const GIC_SPURIOUS = 1023;
const WORDS = GIC_NUM_IRQS / 32;
const PRI_BITS = 5;
/** Implemented priority bits in the CPU interface (IHI0069 4.8 "Interrupt prioritization"). */
const PRI_MASK = (0xff << (8 - PRI_BITS)) & 0xff;
const MIN_BPR0 = 7 - PRI_BITS;
const MIN_BPR1 = MIN_BPR0 + 1;

/** Distributor register offsets, IHI0069 12.8 "The GIC Distributor register map". */
export const GICD = {
  CTLR: 0x0000,
  TYPER: 0x0004,
  IIDR: 0x0008,
  TYPER2: 0x000c,
  STATUSR: 0x0010,
  IGROUPR: 0x0080,
  ISENABLER: 0x0100,
  ICENABLER: 0x0180,
  ISPENDR: 0x0200,
  ICPENDR: 0x0280,
  ISACTIVER: 0x0300,
  ICACTIVER: 0x0380,
  IPRIORITYR: 0x0400,
  ITARGETSR: 0x0800,
  ICFGR: 0x0c00,
  IGRPMODR: 0x0d00,
  NSACR: 0x0e00,
  SGIR: 0x0f00,
  IROUTER: 0x6000,
  PIDR2: 0xffe8,
} as const;

/** GICD_CTLR bits with GICD_CTLR.DS == 1 (IHI0069 12.9.4 "GICD_CTLR"). */
export const GICD_CTLR = { EnableGrp0: 1 << 0, EnableGrp1: 1 << 1, ARE: 1 << 4, DS: 1 << 6, RWP: 1 << 31 } as const;

/** Redistributor offsets, IHI0069 12.10 "The GIC Redistributor register map"; SGI_BASE-relative ones reuse GICD's. */
export const GICR = {
  CTLR: 0x0000,
  IIDR: 0x0004,
  TYPER: 0x0008,
  STATUSR: 0x0010,
  WAKER: 0x0014,
  PROPBASER: 0x0070,
  PENDBASER: 0x0078,
  PIDR2: 0xffe8,
  SGI_BASE: 0x1_0000,
} as const;

/** GICR_WAKER bits (IHI0069 12.11 "GICR_WAKER"). */
export const GICR_WAKER = { ProcessorSleep: 1 << 1, ChildrenAsleep: 1 << 2 } as const;

/** GICD_TYPER: ITLinesNumber 8, SecurityExtn 0, MBIS 0, LPIS 0, IDbits 15, A3V 1, No1N 1. */
const GICD_TYPER_VALUE = ((GIC_NUM_IRQS / 32 - 1) | (15 << 19) | (1 << 24) | (1 << 25)) >>> 0;
/** IIDR: Implementer 0x43B (Arm), ProductID 0 (IHI0069 12.9.x "GICD_IIDR"; matches no Linux quirk). */
const IIDR_VALUE = 0x0000_043b;
/** GICR_TYPER: Processor_Number 0, Affinity_Value 0.0.0.0, Last = 1 (bit 4), no LPIs, 16 PPIs. */
const GICR_TYPER_LO = 1 << 4;

/**
 * Identification registers at 0xFFD0-0xFFFC (PIDR4-7, PIDR0-3, CIDR0-3), IHI0069 12.1.x
 * "Identification registers": only PIDR2.ArchRev (bits [7:4] = 3, GICv3) is architected; the rest
 * are the values QEMU returns.
 */
const GICD_ID = [0x44, 0, 0, 0, 0x92, 0xb4, 0x3b, 0, 0x0d, 0xf0, 0x05, 0xb1] as const;
const GICR_ID = [0x44, 0, 0, 0, 0x93, 0xb4, 0x3b, 0, 0x0d, 0xf0, 0x05, 0xb1] as const;

/** ICC_CTLR_EL1 (IHI0069 12.2 "ICC_CTLR_EL1"): CBPR [0], EOImode [1], PMHE [6] writable; PRIbits [10:8], A3V [15]. */
const ICC_CTLR = { CBPR: 1 << 0, EOImode: 1 << 1, PMHE: 1 << 6, RO: ((PRI_BITS - 1) << 8) | (1 << 15) } as const;
const ICC_CTLR_RW = ICC_CTLR.CBPR | ICC_CTLR.EOImode | ICC_CTLR.PMHE;

export interface GicV3Options {
  distBase?: number;
  redistBase?: number;
  /** Called whenever irqPending() or fiqPending() changes value. */
  onChange?: () => void;
}

type Bits = Uint32Array;
const bit = (b: Bits, i: number): boolean => ((b[i >> 5]! >>> (i & 31)) & 1) !== 0;
const setBit = (b: Bits, i: number, v: boolean): void => {
  if (v) b[i >> 5]! |= 1 << (i & 31);
  else b[i >> 5]! &= ~(1 << (i & 31));
};

export class GicV3 implements Snapshottable {
  /** Machine snapshots (emulator/snapshot/state.ts): every data field except distributor, redistributor (wiring, host resources). */
  snapshot(ctx: SnapshotContext): StateValue {
    return captureState(this, ctx, ['distributor', 'redistributor']);
  }
  restore(state: StateValue, ctx: RestoreContext): void {
    applyState(this, state, ctx);
  }

  readonly distributor: MmioDevice;
  readonly redistributor: MmioDevice;
  onChange: (() => void) | undefined;

  // Per-INTID state (IHI0069 4.1 "Interrupt lifecycle"). Pending = latch | (line & level-sensitive).
  private readonly group = new Uint32Array(WORDS); // 1 = Group 1
  private readonly enabled = new Uint32Array(WORDS);
  private readonly latch = new Uint32Array(WORDS); // edge / software pending state
  private readonly line = new Uint32Array(WORDS); // input levels from devices
  private readonly edge = new Uint32Array(WORDS); // ICFGR Int_config[1]: 1 = edge-triggered
  private readonly active = new Uint32Array(WORDS);
  private readonly priority = new Uint8Array(GIC_NUM_IRQS);
  /** GICD_IROUTER<n> Aff2.Aff1.Aff0 (low word; IRM RAZ) and Aff3 (high word), for SPIs. */
  private readonly routeLo = new Uint32Array(GIC_NUM_IRQS);
  private readonly routeHi = new Uint32Array(GIC_NUM_IRQS);

  private gicdCtlr = 0; // EnableGrp0 | EnableGrp1
  private waker = 0;

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
  private irqCache = false;
  private fiqCache = false;
  private hppiCache = GIC_SPURIOUS;

  constructor(opts: GicV3Options = {}) {
    this.onChange = opts.onChange;
    const distBase = opts.distBase ?? VIRT.GIC_DIST.base;
    const redistBase = opts.redistBase ?? VIRT.GIC_REDIST.base;
    this.distributor = this.frame('gicv3-dist', distBase, 0x1_0000, (o) => this.distRead(o), (o, v) => this.distWrite(o, v), (o) => this.distBytes(o));
    this.redistributor = this.frame('gicv3-redist', redistBase, 0x2_0000, (o) => this.redistRead(o), (o, v) => this.redistWrite(o, v), (o) =>
      o >= GICR.SGI_BASE ? this.distBytes(o - GICR.SGI_BASE, true) : false,
    );
    this.reset();
  }

  /** Reset state (IHI0069 12.9 / 12.11 reset values; UNKNOWN ones are 0, all interrupts Group 0). */
  reset(): void {
    for (const a of [this.group, this.enabled, this.latch, this.active, this.edge]) a.fill(0);
    this.edge[0] = 0xffff; // SGIs are always edge-triggered
    this.priority.fill(0);
    this.routeLo.fill(0);
    this.routeHi.fill(0);
    this.gicdCtlr = 0;
    this.waker = GICR_WAKER.ProcessorSleep | GICR_WAKER.ChildrenAsleep;
    this.pmr = 0;
    this.bpr0 = MIN_BPR0;
    this.bpr1 = MIN_BPR1;
    this.iccCtlr = 0;
    this.igrpen0 = this.igrpen1 = 0;
    this.ap0 = this.ap1 = 0;
    this.changed();
  }

  // --- device lines ------------------------------------------------------------------------

  /** Level of an interrupt line from a device (PPI 16-31 or SPI 32-287). */
  setLevel(intid: number, level: boolean): void {
    if (!Number.isInteger(intid) || intid < 16 || intid >= GIC_NUM_IRQS) throw new RangeError(`GICv3: no interrupt line ${intid}`);
    const was = bit(this.line, intid);
    if (was === level) return;
    setBit(this.line, intid, level);
    // Edge-triggered: a rising edge sets the pending latch (IHI0069 4.1.1 "Edge-triggered and level-sensitive").
    if (level && bit(this.edge, intid)) setBit(this.latch, intid, true);
    this.changed();
  }

  // --- signalling --------------------------------------------------------------------------

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

  /** Pending state of an INTID (latch, or line for level-sensitive). */
  isPending(intid: number): boolean {
    return bit(this.latch, intid) || (bit(this.line, intid) && !bit(this.edge, intid));
  }

  isActive(intid: number): boolean {
    return bit(this.active, intid);
  }

  private changed(): void {
    this.dirty = true;
    const irq = this.irqCache;
    const fiq = this.fiqCache;
    this.recompute();
    if ((irq !== this.irqCache || fiq !== this.fiqCache) && this.onChange) this.onChange();
  }

  private groupEnabled(g1: boolean): boolean {
    return g1 ? (this.gicdCtlr & GICD_CTLR.EnableGrp1) !== 0 && (this.igrpen1 & 1) !== 0 : (this.gicdCtlr & GICD_CTLR.EnableGrp0) !== 0 && (this.igrpen0 & 1) !== 0;
  }

  /** SPIs reach this PE when IROUTER names affinity 0.0.0.0 (IHI0069 12.9 "GICD_IROUTER<n>"). */
  private routedHere(intid: number): boolean {
    return intid < 32 || (this.routeLo[intid] === 0 && this.routeHi[intid] === 0);
  }

  /**
   * The highest priority pending interrupt (IHI0069 4.7 "Interrupt prioritization" / 4.8): pending,
   * enabled, not active, of a group enabled in GICD_CTLR and ICC_IGRPEN<n>_EL1, routed here;
   * lowest priority value wins, then lowest INTID.
   */
  private recompute(): void {
    this.dirty = false;
    const g0 = this.groupEnabled(false);
    const g1 = this.groupEnabled(true);
    let best = GIC_SPURIOUS;
    let bestPrio = 0x100;
    if (g0 || g1) {
      for (let w = 0; w < WORDS; w++) {
        let cand = (this.latch[w]! | (this.line[w]! & ~this.edge[w]!)) & this.enabled[w]! & ~this.active[w]!;
        const grp = this.group[w]!;
        cand &= (g1 ? grp : 0) | (g0 ? ~grp : 0);
        while (cand !== 0) {
          const b = 31 - Math.clz32(cand & -cand);
          cand &= cand - 1;
          const id = w * 32 + b;
          if (!this.routedHere(id)) continue;
          const p = this.priority[id]! & PRI_MASK;
          if (p < bestPrio) {
            bestPrio = p;
            best = id;
          }
        }
      }
    }
    this.hppiCache = best;
    this.irqCache = false;
    this.fiqCache = false;
    if (best !== GIC_SPURIOUS && this.canPreempt(best)) {
      if (bit(this.group, best)) this.irqCache = true;
      else this.fiqCache = true;
    }
  }

  /** Priority above PMR and group priority above the running priority (IHI0069 4.8.x "Preemption"). */
  private canPreempt(id: number): boolean {
    const p = this.priority[id]! & PRI_MASK;
    if (p >= this.pmr) return false;
    const rpr = this.runningPriority();
    return rpr === 0xff || (p & this.groupMask(bit(this.group, id))) < rpr;
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
        return BigInt(id !== GIC_SPURIOUS && bit(this.group, id) === g1 ? id : GIC_SPURIOUS);
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
      case 'ICC_AP1R1_EL1':
      case 'ICC_AP1R2_EL1':
      case 'ICC_AP1R3_EL1':
      case 'ICC_AP0R1_EL1':
      case 'ICC_AP0R2_EL1':
      case 'ICC_AP0R3_EL1':
        return 0n; // only 32 preemption levels: RAZ/WI
      default:
        return null;
    }
  }

  iccWrite(name: string, value: bigint): boolean {
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
        this.generateSgi(value, true);
        break;
      case 'ICC_SGI0R_EL1':
        this.generateSgi(value, false);
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
      case 'ICC_AP1R1_EL1':
      case 'ICC_AP1R2_EL1':
      case 'ICC_AP1R3_EL1':
      case 'ICC_AP0R1_EL1':
      case 'ICC_AP0R2_EL1':
      case 'ICC_AP0R3_EL1':
        return true; // read-only or RAZ/WI
      default:
        return false;
    }
    this.changed();
    return true;
  }

  /**
   * ICC_IAR<n>_EL1 (IHI0069 4.1 "Interrupt lifecycle", 12.2 "ICC_IAR1_EL1"): the HPPI of the group,
   * if it may preempt, becomes active (the pending latch clears; a level-sensitive interrupt whose
   * line is still high stays pending) and its group priority is set in ICC_AP<n>R0_EL1.
   */
  private acknowledge(g1: boolean): number {
    if (this.dirty) this.recompute();
    const id = this.hppiCache;
    if (id === GIC_SPURIOUS || bit(this.group, id) !== g1 || !this.canPreempt(id)) return GIC_SPURIOUS;
    setBit(this.active, id, true);
    setBit(this.latch, id, false);
    const apBit = 1 << ((this.priority[id]! & this.groupMask(g1)) >> (8 - PRI_BITS));
    if (g1) this.ap1 = (this.ap1 | apBit) >>> 0;
    else this.ap0 = (this.ap0 | apBit) >>> 0;
    this.changed();
    return id;
  }

  /**
   * ICC_EOIR<n>_EL1 (IHI0069 4.1.1 "Priority drop and interrupt deactivation"): drop the running
   * priority (clear the highest priority active bit, if it belongs to this group), then with
   * ICC_CTLR_EL1.EOImode == 0 deactivate the INTID.
   */
  private endOfInterrupt(id: number, g1: boolean): void {
    if (id >= 1020 && id <= 1023) return; // special INTIDs
    const all = (this.ap0 | this.ap1) >>> 0;
    if (all === 0) return;
    const lowest = (all & -all) >>> 0;
    if (g1 ? (this.ap1 & lowest) === 0 : (this.ap0 & lowest) === 0) return; // not this group's: UNPREDICTABLE, ignored
    if (g1) this.ap1 = (this.ap1 & ~lowest) >>> 0;
    else this.ap0 = (this.ap0 & ~lowest) >>> 0;
    if (!(this.iccCtlr & ICC_CTLR.EOImode)) this.deactivate(id);
  }

  private deactivate(id: number): void {
    if (id < GIC_NUM_IRQS) setBit(this.active, id, false);
  }

  /**
   * ICC_SGI1R_EL1 / ICC_SGI0R_EL1 (IHI0069 12.2 "ICC_SGI1R_EL1"): TargetList [15:0], Aff1 [23:16],
   * INTID [27:24], Aff2 [39:32], IRM [40], RS [47:44], Aff3 [55:48]. This PE is affinity 0.0.0.0:
   * it is targeted when IRM = 0, Aff3..Aff1 = 0, RS = 0 and TargetList bit 0 is set. IRM = 1 means
   * "all PEs except self", which is nobody here. The SGI is pended only if its group matches.
   */
  private generateSgi(value: bigint, g1: boolean): void {
    const lo = Number(value & 0xffff_ffffn) >>> 0;
    const hi = Number((value >> 32n) & 0xffff_ffffn) >>> 0;
    const irm = (hi >>> 8) & 1;
    const aff1 = (lo >>> 16) & 0xff;
    const aff2 = hi & 0xff;
    const aff3 = (hi >>> 16) & 0xff;
    const rs = (hi >>> 12) & 0xf;
    if (irm || aff1 || aff2 || aff3 || rs || (lo & 1) === 0) return;
    const sgi = (lo >>> 24) & 0xf;
    if (bit(this.group, sgi) === g1) setBit(this.latch, sgi, true);
  }

  // --- MMIO plumbing -----------------------------------------------------------------------

  /**
   * An MmioDevice over 32-bit register handlers. Registers are word-accessed; byte-accessible
   * ranges (IPRIORITYR) are handled lane by lane; 64-bit accesses are two word accesses, which
   * is what GICD_IROUTER<n> and GICR_TYPER need (IHI0069 12.1.3 "GIC memory-mapped register access").
   */
  private frame(
    name: string,
    base: number,
    size: number,
    rd: (off: number) => number,
    wr: (off: number, v: number) => void,
    bytes: (off: number) => boolean,
  ): MmioDevice {
    const read = (offset: number, sz: AccessSize): number => {
      if (sz === 8) return rd(offset & ~3) >>> 0;
      if (sz === 4 && (offset & 3) === 0) return rd(offset) >>> 0;
      if (bytes(offset)) {
        let v = 0;
        for (let i = 0; i < sz; i++) v |= this.priorityByte(offset + i, bytes) << (8 * i);
        return v >>> 0;
      }
      // Sub-word read of a word register: the selected lanes (GIC reads have no side effects).
      const shift = (offset & 3) * 8;
      if (shift + sz * 8 > 32) return 0;
      return ((rd(offset & ~3) >>> shift) & ((1 << (sz * 8)) - 1)) >>> 0;
    };
    const write = (offset: number, sz: AccessSize, value: number): void => {
      if (bytes(offset)) {
        for (let i = 0; i < Math.min(sz, 4); i++) this.setPriorityByte(offset + i, (value >>> (8 * i)) & 0xff, bytes);
        this.changed();
        return;
      }
      if (sz === 4 && (offset & 3) === 0) wr(offset, value >>> 0);
      else if (sz === 8) wr(offset & ~3, value >>> 0);
      // Other sub-word writes to word registers are UNPREDICTABLE: ignored.
    };
    return {
      name,
      base,
      size,
      read,
      write,
      read64: (offset: number): bigint => BigInt(rd(offset) >>> 0) | (BigInt(rd(offset + 4) >>> 0) << 32n),
      write64: (offset: number, value: bigint): void => {
        wr(offset, Number(value & 0xffff_ffffn));
        wr(offset + 4, Number((value >> 32n) & 0xffff_ffffn));
      },
    };
  }

  /** Is `off` (in a GICD-layout frame) inside IPRIORITYR, for INTIDs this frame owns? */
  private distBytes(off: number, redist = false): boolean {
    if (off < GICD.IPRIORITYR || off >= GICD.IPRIORITYR + (redist ? 32 : GIC_NUM_IRQS)) return false;
    return true;
  }

  private priorityByte(off: number, inRange: (o: number) => boolean): number {
    if (!inRange(off)) return 0;
    const id = (off & 0xffff) - GICD.IPRIORITYR;
    return this.ownsPrivate(off) === id < 32 ? this.priority[id]! : 0;
  }

  private setPriorityByte(off: number, v: number, inRange: (o: number) => boolean): void {
    if (!inRange(off)) return;
    const id = (off & 0xffff) - GICD.IPRIORITYR;
    if (this.ownsPrivate(off) === id < 32) this.priority[id] = v;
  }

  /** SGI_base offsets are >= 0x10000 (redistributor: INTIDs 0-31); distributor offsets below (ARE: 32+). */
  private ownsPrivate(off: number): boolean {
    return off >= GICR.SGI_BASE;
  }

  // --- Distributor (IHI0069 12.9 "The GIC Distributor register descriptions") ---------------

  private distRead(off: number): number {
    if (off === GICD.CTLR) return (this.gicdCtlr | GICD_CTLR.ARE | GICD_CTLR.DS) >>> 0;
    if (off === GICD.TYPER) return GICD_TYPER_VALUE;
    if (off === GICD.IIDR) return IIDR_VALUE;
    if (off >= 0xffd0) return GICD_ID[(off - 0xffd0) >> 2] ?? 0;
    if (off >= GICD.IROUTER + 32 * 8 && off < GICD.IROUTER + GIC_NUM_IRQS * 8) {
      const id = (off - GICD.IROUTER) >> 3;
      return off & 4 ? this.routeHi[id]! : this.routeLo[id]!;
    }
    // Word n of a bit-array register covers INTIDs 32n..; with ARE, word 0 (SGIs/PPIs) is RAZ/WI.
    return this.bankRead(off, 1, WORDS);
  }

  private distWrite(off: number, v: number): void {
    if (off === GICD.CTLR) {
      this.gicdCtlr = v & (GICD_CTLR.EnableGrp0 | GICD_CTLR.EnableGrp1);
    } else if (off >= GICD.IROUTER + 32 * 8 && off < GICD.IROUTER + GIC_NUM_IRQS * 8) {
      const id = (off - GICD.IROUTER) >> 3;
      if (off & 4) this.routeHi[id] = v & 0xff;
      else this.routeLo[id] = v & 0x00ff_ffff; // IRM (bit 31) RAZ/WI: GICD_TYPER.No1N = 1
    } else if (!this.bankWrite(off, v, 1, WORDS)) {
      return;
    }
    this.changed();
  }

  // --- Redistributor (IHI0069 12.11 "The GIC Redistributor register descriptions") ----------

  private redistRead(off: number): number {
    if (off >= GICR.SGI_BASE) {
      const o = off - GICR.SGI_BASE;
      if (o >= 0xffd0) return GICR_ID[(o - 0xffd0) >> 2] ?? 0;
      return this.bankRead(o, 0, 1);
    }
    switch (off) {
      case GICR.CTLR:
        return 0; // EnableLPIs RAZ/WI (no LPIs), RWP/UWP 0
      case GICR.IIDR:
        return IIDR_VALUE;
      case GICR.TYPER:
        return GICR_TYPER_LO;
      case GICR.TYPER + 4:
        return 0; // Affinity_Value 0.0.0.0
      case GICR.WAKER:
        return this.waker;
      default:
        if (off >= 0xffd0 && off < 0x1_0000) return GICR_ID[(off - 0xffd0) >> 2] ?? 0;
        return 0;
    }
  }

  private redistWrite(off: number, v: number): void {
    if (off >= GICR.SGI_BASE) {
      if (this.bankWrite(off - GICR.SGI_BASE, v, 0, 1)) this.changed();
      return;
    }
    if (off === GICR.WAKER) {
      // ProcessorSleep is RW; ChildrenAsleep (RO) follows it at once (no in-flight state to drain).
      const sleep = v & GICR_WAKER.ProcessorSleep;
      this.waker = sleep ? GICR_WAKER.ProcessorSleep | GICR_WAKER.ChildrenAsleep : 0;
    }
  }

  /**
   * The bit-array and field registers shared by the GICD layout and SGI_base: word index n
   * (INTIDs 32n..32n+31) is served for n in [first, end); other words are RAZ/WI.
   */
  private bankRead(off: number, first: number, end: number): number {
    const word = (base: number): number => {
      const n = (off - base) >> 2;
      return n >= first && n < end ? n : -1;
    };
    const inRange = (base: number, words: number): boolean => off >= base && off < base + words * 4;
    let n: number;
    if (inRange(GICD.IGROUPR, 32) && (n = word(GICD.IGROUPR)) >= 0) return this.group[n]! >>> 0;
    if ((inRange(GICD.ISENABLER, 32) && (n = word(GICD.ISENABLER)) >= 0) || (inRange(GICD.ICENABLER, 32) && (n = word(GICD.ICENABLER)) >= 0))
      return this.enabled[n]! >>> 0;
    if ((inRange(GICD.ISPENDR, 32) && (n = word(GICD.ISPENDR)) >= 0) || (inRange(GICD.ICPENDR, 32) && (n = word(GICD.ICPENDR)) >= 0))
      return (this.latch[n]! | (this.line[n]! & ~this.edge[n]!)) >>> 0;
    if ((inRange(GICD.ISACTIVER, 32) && (n = word(GICD.ISACTIVER)) >= 0) || (inRange(GICD.ICACTIVER, 32) && (n = word(GICD.ICACTIVER)) >= 0))
      return this.active[n]! >>> 0;
    if (inRange(GICD.IPRIORITYR, 255)) {
      const id = off - GICD.IPRIORITYR;
      if (id >= first * 32 && id < end * 32) {
        return (this.priority[id]! | (this.priority[id + 1]! << 8) | (this.priority[id + 2]! << 16) | (this.priority[id + 3]! << 24)) >>> 0;
      }
      return 0;
    }
    if (inRange(GICD.ICFGR, 64)) {
      // Two ICFGR words per bank word; field k = Int_config[1:0] of INTID 16m+k, bit 0 RES0.
      const m = (off - GICD.ICFGR) >> 2;
      if (m < first * 2 || m >= end * 2) return 0;
      const e = (this.edge[m >> 1]! >>> ((m & 1) * 16)) & 0xffff;
      let v = 0;
      for (let k = 0; k < 16; k++) if ((e >>> k) & 1) v |= 2 << (2 * k);
      return v >>> 0;
    }
    return 0; // IGRPMODR, NSACR (DS = 1), ITARGETSR, SGIR, STATUSR, TYPER2, SETSPI, reserved: RAZ
  }

  /** Returns whether state may have changed. */
  private bankWrite(off: number, v: number, first: number, end: number): boolean {
    const word = (base: number): number => {
      const n = (off - base) >> 2;
      return n >= first && n < end ? n : -1;
    };
    const inRange = (base: number, words: number): boolean => off >= base && off < base + words * 4;
    const at = (base: number): number => (inRange(base, 32) ? word(base) : -1);
    let n: number;
    if ((n = at(GICD.IGROUPR)) >= 0) this.group[n] = v;
    else if ((n = at(GICD.ISENABLER)) >= 0) this.enabled[n]! |= v;
    else if ((n = at(GICD.ICENABLER)) >= 0) this.enabled[n]! &= ~v;
    else if ((n = at(GICD.ISPENDR)) >= 0) this.latch[n]! |= v;
    else if ((n = at(GICD.ICPENDR)) >= 0) this.latch[n]! &= ~v;
    else if ((n = at(GICD.ISACTIVER)) >= 0) this.active[n]! |= v;
    else if ((n = at(GICD.ICACTIVER)) >= 0) this.active[n]! &= ~v;
    else if (inRange(GICD.IPRIORITYR, 255)) {
      const id = off - GICD.IPRIORITYR;
      if (id < first * 32 || id >= end * 32) return false;
      for (let i = 0; i < 4; i++) this.priority[id + i] = (v >>> (8 * i)) & 0xff;
    } else if (inRange(GICD.ICFGR, 64)) {
      const m = (off - GICD.ICFGR) >> 2;
      if (m < first * 2 || m >= end * 2 || m === 0) return false; // ICFGR0 (SGIs) is RO: all edge
      let e = 0;
      for (let k = 0; k < 16; k++) if ((v >>> (2 * k + 1)) & 1) e |= 1 << k;
      const sh = (m & 1) * 16;
      this.edge[m >> 1] = ((this.edge[m >> 1]! & ~(0xffff << sh)) | (e << sh)) >>> 0;
    } else return false;
    return true;
  }
}
