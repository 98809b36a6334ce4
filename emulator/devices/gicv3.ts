/**
 * GICv3 for 1-8 PEs: Distributor (GICD), one Redistributor per PE (GICR: RD_base + SGI_base) and
 * each PE's CPU interface system registers (ICC_*, gicv3-pe.ts), as Linux's drivers/irqchip/irq-gic-v3.c drives them
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
 * - 288 INTIDs (ITLinesNumber = 8: SGIs, PPIs, 256 SPIs), 16 INTID bits, LPIs 8192-65535
 *   (GICD_TYPER.LPIS, GICR_TYPER.PLPIS: gicv3-lpi.ts) fed by an ITS (its.ts), no MBIs,
 *   no extended ranges, no 1-of-N SPI routing (GICD_TYPER.No1N = 1, IROUTER.IRM RAZ/WI): an SPI
 *   goes to the PE whose affinity its IROUTER names (none if no PE has it).
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
import { GIC_NUM_IRQS, GIC_SPURIOUS, GICD_CTLR, GICR_WAKER, GicV3Pe, WORDS, bit, setBit, type GicV3Spis, type IntBank } from './gicv3-pe.js';
import { itsRedistributors, type GicMemory } from './gicv3-lpi.js';
import { bankRead, bankWrite } from './gicv3-bank.js';
import { GICD, GICR, GICR_STRIDE } from './gicv3-regs.js';
import { GicV3Its } from './its.js';

export { GIC_NUM_IRQS, GIC_SPURIOUS, GICD_CTLR, GICR_WAKER, GicV3Pe };
export { GICD, GICR, GICR_STRIDE };

/** GICD_TYPER: ITLinesNumber 8, SecurityExtn 0, MBIS 0, LPIS [17] 1, IDbits 15, A3V 1, No1N 1. */
const GICD_TYPER_VALUE = ((GIC_NUM_IRQS / 32 - 1) | (1 << 17) | (15 << 19) | (1 << 24) | (1 << 25)) >>> 0;
/** IIDR: Implementer 0x43B (Arm), ProductID 0 (IHI0069 12.9.x "GICD_IIDR"; matches no Linux quirk). */
const IIDR_VALUE = 0x0000_043b;
/** GICR_TYPER.Last (bit 4): the last Redistributor frame; Processor_Number in [23:8]; 16 PPIs. */
const GICR_TYPER_LAST = 1 << 4;
/**
 * GICR_TYPER.PLPIS [0] = 1 (physical LPIs), VLPIS 0, DirectLPI 0 (LPIs come from the ITS only),
 * CommonLPIAff [25:24] = 0b01 as QEMU virt (Redistributors with the same Aff3 share a configuration table).
 */
const GICR_TYPER_LPI = (1 << 0) | (1 << 24);
/**
 * Identification registers at 0xFFD0-0xFFFC (PIDR4-7, PIDR0-3, CIDR0-3), IHI0069 12.1.x
 * "Identification registers": only PIDR2.ArchRev (bits [7:4] = 3, GICv3) is architected; the rest
 * are the values QEMU returns.
 */
const GICD_ID = [0x44, 0, 0, 0, 0x92, 0xb4, 0x3b, 0, 0x0d, 0xf0, 0x05, 0xb1] as const;
const GICR_ID = [0x44, 0, 0, 0, 0x93, 0xb4, 0x3b, 0, 0x0d, 0xf0, 0x05, 0xb1] as const;

export interface GicV3Options {
  distBase?: number;
  redistBase?: number;
  /** The ITS's control frame (default QEMU virt's 0x08080000). */
  itsBase?: number;
  /** PEs (one Redistributor each), 1 to 8; default 1. */
  cpus?: number;
  /** Affinity (Aff2.Aff1.Aff0) of PE i; default Aff0 = i % 16, Aff1 = i / 16 (QEMU virt). */
  affinity?: (i: number) => number;
  /** Called whenever some PE's irqPending() or fiqPending() changes value. */
  onChange?: () => void;
}

/**
 * GICv3 for 1-8 PEs: the Distributor (GICD, SPIs and their routing), one Redistributor per PE in
 * consecutive 128 KiB frames from the redistributor base (QEMU virt: 0x080a0000 + 0x20000 * n),
 * and each PE's CPU interface (gicv3-pe.ts). SGIs written to a PE's ICC_SGI1R_EL1 are pended in
 * the Redistributors the target list names. The one-PE accessors (irqPending, iccRead, ...) are
 * PE 0's.
 */
export class GicV3 implements Snapshottable, GicV3Spis {
  /**
   * Machine snapshots: the distributor's data fields, each PE's (LPI registers included; the LPI
   * tables are guest RAM) and the ITS's registers (its tables are guest RAM too); wiring excluded.
   */
  snapshot(ctx: SnapshotContext): StateValue {
    return {
      ...(captureState(this, ctx, ['distributor', 'redistributor', 'pes', 'cpus', 'memory', 'its']) as Record<string, StateValue>),
      pes: this.pes.map((p) => captureState(p, ctx, ['spis', 'index', 'affinity'])),
      its: this.its.snapshot(ctx),
    };
  }
  restore(state: StateValue, ctx: RestoreContext): void {
    const { pes, its, ...dist } = state as Record<string, StateValue>;
    applyState(this, dist, ctx);
    (pes as StateValue[]).forEach((p, i) => applyState(this.pes[i]!, p, ctx));
    if (its !== undefined) this.its.restore(its, ctx);
    this.changed();
  }

  readonly distributor: MmioDevice;
  /** Every PE's Redistributor frames, one device. */
  readonly redistributor: MmioDevice;
  readonly pes: GicV3Pe[] = [];
  readonly cpus: number;
  /** The ITS at QEMU virt's 0x08080000 (its.ts): MSIs become LPIs in these Redistributors. */
  readonly its: GicV3Its;
  /** Guest RAM, where the LPI and ITS tables live; attached by the board once RAM exists. */
  memory: GicMemory | null = null;
  onChange: (() => void) | undefined;
  /** A PE wrote ICC_EOIR{0,1}_EL1 (the SMP scheduler's hand-over ends there: machine/smp.ts). */
  declare onEoi: ((pe: number) => void) | undefined;

  // The SPI bank (words 1..8; word 0 is each PE's, in gicv3-pe.ts).
  readonly group = new Uint32Array(WORDS);
  readonly enabled = new Uint32Array(WORDS);
  readonly latch = new Uint32Array(WORDS);
  readonly line = new Uint32Array(WORDS);
  readonly edge = new Uint32Array(WORDS);
  readonly active = new Uint32Array(WORDS);
  readonly priority = new Uint8Array(GIC_NUM_IRQS);
  /** GICD_IROUTER<n> Aff2.Aff1.Aff0 (low word; IRM RAZ) and Aff3 (high word), for SPIs. */
  private readonly routeLo = new Uint32Array(GIC_NUM_IRQS);
  private readonly routeHi = new Uint32Array(GIC_NUM_IRQS);
  private gicdCtlr = 0; // EnableGrp0 | EnableGrp1

  constructor(opts: GicV3Options = {}) {
    this.onChange = opts.onChange;
    this.cpus = opts.cpus ?? 1;
    if (!Number.isInteger(this.cpus) || this.cpus < 1 || this.cpus > 8) throw new RangeError('GICv3: 1 to 8 PEs');
    const aff = opts.affinity ?? ((i: number) => ((i >> 4) << 8) | (i & 0xf));
    for (let i = 0; i < this.cpus; i++) this.pes.push(new GicV3Pe(i, aff(i), this));
    const distBase = opts.distBase ?? VIRT.GIC_DIST.base;
    const redistBase = opts.redistBase ?? VIRT.GIC_REDIST.base;
    this.distributor = this.frame('gicv3-dist', distBase, 0x1_0000, (o) => this.distRead(o), (o, v) => this.distWrite(o, v), (o) => this.distBytes(o));
    this.redistributor = this.frame(
      'gicv3-redist',
      redistBase,
      GICR_STRIDE * this.cpus,
      (o) => this.redistRead(this.pes[Math.floor(o / GICR_STRIDE)]!, o % GICR_STRIDE),
      (o, v) => this.redistWrite(this.pes[Math.floor(o / GICR_STRIDE)]!, o % GICR_STRIDE, v),
      (o) => o % GICR_STRIDE >= GICR.SGI_BASE && this.distBytes((o % GICR_STRIDE) - GICR.SGI_BASE, true),
    );
    this.its = new GicV3Its(itsRedistributors(this), opts.itsBase ?? VIRT.GIC_ITS.base);
    this.reset();
  }

  /** Guest RAM for the LPI Configuration/Pending tables and the ITS's tables and command queue. */
  attachMemory(mem: GicMemory): void {
    this.memory = mem;
    for (const p of this.pes) p.lpi.stale = true;
    this.changed();
  }


  /** Reset state (IHI0069 12.9 / 12.11 reset values; UNKNOWN ones are 0, all interrupts Group 0). */
  reset(): void {
    for (const a of [this.group, this.enabled, this.latch, this.active, this.edge]) a.fill(0);
    this.priority.fill(0);
    this.routeLo.fill(0);
    this.routeHi.fill(0);
    this.gicdCtlr = 0;
    for (const p of this.pes) p.reset();
    this.its.reset();
    this.changed();
  }

  get ctlr(): number {
    return this.gicdCtlr;
  }

  // --- device lines ------------------------------------------------------------------------

  /** Level of an interrupt line from a device: a PPI (16-31) of PE `cpu`, or an SPI (32-287). */
  setLevel(intid: number, level: boolean, cpu = 0): void {
    if (!Number.isInteger(intid) || intid < 16 || intid >= GIC_NUM_IRQS) throw new RangeError(`GICv3: no interrupt line ${intid}`);
    const b: IntBank = intid < 32 ? this.pes[cpu]! : this;
    if (bit(b.line, intid) === level) return;
    setBit(b.line, intid, level);
    // Edge-triggered: a rising edge sets the pending latch (IHI0069 4.1.1 "Edge-triggered and level-sensitive").
    if (level && bit(b.edge, intid)) setBit(b.latch, intid, true);
    this.changed();
  }

  // --- signalling (PE 0's, for one-PE users) -----------------------------------------------

  irqPending(): boolean {
    return this.pes[0]!.irqPending();
  }
  fiqPending(): boolean {
    return this.pes[0]!.fiqPending();
  }
  iccRead(name: string): bigint | null {
    return this.pes[0]!.iccRead(name);
  }
  iccWrite(name: string, value: bigint): boolean {
    return this.pes[0]!.iccWrite(name, value);
  }

  /** Pending state of an INTID (latch, or line for level-sensitive), private INTIDs as PE `cpu` sees them. */
  isPending(intid: number, cpu = 0): boolean {
    const b: IntBank = intid < 32 ? this.pes[cpu]! : this;
    return bit(b.latch, intid) || (bit(b.line, intid) && !bit(b.edge, intid));
  }

  isActive(intid: number, cpu = 0): boolean {
    return bit((intid < 32 ? this.pes[cpu]! : this).active, intid);
  }

  /** Every PE recomputes its signalling; onChange when any PE's IRQ or FIQ line changed. */
  changed(): void {
    let flipped = false;
    for (const p of this.pes) {
      const irq = p.irqCache;
      const fiq = p.fiqCache;
      p.recompute();
      if (irq !== p.irqCache || fiq !== p.fiqCache) flipped = true;
    }
    if (flipped && this.onChange) this.onChange();
  }

  /** SPIs reach the PE whose affinity GICD_IROUTER<n> names (IHI0069 12.9 "GICD_IROUTER<n>"; IRM RAZ: No1N). */
  routedTo(id: number, affinity: number): boolean {
    return this.routeLo[id] === affinity && this.routeHi[id] === 0;
  }

  /**
   * ICC_SGI1R_EL1 / ICC_SGI0R_EL1 of PE `from` (IHI0069 12.2 "ICC_SGI1R_EL1"): TargetList [15:0],
   * Aff1 [23:16], INTID [27:24], Aff2 [39:32], IRM [40], RS [47:44], Aff3 [55:48]. IRM = 1: every
   * PE but the sender; otherwise the PEs with Aff3.Aff2.Aff1 as given and Aff0 = RS * 16 + n for
   * each set bit n of TargetList. The SGI is pended in a target only if its group matches there.
   */
  sendSgi(from: number, value: bigint, g1: boolean): void {
    const lo = Number(value & 0xffff_ffffn) >>> 0;
    const hi = Number((value >> 32n) & 0xffff_ffffn) >>> 0;
    const sgi = (lo >>> 24) & 0xf;
    const irm = (hi >>> 8) & 1;
    const upper = (((hi & 0xff) << 8) | ((lo >>> 16) & 0xff)) >>> 0; // Aff2.Aff1
    const aff3 = (hi >>> 16) & 0xff;
    const rs = (hi >>> 12) & 0xf;
    for (const p of this.pes) {
      if (irm) {
        if (p.index !== from) p.pendSgi(sgi, g1);
        continue;
      }
      const aff0 = p.affinity & 0xff;
      if (aff3 !== 0 || p.affinity >>> 8 !== upper || aff0 >> 4 !== rs) continue;
      if ((lo >>> (aff0 & 0xf)) & 1) p.pendSgi(sgi, g1);
    }
    this.changed();
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
      // IHI0069 12.1: no GICD/GICR read has a side effect (acknowledge and EOI are the CPU
      // interface's, system registers here); every offset of the frame answers (reserved: RAZ).
      pureReads: true,
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

  /** A priority byte at `off` of a GICD-layout frame; redistributor offsets span the PE frames. */
  private priorityByte(off: number, inRange: (o: number) => boolean): number {
    if (!inRange(off)) return 0;
    const [b, id] = this.priorityAt(off);
    return b === null ? 0 : b.priority[id]!;
  }

  private setPriorityByte(off: number, v: number, inRange: (o: number) => boolean): void {
    if (!inRange(off)) return;
    const [b, id] = this.priorityAt(off);
    if (b !== null) b.priority[id] = v;
  }

  /** SGI_base offsets (INTIDs 0-31 of one PE) are >= 0x10000 within a PE's frame; distributor offsets below (ARE: 32+). */
  private priorityAt(off: number): [IntBank | null, number] {
    const local = off % GICR_STRIDE;
    const id = (local & 0xffff) - GICD.IPRIORITYR;
    if (local >= GICR.SGI_BASE) return id < 32 ? [this.pes[Math.floor(off / GICR_STRIDE)]!, id] : [null, 0];
    return id >= 32 ? [this, id] : [null, 0];
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
    return bankRead(this, off, 1, WORDS);
  }

  private distWrite(off: number, v: number): void {
    if (off === GICD.CTLR) {
      this.gicdCtlr = v & (GICD_CTLR.EnableGrp0 | GICD_CTLR.EnableGrp1);
    } else if (off >= GICD.IROUTER + 32 * 8 && off < GICD.IROUTER + GIC_NUM_IRQS * 8) {
      const id = (off - GICD.IROUTER) >> 3;
      if (off & 4) this.routeHi[id] = v & 0xff;
      else this.routeLo[id] = v & 0x00ff_ffff; // IRM (bit 31) RAZ/WI: GICD_TYPER.No1N = 1
    } else if (!bankWrite(this, off, v, 1, WORDS)) {
      return;
    }
    this.changed();
  }

  // --- Redistributor (IHI0069 12.11 "The GIC Redistributor register descriptions") ----------

  private redistRead(pe: GicV3Pe, off: number): number {
    if (off >= GICR.SGI_BASE) {
      const o = off - GICR.SGI_BASE;
      if (o >= 0xffd0) return GICR_ID[(o - 0xffd0) >> 2] ?? 0;
      return bankRead(pe, o, 0, 1);
    }
    switch (off) {
      case GICR.IIDR:
        return IIDR_VALUE;
      case GICR.TYPER:
        return (GICR_TYPER_LPI | (pe.index << 8) | (pe.index === this.cpus - 1 ? GICR_TYPER_LAST : 0)) >>> 0;
      case GICR.TYPER + 4:
        return pe.affinity; // Affinity_Value Aff3.Aff2.Aff1.Aff0 (Aff3 = 0)
      case GICR.WAKER:
        return pe.waker;
      default:
        if (off >= 0xffd0 && off < 0x1_0000) return GICR_ID[(off - 0xffd0) >> 2] ?? 0;
        return pe.lpi.read(off) ?? 0; // GICR_CTLR, PROPBASER, PENDBASER (gicv3-lpi.ts); others RAZ
    }
  }

  private redistWrite(pe: GicV3Pe, off: number, v: number): void {
    if (off >= GICR.SGI_BASE) {
      if (bankWrite(pe, off - GICR.SGI_BASE, v, 0, 1)) this.changed();
      return;
    }
    if (off === GICR.WAKER) {
      // ProcessorSleep is RW; ChildrenAsleep (RO) follows it at once (no in-flight state to drain).
      const sleep = v & GICR_WAKER.ProcessorSleep;
      pe.waker = sleep ? GICR_WAKER.ProcessorSleep | GICR_WAKER.ChildrenAsleep : 0;
    } else if (pe.lpi.write(off, v, this.memory)) {
      this.changed();
    }
  }
}
