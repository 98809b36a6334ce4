/**
 * PMUv3 (FEAT_PMUv3p5) for one PE: the cycle counter, PMCR_EL0.N event counters, overflow
 * status and interrupt on PPI 23 (QEMU virt's PMU interrupt), as Arm ARM D13 "The Performance
 * Monitors Extension" describes them.
 *
 * Events counted: SW_INCR (0x00), INST_RETIRED (0x08), CPU_CYCLES (0x11), STALL_FRONTEND (0x23),
 * STALL_BACKEND (0x24) and CHAIN (0x1E). The machine model executes one instruction per cycle
 * (virtual time is 1 ns per retired instruction, the clock 1 GHz), so CPU_CYCLES and the cycle
 * counter advance with the exact retired-instruction count (WFI idle time is not cycles: the
 * core is clock-gated) and the stall events, cycles in which no instruction issued, stay 0 in
 * this model: they count, they just have nothing to count. INST_RETIRED is exact (the CPU
 * counts every instruction), which no hardware PMU and not QEMU's TCG (icount only) offers.
 *
 * Counting is lazy: `sync()` charges the instructions retired since the last sync to every
 * counter that is counting, with the EL filter (PMEVTYPER/PMCCFILTR P, U, NSH) of the EL the
 * CPU is at when it syncs. The board syncs at every PMU register access and at every slice
 * boundary, and bounds slices by the next overflow (`instructionsToOverflow`), so overflow
 * interrupts arrive within a slice-bounding tick of the overflowing instruction. An EL change
 * without a PMU access or slice end in between is charged to the later EL (documented limit).
 */
import { defineSysreg, sysregKey, type SysregCatalogue, type SysregDef, type SysregSpec } from '../cpu/sysreg-catalogue.js';
import { applyState, captureState, type RestoreContext, type SnapshotContext, type Snapshottable, type StateValue } from '../snapshot/state.js';

/** Common event numbers (Arm ARM D13.11 "PMU events and event numbers"). */
export const PMU_EVENT = {
  SW_INCR: 0x00,
  INST_RETIRED: 0x08,
  CPU_CYCLES: 0x11,
  CHAIN: 0x1e,
  STALL_FRONTEND: 0x23,
  STALL_BACKEND: 0x24,
} as const;

/** PMCR_EL0 bits (D19.4 "PMCR_EL0"). */
export const PMCR = { E: 1n, P: 2n, C: 4n, D: 8n, X: 16n, DP: 32n, LC: 64n, LP: 128n } as const;
const PMCR_RW = PMCR.E | PMCR.D | PMCR.X | PMCR.DP | PMCR.LC | PMCR.LP;
/** PMEVTYPER<n>_EL0 / PMCCFILTR_EL0 filter bits: P (exclude EL1), U (exclude EL0), NSK, NSU, NSH (include EL2), M. */
const FILTER_MASK = 0xfc00_0000n;
const EVTYPER_MASK = FILTER_MASK | 0xffffn;
const P_BIT = 1n << 31n;
const U_BIT = 1n << 30n;
const NSH_BIT = 1n << 27n;
const M64 = (1n << 64n) - 1n;
const M32 = 0xffff_ffffn;

/** PMCR_EL0.N of this PMU (QEMU 7.2 -cpu max has 6). */
export const PMU_COUNTERS = 6;

/** The PMU's interrupt, QEMU virt's PPI 23 (INTID 23; the DT node says PPI 7). */
export const PMU_PPI = 23;

export interface PmuOptions {
  /** Instructions retired so far (exact, also inside a slice). */
  instructions: () => number;
  /** Current exception level, for the filters and PMUSERENR_EL0 at EL0. */
  el: () => number;
  /** PMU interrupt line (level). */
  setIrq: (level: boolean) => void;
  /** MDCR_EL2 as the hypervisor set it (HPMN, TPM, TPMCR); default: none set, HPMN = N. */
  mdcr?: () => bigint | undefined;
  /** PMCR_EL0.N (default 6, as QEMU's -cpu max). */
  counters?: number;
}

type PmuReg =
  | 'PMCR' | 'PMCNTENSET' | 'PMCNTENCLR' | 'PMOVSCLR' | 'PMSWINC' | 'PMSELR' | 'PMCEID0' | 'PMCEID1'
  | 'PMCCNTR' | 'PMXEVTYPER' | 'PMXEVCNTR' | 'PMUSERENR' | 'PMOVSSET' | 'PMINTENSET' | 'PMINTENCLR'
  | 'PMMIR' | 'PMCCFILTR' | { evcntr: number } | { evtyper: number };

/** [model name, op0, op1, CRn, CRm, op2, catalogue spec] (Arm ARM D19.4 "Performance Monitors registers"). */
const ROWS: Array<[PmuReg & string, number, number, number, number, number, Partial<SysregSpec>]> = [
  ['PMCR', 3, 3, 9, 12, 0, { note: 'also MDCR_EL2.TPMCR' }], ['PMCNTENSET', 3, 3, 9, 12, 1, { reset: 0n }],
  ['PMCNTENCLR', 3, 3, 9, 12, 2, { reset: 0n }], ['PMOVSCLR', 3, 3, 9, 12, 3, { reset: 0n }],
  ['PMSWINC', 3, 3, 9, 12, 4, { access: 'wo' }], ['PMSELR', 3, 3, 9, 12, 5, {}],
  ['PMCEID0', 3, 3, 9, 12, 6, { access: 'ro' }], ['PMCEID1', 3, 3, 9, 12, 7, { access: 'ro' }],
  ['PMCCNTR', 3, 3, 9, 13, 0, {}], ['PMXEVTYPER', 3, 3, 9, 13, 1, {}], ['PMXEVCNTR', 3, 3, 9, 13, 2, {}],
  ['PMUSERENR', 3, 3, 9, 14, 0, { el0: 'always', reset: 0n, note: 'read-only at EL0' }],
  ['PMOVSSET', 3, 3, 9, 14, 3, { reset: 0n }], ['PMINTENSET', 3, 0, 9, 14, 1, { el0: 'none', reset: 0n }],
  ['PMINTENCLR', 3, 0, 9, 14, 2, { el0: 'none', reset: 0n }], ['PMMIR', 3, 0, 9, 14, 6, { el0: 'none', access: 'ro' }],
  ['PMCCFILTR', 3, 3, 14, 15, 7, { reset: 0n }],
];
const BY_KEY = new Map<number, PmuReg>();
const P: SysregSpec = { storage: 'device', group: 'PMU', el0: 'PMUSERENR', cpu: 'emulate' };
const defs: SysregDef[] = [];
for (const [r, op0, op1, crn, crm, op2, spec] of ROWS) {
  const suffix = op1 === 0 ? '_EL1' : '_EL0';
  defs.push(defineSysreg('reg', r + suffix, op0, op1, crn, crm, op2, { ...P, ...spec }));
  BY_KEY.set(sysregKey({ op0, op1, crn, crm, op2 }), r);
}
for (let n = 0; n < 31; n++) {
  const c = { op0: 3, op1: 3, crn: 14, crm: 8 + (n >> 3), op2: n & 7 };
  const t = { ...c, crm: 12 + (n >> 3) };
  defs.push(defineSysreg('reg', `PMEVCNTR${n}_EL0`, c.op0, c.op1, c.crn, c.crm, c.op2, P));
  defs.push(defineSysreg('reg', `PMEVTYPER${n}_EL0`, t.op0, t.op1, t.crn, t.crm, t.op2, P));
  BY_KEY.set(sysregKey(c), { evcntr: n });
  BY_KEY.set(sysregKey(t), { evtyper: n });
}
/** The PMU's rows in the system-register catalogue (they replace the architectural RAZ/WI rows). */
export const PMU_SYSREGS: readonly SysregDef[] = Object.freeze(defs);

/**
 * Register the PMU's rows, answered by this model. The trap rules (MDCR_EL2.TPM/TPMCR, an EL0
 * access PMUSERENR_EL0 does not allow, a counter at or above MDCR_EL2.HPMN: UNDEFINED) are the EL2
 * model's and apply before the device is reached (hyp/traps.ts, hyp/sysreg-policy.ts; a trapped
 * access is emulated with this model). What HPMN hides in the shared registers (enable, overflow,
 * interrupt-enable bits, PMSWINC) is RAZ/WI here; a direct access that reaches the device anyway
 * (no EL2 model) is RAZ/WI too.
 */
export function registerPmu(catalogue: SysregCatalogue, pmu: Pmu): void {
  catalogue.register(PMU_SYSREGS, {
    read: (e) => pmu.sysregAccess(e, true, 0n) ?? 0n,
    write: (e, v) => void pmu.sysregAccess(e, false, v),
  }, { replace: true });
}

/** The PMU register an encoding names, or null. */
export function pmuRegByEncoding(e: { op0: number; op1: number; crn: number; crm: number; op2: number }): PmuReg | null {
  return BY_KEY.get(sysregKey(e)) ?? null;
}

/** Events this PMU counts: PMCEID0_EL0 bits [31:0] for 0x00-0x1F, PMCEID1_EL0 for 0x20-0x3F. */
const SUPPORTED = new Set<number>(Object.values(PMU_EVENT));
function ceid(lo: number): bigint {
  let v = 0n;
  for (const e of SUPPORTED) if (e >= lo && e < lo + 32) v |= 1n << BigInt(e - lo);
  return v;
}

export class Pmu implements Snapshottable {
  /** Machine snapshots (emulator/snapshot/state.ts): every data field except opts, n (wiring, host resources). */
  snapshot(ctx: SnapshotContext): StateValue {
    return captureState(this, ctx, ['opts', 'n']);
  }
  restore(state: StateValue, ctx: RestoreContext): void {
    applyState(this, state, ctx);
  }

  readonly n: number;
  private pmcr = 0n;
  private cnten = 0n;
  private ovs = 0n;
  private inten = 0n;
  private selr = 0n;
  private userenr = 0n;
  private ccfiltr = 0n;
  private ccnt = 0n;
  /** PMCR.D: cycles not yet charged to the cycle counter (counts every 64th cycle). */
  private cycleFrac = 0;
  private readonly evcnt: bigint[];
  private readonly evtype: bigint[];
  private lastSync: number;
  private irqLevel = false;

  constructor(private readonly opts: PmuOptions) {
    this.n = opts.counters ?? PMU_COUNTERS;
    if (this.n < 0 || this.n > 31) throw new RangeError('PMCR_EL0.N is 0..31');
    this.evcnt = new Array<bigint>(this.n).fill(0n);
    this.evtype = new Array<bigint>(this.n).fill(0n);
    this.lastSync = opts.instructions();
  }

  /** Counters >= HPMN are reserved for EL2 (D13.3.1); at EL1/EL0 PMCR_EL0.N reads as HPMN. */
  private hpmn(): number {
    const m = this.opts.mdcr?.();
    if (m === undefined) return this.n;
    return Math.min(this.n, Number(m & 0x1fn));
  }
  /**
   * Which event counters are enabled globally, as a mask: PMCR_EL0.E enables 0..HPMN-1, MDCR_EL2.HPME
   * (bit 7, the enable of the counters reserved for EL2, in place of PMCR_EL0.E) HPMN..N-1 (D13.3 "Enabling event counters", AArch64.CountPMUEvents), bit 31 (cycle) by PMCR_EL0.E.
   */
  private globalEnable(): bigint {
    // Called at every slice boundary (sync, instructionsToOverflow): MDCR_EL2 is read once, and
    // nothing more is computed while neither enable is set (the PMU unused: issue 13's
    // micro-bench runs 260k slices, ~10% of its host time went here).
    const mdcr = this.opts.mdcr?.();
    const e = (this.pmcr & PMCR.E) !== 0n;
    const hpme = mdcr !== undefined && (mdcr & 0x80n) !== 0n;
    if (!e && !hpme) return 0n;
    const hpmn = mdcr === undefined ? this.n : Math.min(this.n, Number(mdcr & 0x1fn));
    const all = (1n << BigInt(this.n)) - 1n;
    const guest = (1n << BigInt(hpmn)) - 1n;
    let m = 0n;
    if (e) m |= guest | (1n << 31n);
    if (hpme) m |= all & ~guest;
    return m;
  }
  private visibleMask(): bigint {
    const n = this.opts.el() >= 2 ? this.n : this.hpmn();
    return (1n << BigInt(n)) - 1n | (1n << 31n);
  }

  // ------------------------------------------------------------------ counting

  private filtered(filter: bigint, el: number): boolean {
    if (el === 0) return (filter & U_BIT) !== 0n;
    if (el === 1) return (filter & P_BIT) !== 0n;
    return (filter & NSH_BIT) === 0n;
  }
  /** `enabled`: globalEnable(), computed once per sync by the caller. */
  private evCounting(i: number, el: number, enabled: bigint = this.globalEnable()): boolean {
    return ((enabled & this.cnten) >> BigInt(i) & 1n) !== 0n && !this.filtered(this.evtype[i]!, el);
  }
  private cycleCounting(el: number): boolean {
    return (this.pmcr & PMCR.E) !== 0n && ((this.cnten >> 31n) & 1n) !== 0n && !this.filtered(this.ccfiltr, el);
  }

  /** Add `d` events to event counter i, with its overflow (32-bit unless PMCR.LP) and CHAIN. */
  private addEvent(i: number, d: bigint): void {
    const old = this.evcnt[i]!;
    const next = (old + d) & M64;
    this.evcnt[i] = next;
    const lp = (this.pmcr & PMCR.LP) !== 0n;
    // AArch64.IncrementEventCounter: bits [63:0] always count; overflow at bit 31 or 63 (LP).
    const wraps = lp ? (old + d) >> 64n : ((old & M32) + d) >> 32n;
    if (wraps === 0n) return;
    this.ovs |= 1n << BigInt(i);
    // CHAIN on the odd counter of a pair counts overflows of the even one (D13.5 "Chaining").
    const odd = i + 1;
    if ((i & 1) === 0 && odd < this.n && (this.evtype[odd]! & 0xffffn) === BigInt(PMU_EVENT.CHAIN) && !lp) {
      if (this.evCounting(odd, this.opts.el())) this.addEvent(odd, wraps);
    }
  }

  /** Charge the instructions retired since the last sync. */
  sync(): void {
    const now = this.opts.instructions();
    const d = now - this.lastSync;
    this.lastSync = now;
    const enabled = d > 0 ? this.globalEnable() : 0n;
    if (enabled !== 0n) {
      const el = this.opts.el();
      const bd = BigInt(d);
      for (let i = 0; i < this.n; i++) {
        const ev = Number(this.evtype[i]! & 0xffffn);
        if ((ev === PMU_EVENT.INST_RETIRED || ev === PMU_EVENT.CPU_CYCLES) && this.evCounting(i, el, enabled)) this.addEvent(i, bd);
      }
      if (this.cycleCounting(el)) {
        let c = bd;
        if ((this.pmcr & PMCR.D) !== 0n) {
          this.cycleFrac += d;
          c = BigInt(Math.floor(this.cycleFrac / 64));
          this.cycleFrac %= 64;
        }
        const old = this.ccnt;
        this.ccnt = (old + c) & M64;
        const wraps = (this.pmcr & PMCR.LC) !== 0n ? (old + c) >> 64n : ((old & M32) + c) >> 32n;
        if (wraps !== 0n) this.ovs |= 1n << 31n;
      }
    }
    this.updateIrq();
  }

  /**
   * Interrupt request: PMINTENSET[n] and PMOVSSET[n] for some n whose global enable is set (D13.8:
   * PMCR_EL0.E for the guest's counters and the cycle counter, MDCR_EL2.HPME for EL2's).
   */
  private updateIrq(): void {
    const pending = this.ovs & this.inten;
    const level = pending !== 0n && (pending & this.globalEnable()) !== 0n;
    if (level !== this.irqLevel) {
      this.irqLevel = level;
      this.opts.setIrq(level);
    }
  }

  /**
   * Instructions until the next overflow of a counter that counts instructions or cycles with
   * its interrupt enabled (so the board can end the slice there), or null.
   */
  instructionsToOverflow(): number | null {
    const enabled = this.globalEnable();
    if (enabled === 0n) return null;
    const el = this.opts.el();
    let best: bigint | null = null;
    const consider = (left: bigint) => {
      if (best === null || left < best) best = left;
    };
    for (let i = 0; i < this.n; i++) {
      const ev = Number(this.evtype[i]! & 0xffffn);
      if ((ev !== PMU_EVENT.INST_RETIRED && ev !== PMU_EVENT.CPU_CYCLES) || !this.evCounting(i, el, enabled)) continue;
      if (((this.inten >> BigInt(i)) & 1n) === 0n) continue;
      const lp = (this.pmcr & PMCR.LP) !== 0n;
      consider(lp ? (1n << 64n) - this.evcnt[i]! : (1n << 32n) - (this.evcnt[i]! & M32));
    }
    if (this.cycleCounting(el) && ((this.inten >> 31n) & 1n) !== 0n) {
      const lc = (this.pmcr & PMCR.LC) !== 0n;
      const left = lc ? (1n << 64n) - this.ccnt : (1n << 32n) - (this.ccnt & M32);
      consider((this.pmcr & PMCR.D) !== 0n ? left * 64n : left);
    }
    if (best === null) return null;
    const b = best as bigint;
    return b > BigInt(Number.MAX_SAFE_INTEGER) ? null : Number(b) + (this.lastSync - this.opts.instructions());
  }

  // ------------------------------------------------------------ register access

  /**
   * An MRS/MSR of a PMU register: the value read (0n for a write), or null when it is not a PMU
   * register or EL0 may not access it (PMUSERENR_EL0).
   */
  sysregAccess(e: { op0: number; op1: number; crn: number; crm: number; op2: number }, read: boolean, value: bigint): bigint | null {
    const reg = pmuRegByEncoding(e);
    if (reg === null) return null;
    // MDCR_EL2.TPM/TPMCR are trap rules the EL2 model applies before the access gets here (and a
    // trapped access it emulates reaches this same model); HPMN is applied below.
    if (this.opts.el() === 0 && !this.el0Allowed(reg, read)) return null;
    this.sync();
    const r = read ? this.read(reg) : (this.write(reg, value), 0n);
    this.updateIrq();
    return r;
  }

  /** PMUSERENR_EL0: EN (all), SW (PMSWINC writes), CR (cycle counter reads), ER (event counter reads, PMSELR). */
  private el0Allowed(reg: PmuReg, read: boolean): boolean {
    const u = this.userenr;
    if (u & 1n) return true;
    if (reg === 'PMUSERENR') return read;
    if (reg === 'PMSWINC') return (u & 2n) !== 0n;
    if (reg === 'PMCCNTR') return read && (u & 4n) !== 0n;
    if (typeof reg === 'object' && 'evcntr' in reg) return read && (u & 8n) !== 0n;
    if (reg === 'PMXEVCNTR') return read && (u & 8n) !== 0n;
    if (reg === 'PMSELR') return (u & 8n) !== 0n;
    return false;
  }

  private read(reg: PmuReg): bigint {
    const vis = this.visibleMask();
    if (typeof reg === 'object') {
      const i = 'evcntr' in reg ? reg.evcntr : reg.evtyper;
      if (((vis >> BigInt(i)) & 1n) === 0n) return 0n; // not implemented / reserved for EL2: RAZ
      return 'evcntr' in reg ? this.evcnt[i]! : this.evtype[i]!;
    }
    switch (reg) {
      case 'PMCR': {
        const n = BigInt(this.opts.el() >= 2 ? this.n : this.hpmn());
        // IMP 0x41 ('A'), IDCODE 0x01, as QEMU's -cpu max reports (reset_pmcr_el0 0x41013000).
        return (0x41n << 24n) | (0x01n << 16n) | (n << 11n) | (this.pmcr & PMCR_RW);
      }
      case 'PMCNTENSET': case 'PMCNTENCLR': return this.cnten & vis;
      case 'PMOVSSET': case 'PMOVSCLR': return this.ovs & vis;
      case 'PMINTENSET': case 'PMINTENCLR': return this.inten & vis;
      case 'PMSWINC': return 0n;
      case 'PMSELR': return this.selr;
      case 'PMCEID0': return ceid(0);
      case 'PMCEID1': return ceid(0x20);
      case 'PMCCNTR': return this.ccnt;
      case 'PMCCFILTR': return this.ccfiltr;
      case 'PMUSERENR': return this.userenr;
      case 'PMMIR': return 0n;
      case 'PMXEVTYPER': return this.selr === 31n ? this.ccfiltr : this.read({ evtyper: Number(this.selr) });
      case 'PMXEVCNTR': return this.selr === 31n ? 0n : this.read({ evcntr: Number(this.selr) });
    }
  }

  private write(reg: PmuReg, v: bigint): void {
    const vis = this.visibleMask();
    if (typeof reg === 'object') {
      const i = 'evcntr' in reg ? reg.evcntr : reg.evtyper;
      if (((vis >> BigInt(i)) & 1n) === 0n) return; // WI
      if ('evcntr' in reg) this.evcnt[i] = v & M64;
      else this.evtype[i] = v & EVTYPER_MASK;
      return;
    }
    switch (reg) {
      case 'PMCR':
        if (v & PMCR.P) for (let i = 0; i < this.n; i++) if (this.opts.el() >= 2 || i < this.hpmn()) this.evcnt[i] = 0n;
        if (v & PMCR.C) {
          this.ccnt = 0n;
          this.cycleFrac = 0;
        }
        this.pmcr = v & PMCR_RW;
        return;
      case 'PMCNTENSET': this.cnten |= v & vis; return;
      case 'PMCNTENCLR': this.cnten &= ~(v & vis); return;
      case 'PMOVSSET': this.ovs |= v & vis; return;
      case 'PMOVSCLR': this.ovs &= ~(v & vis); return;
      case 'PMINTENSET': this.inten |= v & vis; return;
      case 'PMINTENCLR': this.inten &= ~(v & vis); return;
      case 'PMSWINC':
        // SW_INCR counts on counters that are enabled and programmed for it (D13.11: event 0x00).
        for (let i = 0; i < this.n; i++) {
          if (((v & vis) >> BigInt(i)) & 1n && Number(this.evtype[i]! & 0xffffn) === PMU_EVENT.SW_INCR && this.evCounting(i, this.opts.el())) {
            this.addEvent(i, 1n);
          }
        }
        return;
      case 'PMSELR': this.selr = v & 0x1fn; return;
      case 'PMCCNTR': this.ccnt = v & M64; return;
      case 'PMCCFILTR': this.ccfiltr = v & FILTER_MASK; return;
      case 'PMUSERENR': this.userenr = v & 0xfn; return;
      case 'PMXEVTYPER':
        if (this.selr === 31n) this.ccfiltr = v & FILTER_MASK;
        else this.write({ evtyper: Number(this.selr) }, v);
        return;
      case 'PMXEVCNTR':
        if (this.selr !== 31n) this.write({ evcntr: Number(this.selr) }, v);
        return;
      case 'PMCEID0': case 'PMCEID1': case 'PMMIR': return; // read-only
    }
  }
}
