/**
 * GICv2 (Arm IHI0048B "ARM Generic Interrupt Controller Architecture Specification v2.0"): the
 * memory-mapped Distributor (GICD, 4.3) and CPU interface (GICC, 4.4) of QEMU virt's
 * `gic-version=2` board, for up to 8 PEs (the per-PE banked state is indexed by CPU number, so an
 * SMP board gives each vCPU its own CPU-interface view through `cpuInterfaceFor`).
 *
 * Model choices (each as QEMU's arm_gic / KVM's vgic-v2 for a Non-secure guest):
 * - no Security Extensions: IGROUPR is plain storage and every interrupt is signalled as IRQ
 *   (GICC_CTLR.FIQEn is not implemented); GICD_CTLR bit 0 enables forwarding, GICC_CTLR bit 0
 *   signalling;
 * - 288 INTIDs (ITLinesNumber 8: 256 SPIs), 8 priority bits (QEMU reports 8), GICD_IIDR 0x43b
 *   and ICPIDR2 0x2b (QEMU's values: implementer Arm, GICv2);
 * - SGIs are edge-triggered and pended per source CPU (GICC_IAR.CPUID says who sent it, 4.4.4);
 *   PPI/SPI configuration (ICFGR) is writable for SPIs;
 * - GICD_ITARGETSR: banked and read-only for INTIDs 0-31 (each reads as the reading CPU's bit),
 *   writable for SPIs with the bits of absent CPUs masked. The spec makes them RAZ/WI on a
 *   uniprocessor; KVM keeps them readable (kvm-unit-tests checks that), and we follow KVM;
 * - one priority drop per EOI (GICC_CTLR.EOImodeNS = 0); GICC_DIR is accepted and ignored.
 */
import type { AccessSize, MmioDevice } from '../memory/bus.js';
import { applyState, captureState, type RestoreContext, type SnapshotContext, type Snapshottable, type StateValue } from '../snapshot/state.js';

export const GICV2_NUM_IRQS = 288;
const WORDS = GICV2_NUM_IRQS / 32;
export const GICV2_SPURIOUS = 1023;
const MAX_CPUS = 8;

/** Distributor offsets (IHI0048B 4.1.2 Table 4-1). */
const GICD = {
  CTLR: 0x000, TYPER: 0x004, IIDR: 0x008, IGROUPR: 0x080, ISENABLER: 0x100, ICENABLER: 0x180,
  ISPENDR: 0x200, ICPENDR: 0x280, ISACTIVER: 0x300, ICACTIVER: 0x380, IPRIORITYR: 0x400,
  ITARGETSR: 0x800, ICFGR: 0xc00, SGIR: 0xf00, CPENDSGIR: 0xf10, SPENDSGIR: 0xf20, ICPIDR2: 0xfe8,
} as const;
/** CPU interface offsets (4.1.3 Table 4-2). */
const GICC = { CTLR: 0x00, PMR: 0x04, BPR: 0x08, IAR: 0x0c, EOIR: 0x10, RPR: 0x14, HPPIR: 0x18, ABPR: 0x1c, AIAR: 0x20, AEOIR: 0x24, AHPPIR: 0x28, APR0: 0xd0, IIDR: 0xfc, DIR: 0x1000 } as const;

const bit = (a: Uint32Array, i: number): boolean => ((a[i >>> 5]! >>> (i & 31)) & 1) === 1;
const setBit = (a: Uint32Array, i: number, v: boolean): void => {
  if (v) a[i >>> 5]! |= 1 << (i & 31);
  else a[i >>> 5]! &= ~(1 << (i & 31));
};

export interface GicV2Options {
  distBase: number;
  cpuBase: number;
  cpus?: number;
  onChange?: () => void;
}

/** Per-CPU state: the banked INTIDs 0-31 (word 0 of each bit array) and the CPU interface. */
class CpuState {
  enabled = 0xffff; // SGIs always enabled (ISENABLER0[15:0] RAO/WI, as KVM and QEMU)
  latch = 0; // PPI pending latch (SGIs use sgiSources)
  line = 0; // PPI input levels
  active = 0;
  edge = 0xffff; // ICFGR0/1: SGIs edge, PPIs level (QEMU resets PPIs level-sensitive)
  group = 0;
  readonly priority = new Uint8Array(32);
  /** SGI n pending from source CPU s: bit s of sgiSources[n]. */
  readonly sgiSources = new Uint8Array(16);
  ctlr = 0;
  pmr = 0;
  bpr = 2;
  /** Active priorities, a stack of [intid, source, priority] (preemption order). */
  readonly activeStack: number[] = [];
}

export class GicV2 implements Snapshottable {
  /** Machine snapshots (emulator/snapshot/state.ts): every data field except distributor, cpuInterface, cpus, distBase, cpuBase (wiring, host resources). */
  snapshot(ctx: SnapshotContext): StateValue {
    return captureState(this, ctx, ['distributor', 'cpuInterface', 'cpus', 'distBase', 'cpuBase']);
  }
  restore(state: StateValue, ctx: RestoreContext): void {
    applyState(this, state, ctx);
  }

  readonly distributor: MmioDevice;
  /** CPU 0's CPU interface (the only one on a one-vCPU board). */
  readonly cpuInterface: MmioDevice;
  readonly cpus: number;
  onChange: (() => void) | undefined;
  /** CPU `c` wrote GICC_EOIR (the SMP scheduler's hand-over ends there: machine/smp.ts). */
  declare onEoi: ((c: number) => void) | undefined;

  private ctlr = 0;
  private readonly group = new Uint32Array(WORDS);
  private readonly enabled = new Uint32Array(WORDS);
  private readonly latch = new Uint32Array(WORDS);
  private readonly line = new Uint32Array(WORDS);
  private readonly edge = new Uint32Array(WORDS);
  private readonly active = new Uint32Array(WORDS);
  private readonly priority = new Uint8Array(GICV2_NUM_IRQS);
  private readonly targets = new Uint8Array(GICV2_NUM_IRQS);
  private readonly cpu: CpuState[] = [];
  private readonly distBase: number;
  private readonly cpuBase: number;
  /** The CPU whose access is being served (the board sets it for per-vCPU views). */
  private current = 0;

  constructor(opts: GicV2Options) {
    this.cpus = opts.cpus ?? 1;
    if (this.cpus < 1 || this.cpus > MAX_CPUS) throw new RangeError('GICv2 supports 1 to 8 CPUs');
    this.onChange = opts.onChange;
    this.distBase = opts.distBase;
    this.cpuBase = opts.cpuBase;
    for (let i = 0; i < this.cpus; i++) this.cpu.push(new CpuState());
    this.distributor = this.distributorFor(0);
    this.cpuInterface = this.cpuInterfaceFor(0);
  }

  /** The distributor as CPU `c` sees it (banked registers for INTIDs 0-31, GICD_SGIR source). */
  distributorFor(c: number): MmioDevice {
    return {
      name: 'gicv2-dist', base: this.distBase, size: 0x1_0000,
      // IHI0048B 4.3: no distributor read has a side effect (GICC_IAR, which acknowledges, is
      // the CPU interface's: not pure); every offset answers (reserved: RAZ).
      pureReads: true,
      read: (o, sz) => this.as(c, () => this.distRead(o, sz)),
      write: (o, sz, v) => this.as(c, () => this.distWrite(o, sz, v)),
    };
  }

  /** CPU `c`'s CPU interface. */
  cpuInterfaceFor(c: number): MmioDevice {
    return {
      name: 'gicv2-cpu', base: this.cpuBase, size: 0x1_0000,
      read: (o, sz) => this.as(c, () => (sz === 4 || sz === 8 ? this.cpuRead(o & ~3) >>> 0 : 0)),
      write: (o, sz, v) => this.as(c, () => (sz === 4 || sz === 8 ? this.cpuWrite(o & ~3, v >>> 0) : undefined)),
    };
  }

  private as<T>(c: number, f: () => T): T {
    const prev = this.current;
    this.current = c;
    try {
      return f();
    } finally {
      this.current = prev;
    }
  }

  private changed(): void {
    this.onChange?.();
  }

  // --- device lines --------------------------------------------------------------------------

  /** Level of a PPI (16-31, on CPU `cpu`) or SPI (32-287) input. */
  setLevel(intid: number, level: boolean, cpu = 0): void {
    if (!Number.isInteger(intid) || intid < 16 || intid >= GICV2_NUM_IRQS) throw new RangeError(`GICv2: no interrupt line ${intid}`);
    if (intid < 32) {
      const s = this.cpu[cpu]!;
      const m = 1 << intid;
      if (((s.line & m) !== 0) === level) return;
      s.line = level ? s.line | m : s.line & ~m;
      if (level && (s.edge & m) !== 0) s.latch |= m;
    } else {
      if (bit(this.line, intid) === level) return;
      setBit(this.line, intid, level);
      if (level && bit(this.edge, intid)) setBit(this.latch, intid, true);
    }
    this.changed();
  }

  // --- per-INTID state seen from a CPU -------------------------------------------------------

  private isPending(c: number, id: number): boolean {
    if (id < 16) return this.cpu[c]!.sgiSources[id]! !== 0;
    if (id < 32) {
      const s = this.cpu[c]!;
      const m = 1 << id;
      return (s.latch & m) !== 0 || ((s.edge & m) === 0 && (s.line & m) !== 0);
    }
    return bit(this.latch, id) || (!bit(this.edge, id) && bit(this.line, id));
  }
  private isEnabled(c: number, id: number): boolean {
    return id < 32 ? ((this.cpu[c]!.enabled >>> id) & 1) === 1 : bit(this.enabled, id);
  }
  private isActive(c: number, id: number): boolean {
    return id < 32 ? ((this.cpu[c]!.active >>> id) & 1) === 1 : bit(this.active, id);
  }
  private setActive(c: number, id: number, v: boolean): void {
    if (id < 32) {
      const s = this.cpu[c]!;
      s.active = v ? s.active | (1 << id) : s.active & ~(1 << id);
    } else setBit(this.active, id, v);
  }
  private prio(c: number, id: number): number {
    return id < 32 ? this.cpu[c]!.priority[id]! : this.priority[id]!;
  }
  private targetsCpu(c: number, id: number): boolean {
    return id < 32 || ((this.targets[id]! >>> c) & 1) === 1;
  }

  /** Highest-priority pending, enabled, not active interrupt for CPU c (4.3 / 3.2.4), or spurious. */
  private hppi(c: number): number {
    if ((this.ctlr & 1) === 0) return GICV2_SPURIOUS;
    let best = GICV2_SPURIOUS;
    let bestPrio = 0x100;
    for (let id = 0; id < GICV2_NUM_IRQS; id++) {
      if (id >= 32 && (id & 31) === 0 && (this.enabled[id >>> 5]! & (this.latch[id >>> 5]! | this.line[id >>> 5]!)) === 0) {
        id += 31;
        continue;
      }
      if (!this.isEnabled(c, id) || !this.isPending(c, id) || this.isActive(c, id) || !this.targetsCpu(c, id)) continue;
      const p = this.prio(c, id);
      if (p < bestPrio) {
        best = id;
        bestPrio = p;
      }
    }
    return best;
  }

  private runningPriority(c: number): number {
    const st = this.cpu[c]!.activeStack;
    return st.length === 0 ? 0x100 : st[st.length - 1]! % 0x200;
  }

  /** IRQ output to CPU c: an interrupt beats PMR and the running priority (3.3 "Interrupt prioritization"). */
  irqPending(c = 0): boolean {
    const s = this.cpu[c]!;
    if ((s.ctlr & 1) === 0) return false;
    const id = this.hppi(c);
    if (id === GICV2_SPURIOUS) return false;
    const p = this.prio(c, id);
    return p < s.pmr && p < this.runningPriority(c);
  }

  fiqPending(): boolean {
    return false;
  }

  // --- CPU interface ---------------------------------------------------------------------------

  private acknowledge(c: number): number {
    const s = this.cpu[c]!;
    const id = this.hppi(c);
    if (id === GICV2_SPURIOUS || (s.ctlr & 1) === 0) return GICV2_SPURIOUS;
    const p = this.prio(c, id);
    if (!(p < s.pmr && p < this.runningPriority(c))) return GICV2_SPURIOUS;
    let source = 0;
    if (id < 16) {
      // The lowest-numbered source first; the SGI stays pending for the others (4.4.4).
      const src = s.sgiSources[id]!;
      source = 31 - Math.clz32(src & -src);
      s.sgiSources[id] = src & ~(1 << source);
    } else if (id < 32) {
      s.latch &= ~(1 << id);
    } else {
      setBit(this.latch, id, false);
    }
    this.setActive(c, id, true);
    // Each entry: (interrupt id with its source) * 0x200 + its priority.
    s.activeStack.push((id | (source << 10)) * 0x200 + p);
    this.changed();
    return id | (source << 10);
  }

  private endOfInterrupt(c: number, v: number): void {
    const s = this.cpu[c]!;
    const id = v & 0x3ff;
    const idx = s.activeStack.findIndex((e) => Math.floor(e / 0x200) === (v & 0x1fff));
    if (idx >= 0) s.activeStack.splice(idx, 1);
    if (id < GICV2_NUM_IRQS) this.setActive(c, id, false);
    this.changed();
  }

  private cpuRead(o: number): number {
    const c = this.current;
    const s = this.cpu[c]!;
    switch (o) {
      case GICC.CTLR: return s.ctlr;
      case GICC.PMR: return s.pmr;
      case GICC.BPR: return s.bpr;
      case GICC.IAR: return this.acknowledge(c);
      case GICC.RPR: {
        const r = this.runningPriority(c);
        return r === 0x100 ? 0xff : r;
      }
      case GICC.HPPIR: {
        const id = this.hppi(c);
        if (id < 16) {
          const src = s.sgiSources[id]!;
          return id | ((31 - Math.clz32(src & -src)) << 10);
        }
        return id;
      }
      case GICC.AIAR: case GICC.AHPPIR: return GICV2_SPURIOUS;
      case GICC.APR0: return s.activeStack.length > 0 ? 1 : 0;
      case GICC.IIDR: return 0x0202_043b; // GICv2, Arm (QEMU's value)
      default: return 0;
    }
  }

  private cpuWrite(o: number, v: number): void {
    const c = this.current;
    const s = this.cpu[c]!;
    switch (o) {
      case GICC.CTLR: s.ctlr = v & 1; break;
      case GICC.PMR: s.pmr = v & 0xff; break;
      case GICC.BPR: s.bpr = Math.max(v & 7, 0); break;
      case GICC.EOIR: this.onEoi?.(c); this.endOfInterrupt(c, v); return;
      default: return; // ABPR, AEOIR, APRn, DIR: accepted, no effect in this model
    }
    this.changed();
  }

  // --- distributor -----------------------------------------------------------------------------

  private distRead(o: number, sz: AccessSize): number {
    const c = this.current;
    if (o >= GICD.IPRIORITYR && o < GICD.IPRIORITYR + 0x400) return this.bytes(o - GICD.IPRIORITYR, sz, (id) => (id < GICV2_NUM_IRQS ? this.prio(c, id) : 0));
    if (o >= GICD.ITARGETSR && o < GICD.ITARGETSR + 0x400) {
      return this.bytes(o - GICD.ITARGETSR, sz, (id) => (id >= GICV2_NUM_IRQS ? 0 : id < 32 ? 1 << c : this.targets[id]!));
    }
    if (o >= GICD.SPENDSGIR && o < GICD.SPENDSGIR + 16) return this.bytes(o - GICD.SPENDSGIR, sz, (n) => this.cpu[c]!.sgiSources[n]!);
    if (o >= GICD.CPENDSGIR && o < GICD.CPENDSGIR + 16) return this.bytes(o - GICD.CPENDSGIR, sz, (n) => this.cpu[c]!.sgiSources[n]!);
    if ((o & 3) !== 0 || sz < 4) return 0;
    switch (o) {
      case GICD.CTLR: return this.ctlr;
      // ITLinesNumber 8 (288 INTIDs), CPUNumber = cpus - 1 (4.3.2).
      case GICD.TYPER: return (WORDS - 1) | ((this.cpus - 1) << 5);
      case GICD.IIDR: return 0x43b;
      case GICD.ICPIDR2: return 0x2b;
    }
    const word = (base: number) => (o - base) >>> 2;
    if (o >= GICD.IGROUPR && o < GICD.IGROUPR + 0x80) return this.wordRead(word(GICD.IGROUPR), 'group');
    if (o >= GICD.ISENABLER && o < GICD.ICENABLER + 0x80) return this.wordRead(word(o < GICD.ICENABLER ? GICD.ISENABLER : GICD.ICENABLER), 'enabled');
    if (o >= GICD.ISPENDR && o < GICD.ICPENDR + 0x80) return this.pendingWord(word(o < GICD.ICPENDR ? GICD.ISPENDR : GICD.ICPENDR));
    if (o >= GICD.ISACTIVER && o < GICD.ICACTIVER + 0x80) return this.wordRead(word(o < GICD.ICACTIVER ? GICD.ISACTIVER : GICD.ICACTIVER), 'active');
    if (o >= GICD.ICFGR && o < GICD.ICFGR + 0x100) return this.cfgRead((o - GICD.ICFGR) >>> 2);
    return 0;
  }

  private distWrite(o: number, sz: AccessSize, v: number): void {
    const c = this.current;
    if (o >= GICD.IPRIORITYR && o < GICD.IPRIORITYR + 0x400) {
      this.setBytes(o - GICD.IPRIORITYR, sz, v, (id, b) => {
        if (id >= GICV2_NUM_IRQS) return;
        if (id < 32) this.cpu[c]!.priority[id] = b;
        else this.priority[id] = b;
      });
    } else if (o >= GICD.ITARGETSR && o < GICD.ITARGETSR + 0x400) {
      const mask = (1 << this.cpus) - 1;
      this.setBytes(o - GICD.ITARGETSR, sz, v, (id, b) => {
        if (id >= 32 && id < GICV2_NUM_IRQS) this.targets[id] = b & mask; // 0-31: read-only
      });
    } else if (o >= GICD.SPENDSGIR && o < GICD.SPENDSGIR + 16) {
      this.setBytes(o - GICD.SPENDSGIR, sz, v, (n, b) => void (this.cpu[c]!.sgiSources[n]! |= b & ((1 << this.cpus) - 1)));
    } else if (o >= GICD.CPENDSGIR && o < GICD.CPENDSGIR + 16) {
      this.setBytes(o - GICD.CPENDSGIR, sz, v, (n, b) => void (this.cpu[c]!.sgiSources[n]! &= ~b));
    } else if ((o & 3) === 0 && sz >= 4) {
      v >>>= 0;
      const word = (base: number) => (o - base) >>> 2;
      if (o === GICD.CTLR) this.ctlr = v & 1;
      else if (o === GICD.SGIR) this.sendSgi(c, v);
      else if (o >= GICD.IGROUPR && o < GICD.IGROUPR + 0x80) this.wordWrite(word(GICD.IGROUPR), 'group', v, 'set-all');
      else if (o >= GICD.ISENABLER && o < GICD.ISENABLER + 0x80) this.wordWrite(word(GICD.ISENABLER), 'enabled', v, 'set');
      else if (o >= GICD.ICENABLER && o < GICD.ICENABLER + 0x80) this.wordWrite(word(GICD.ICENABLER), 'enabled', v, 'clear');
      else if (o >= GICD.ISPENDR && o < GICD.ISPENDR + 0x80) this.pendWrite(word(GICD.ISPENDR), v, true);
      else if (o >= GICD.ICPENDR && o < GICD.ICPENDR + 0x80) this.pendWrite(word(GICD.ICPENDR), v, false);
      else if (o >= GICD.ISACTIVER && o < GICD.ISACTIVER + 0x80) this.wordWrite(word(GICD.ISACTIVER), 'active', v, 'set');
      else if (o >= GICD.ICACTIVER && o < GICD.ICACTIVER + 0x80) this.wordWrite(word(GICD.ICACTIVER), 'active', v, 'clear');
      else if (o >= GICD.ICFGR && o < GICD.ICFGR + 0x100) this.cfgWrite((o - GICD.ICFGR) >>> 2, v);
      else return;
    } else {
      return;
    }
    this.changed();
  }

  /** GICD_SGIR (4.3.15): TargetListFilter [25:24] (0 list, 1 all but self, 2 self), CPUTargetList [23:16], SGIINTID [3:0]. */
  private sendSgi(c: number, v: number): void {
    const filter = (v >>> 24) & 3;
    const all = (1 << this.cpus) - 1;
    const list = filter === 0 ? (v >>> 16) & all : filter === 1 ? all & ~(1 << c) : filter === 2 ? 1 << c : 0;
    const id = v & 0xf;
    for (let t = 0; t < this.cpus; t++) if ((list >>> t) & 1) this.cpu[t]!.sgiSources[id]! |= 1 << c;
  }

  private bytes(off: number, sz: AccessSize, get: (i: number) => number): number {
    let v = 0;
    for (let i = 0; i < Math.min(sz, 4); i++) v |= (get(off + i) & 0xff) << (8 * i);
    return v >>> 0;
  }
  private setBytes(off: number, sz: AccessSize, v: number, set: (i: number, b: number) => void): void {
    for (let i = 0; i < Math.min(sz, 4); i++) set(off + i, (v >>> (8 * i)) & 0xff);
  }

  private wordRead(n: number, what: 'group' | 'enabled' | 'active'): number {
    if (n >= WORDS) return 0;
    if (n === 0) {
      const s = this.cpu[this.current]!;
      return (what === 'group' ? s.group : what === 'enabled' ? s.enabled : s.active) >>> 0;
    }
    return this[what][n]! >>> 0;
  }
  private wordWrite(n: number, what: 'group' | 'enabled' | 'active', v: number, how: 'set' | 'clear' | 'set-all'): void {
    if (n >= WORDS) return;
    const apply = (old: number) => (how === 'set' ? old | v : how === 'clear' ? old & ~v : v);
    if (n === 0) {
      const s = this.cpu[this.current]!;
      // SGIs are always enabled in KVM's and QEMU's GICv2 (ISENABLER0[15:0] RAO/WI, 4.3.5 allows it).
      if (what === 'enabled') s.enabled = (apply(s.enabled) | 0xffff) >>> 0;
      else if (what === 'group') s.group = apply(s.group) >>> 0;
      else s.active = apply(s.active) >>> 0;
      return;
    }
    this[what][n] = apply(this[what][n]!) >>> 0;
  }
  private pendingWord(n: number): number {
    if (n >= WORDS) return 0;
    let v = 0;
    for (let i = 0; i < 32; i++) if (this.isPending(this.current, n * 32 + i)) v |= 1 << i;
    return v >>> 0;
  }
  private pendWrite(n: number, v: number, set: boolean): void {
    if (n >= WORDS) return;
    if (n === 0) {
      // SGIs: ISPENDR/ICPENDR bits 0-15 are WI (SPENDSGIR/CPENDSGIR do that, 4.3.7).
      const s = this.cpu[this.current]!;
      const m = v & 0xffff0000;
      s.latch = set ? s.latch | m : s.latch & ~m;
      return;
    }
    this.latch[n] = (set ? this.latch[n]! | v : this.latch[n]! & ~v) >>> 0;
  }
  private cfgRead(n: number): number {
    // Int_config[1] of each 2-bit field: 1 = edge-triggered.
    if (n >= WORDS * 2) return 0;
    let v = 0;
    for (let i = 0; i < 16; i++) {
      const id = n * 16 + i;
      const e = id < 32 ? ((this.cpu[this.current]!.edge >>> id) & 1) === 1 : bit(this.edge, id);
      if (e) v |= 2 << (2 * i);
    }
    return v >>> 0;
  }
  private cfgWrite(n: number, v: number): void {
    if (n < 2 || n >= WORDS * 2) return; // ICFGR0 (SGIs) read-only; PPIs fixed level as QEMU
    for (let i = 0; i < 16; i++) setBit(this.edge, n * 16 + i, ((v >>> (2 * i + 1)) & 1) === 1);
  }
}
