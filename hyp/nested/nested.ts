/**
 * Nested virtualisation (seed 003, issue 12): a guest hypervisor (L1) at virtual EL2 and
 * its guests (L2), on a CPU core that runs only EL1/EL0.
 *
 *  - `vel2` mode: L1 runs at EL1 on the CPU with its EL2 regime (SCTLR/TCR/TTBR0/MAIR_EL2)
 *    loaded into the EL1 registers and our stage 2 (VMID 1). Every EL2 register access,
 *    CurrentEL read, EL1 context access (those are L2's), TLBI and AT it executes reaches
 *    the system-instruction hook and is emulated here; its ERET is caught by a code hook;
 *    HVC/SMC arrive as exits; exceptions it takes go to VBAR_EL2.
 *  - `l2` mode: L2 runs at EL1/EL0 with the EL1 context L1 gave it, translated by a shadow
 *    stage 2 (shadow-s2.ts) when L1's HCR_EL2.VM is set. An exit is reflected to L1 when
 *    L1's own HCR_EL2 asks for it (TVM, TRVM, TID1-3, TSC, TWI, ..., HVC, a stage-2 fault in L1's
 *    tables, IMO interrupts), with ESR/FAR/HPFAR/ELR/SPSR_EL2 as the Arm ARM says hardware
 *    sets them (D1.10 exception entry, ESR_EL2 ISS encodings); otherwise our model
 *    handles it and L1 never sees it.
 *
 * Non-VHE guest hypervisors only: HCR_EL2.E2H reads as 0 (the stretch goal is not done).
 *
 * Why this file stays whole (a little over ~450 lines): NestedVirt is one state machine, which
 * world is on the CPU (`vel2` or `l2`), and its transitions (virtual exception entry, ERET, the
 * EL1-context and SP moves, the stage-2 switch) share its private register batches and mode;
 * what can stand alone already does: the virtual EL2 registers (vregs.ts), virtual-EL2 system
 * instructions (vel2-sysinsn.ts), AT (at.ts), TLBI decoding (tlbi.ts), the three-stage walk
 * (walk.ts), the shadow stage 2 (shadow-s2.ts, shadow-mmu.ts, compose.ts).
 */
import type { Exit, ExitAction, SysInsnAccess, SysInsnRoute } from '../../emulator/cpu/exits.js';
import { RESUME } from '../../emulator/cpu/exits.js';
import type { GuestCpu, ExceptionKind, RegisterBatch } from '../../emulator/cpu/guest-cpu.js';
import { parseTlbi, tlbiOperation } from '../../emulator/mmu/tlbi-op.js';
import { EC, describeEsr, esr, esrEc } from '../../emulator/cpu/esr.js';
import { PSTATE } from '../../emulator/cpu/pstate.js';
import { sysregKey, SR } from '../../emulator/cpu/sysregs.js';
import { faultStatusCode } from '../../emulator/mmu/faults.js';
import { findSysregByKey } from '../sysreg-table.js';
import { routeAccess } from '../traps.js';
import { HCR } from '../hcr.js';
import { NestedS2, type HostStage2View, type ShadowS2Mmu } from './shadow-s2.js';
import { VirtualEl2, L2_EL1_CONTEXT, sctlrEl2ToEl1, tcrEl2ToEl1 } from './vregs.js';
import { atFromVel2 } from './at.js';
import { routeVel2SysInsn, type NestedStats, type Vel2SysState } from './vel2-sysinsn.js';
import { nestedWalk, type NestedWalkReport } from './walk.js';

const KIND_OFFSET: Record<ExceptionKind, number> = { sync: 0x000, irq: 0x080, fiq: 0x100, serror: 0x180 };
/** ERET (Arm ARM C6.2 "ERET"). */
const ERET = 0xd69f03e0;

/** What the nested model needs from the hypervisor that hosts it. */
export interface NestedHost {
  ourStage2(): HostStage2View;
  /** Put our own stage 2 (VMID 1) back on the MMU. */
  installOwnStage2(): void;
  /** Our HCR_EL2 trap words OR'ed with L1's while L2 runs (null: ours alone). */
  setExtraTraps(hcr: bigint | null): void;
  /** Handle an exit as our own (map RAM, emulate MMIO, PSCI): the normal path. */
  handleOwn(cpu: GuestCpu, exit: Exit): ExitAction;
  ram: { base: number; size: number };
  /** Model cycles charged for a reflection into L1 or an ERET from it (cost.ts). */
  chargeNested(kind: 'reflect' | 'eret' | 'vel2-sysreg', cycles?: number): void;
}

export type { NestedStats };

export class NestedVirt {
  mode: 'vel2' | 'l2' = 'vel2';
  readonly vel2 = new VirtualEl2();
  /** L2's EL1 context while L1 runs (values in L2_EL1_CONTEXT order), and its SP_EL1. */
  readonly l2El1: bigint[] = L2_EL1_CONTEXT.map(() => 0n);
  l2SpEl1 = 0n;
  /** SP_EL2 while L2 runs. */
  spEl2 = 0n;
  readonly s2: NestedS2;
  current: ShadowS2Mmu | null = null;
  readonly stats: NestedStats = { exitsToL1: {}, erets: 0, vel2Sysregs: 0, vel2Undefined: 0, unknownEl2: {} };
  /** Unknown EL2 encodings already warned about. */
  private readonly warned = new Set<number>();

  /** SP, SP_EL0, SP_EL1 (Unicorn banks SP only on ERET: the model banks it on every move) */
  private readonly sps: RegisterBatch;
  private readonly pst: RegisterBatch;

  constructor(
    private readonly host: NestedHost,
    private readonly vcpu: GuestCpu,
  ) {
    // Shadow entries leave the model TLB through the CPU's own TLB maintenance (which also
    // flushes Unicorn's): a whole shadow VMID, or the entries whose stage-2 leaf holds an IPA.
    const VMID = tlbiOperation('VMALLS12E1');
    const IPA = tlbiOperation('IPAS2E1');
    this.s2 = new NestedS2({
      guestMem: vcpu.descriptorMemory(),
      host: () => host.ourStage2(),
      tlb: {
        invalidateVmid: (v) => (vcpu.tlbi(VMID, 0n, v), true),
        invalidateIpa: (v, ipa) => (vcpu.tlbi(IPA, BigInt(Math.floor(ipa / 4096)), v), true),
        tlbi: (op, xt, v) => (vcpu.tlbi(parseTlbi(op), xt, v), true),
      },
    });
    vcpu.addDescriptorMemory(this.s2.pool);
    this.sps = vcpu.createBatch([{ core: 'sp' }, { core: 'sp_el0' }, { core: 'sp_el1' }]);
    this.pst = vcpu.createBatch([{ core: 'pstate' }]);
  }

  private readSps(): void {
    this.sps.read();
  }
  private get sp(): bigint {
    return this.sps.get(0);
  }
  private get spEl0(): bigint {
    return this.sps.get(1);
  }
  private get spEl1(): bigint {
    return this.sps.get(2);
  }
  /** Write SP, SP_EL0, SP_EL1 (null: unchanged) in one call. */
  private writeSps(sp: bigint | null, el0: bigint | null, el1: bigint | null): void {
    if (sp !== null) this.sps.set(0, sp);
    if (el0 !== null) this.sps.set(1, el0);
    if (el1 !== null) this.sps.set(2, el1);
    this.sps.write();
  }
  private writePstate(p: number): void {
    this.pst.set(0, BigInt(p >>> 0));
    this.pst.write();
  }

  /** Reset into virtual EL2h: L1's EL2 regime (MMU off at reset) on the CPU's EL1 registers. */
  start(): void {
    this.mode = 'vel2';
    this.loadL1Regime();
  }

  // ------------------------------------------------------------------ CPU state moves

  private loadL1Regime(): void {
    const v = this.vcpu;
    const g = (n: string) => this.vel2.get(n);
    v.setSysreg(SR.SCTLR_EL1, sctlrEl2ToEl1(g('SCTLR_EL2')));
    v.setSysreg(SR.TCR_EL1, tcrEl2ToEl1(g('TCR_EL2')));
    v.setSysreg(SR.TTBR0_EL1, g('TTBR0_EL2'));
    v.setSysreg(SR.TTBR1_EL1, 0n);
    v.setSysreg(SR.MAIR_EL1, g('MAIR_EL2'));
    v.setSysreg(SR.VBAR_EL1, g('VBAR_EL2'));
  }

  private saveL2(): void {
    const v = this.vcpu;
    L2_EL1_CONTEXT.forEach(([, e], i) => (this.l2El1[i] = v.sysreg(e)));
  }

  private loadL2(): void {
    const v = this.vcpu;
    L2_EL1_CONTEXT.forEach(([, e], i) => v.setSysreg(e, this.l2El1[i]!));
  }

  /** L1's VMID as its VTTBR_EL2/VTCR_EL2 say (8 or 16 bits, VTCR_EL2.VS). */
  get l1Vmid(): number {
    const vmid = Number((this.vel2.get('VTTBR_EL2') >> 48n) & 0xffffn);
    return (this.vel2.get('VTCR_EL2') >> 19n) & 1n ? vmid : vmid & 0xff;
  }

  private installL2Stage2(): void {
    const hcr = this.vel2.get('HCR_EL2');
    if ((hcr & 1n) === 0n) {
      // L1 runs L2 without stage 2: L2's IPAs are L1's PAs, i.e. our IPAs.
      this.current = null;
      this.host.installOwnStage2();
      return;
    }
    const fwb = ((hcr >> BigInt(HCR.FWB)) & 1n) === 1n;
    this.installShadow(this.s2.select({ vttbr: this.vel2.get('VTTBR_EL2'), vtcr: this.vel2.get('VTCR_EL2'), fwb }));
  }

  /** Put a shadow stage 2 on the MMU for L2 (with L1's DC, PTW and FWB). */
  installShadow(mmu: ShadowS2Mmu): void {
    const hcr = this.vel2.get('HCR_EL2');
    this.current = mmu;
    const keep = (1n << BigInt(HCR.DC)) | (1n << BigInt(HCR.PTW)) | (1n << BigInt(HCR.FWB));
    this.vcpu.setStage2({ vtcr: mmu.vtcr, vttbr: mmu.vttbr, hcr: 1n | (hcr & keep) });
  }

  /**
   * Exception entry to virtual EL2 (Arm ARM D1.10.2, AArch64.TakeException with target EL2):
   * SPSR_EL2 = PSTATE (M as the EL it was taken from), ELR_EL2 = preferred return,
   * ESR_EL2 (and FAR_EL2 / HPFAR_EL2 for aborts), PSTATE = EL2h with DAIF masked,
   * PC = VBAR_EL2 + 0x000/0x200 (current EL, SP_EL0/SP_ELx) or 0x400 (lower EL, AArch64).
   */
  enterVel2(kind: ExceptionKind, esrValue: number, ret: number, far: number | null, hpfar: number | null): void {
    const v = this.vcpu;
    const old = v.pstate & ~PSTATE.IL;
    let spsr: number;
    let base: number;
    this.readSps();
    // the live SP belongs to SP_ELx (handler mode) or SP_EL0 (thread mode, EL0)
    const handler = ((old >>> 2) & 3) !== 0 && (old & PSTATE.SP) !== 0;
    const spEl0 = handler ? this.spEl0 : this.sp;
    const spElx = handler ? this.sp : this.spEl1;
    if (this.mode === 'l2') {
      this.l2SpEl1 = spElx;
      this.saveL2();
      spsr = old;
      base = 0x400;
    } else {
      // taken from virtual EL2 itself: M reads EL2h / EL2t
      spsr = (old & ~0xc) | (2 << 2);
      this.spEl2 = spElx;
      base = handler ? 0x200 : 0x000;
    }
    const e2 = this.vel2;
    // IRQ/FIQ leave ESR_EL2 as it was (only synchronous exceptions and SError write it; QEMU alike)
    if (kind === 'sync' || kind === 'serror') e2.set('ESR_EL2', BigInt(esrValue >>> 0));
    e2.set('ELR_EL2', BigInt.asUintN(64, BigInt(ret)));
    e2.set('SPSR_EL2', BigInt(spsr >>> 0));
    if (far !== null) e2.set('FAR_EL2', BigInt.asUintN(64, BigInt(far)));
    if (hpfar !== null) e2.set('HPFAR_EL2', BigInt(hpfar));
    // PSTATE first, then CP_REG writes (they rebuild QEMU's cached flags; DESIGN.md)
    this.writePstate((old & 0xf000_0000) | PSTATE.DAIF | 0x5);
    this.writeSps(this.spEl2, spEl0, this.spEl2);
    const fromL2 = this.mode === 'l2';
    this.mode = 'vel2';
    this.loadL1Regime();
    if (fromL2) {
      this.host.setExtraTraps(null);
      this.host.installOwnStage2();
      this.current = null;
    }
    v.pc = Number(e2.get('VBAR_EL2') & ~0x7ffn) + base + KIND_OFFSET[kind];
    v.flushTlb();
  }

  /** ERET at virtual EL2 (Arm ARM C6.2 ERET, D1.11 exception return): PC = ELR_EL2, PSTATE = SPSR_EL2. */
  eret(): void {
    const v = this.vcpu;
    this.stats.erets++;
    this.host.chargeNested('eret');
    const spsr = Number(this.vel2.get('SPSR_EL2') & 0xffff_ffffn);
    const elr = this.vel2.get('ELR_EL2');
    const target = (spsr >>> 2) & 3;
    const cur = v.pstate;
    // the live SP is SP_EL2 (EL2h) or SP_EL0 (EL2t)
    this.readSps();
    const handler = (cur & PSTATE.SP) !== 0;
    const spEl0 = handler ? this.spEl0 : this.sp;
    this.spEl2 = handler ? this.sp : this.spEl1;
    if (target === 2 || target === 3) {
      // back to virtual EL2 (EL3 does not exist here: an illegal return is treated as EL2)
      const next = ((spsr & ~0xc & ~PSTATE.IL) | (1 << 2)) >>> 0;
      this.writePstate(next);
      this.writeSps((next & PSTATE.SP) !== 0 ? this.spEl2 : spEl0, spEl0, this.spEl2);
      v.setSysreg(SR.VBAR_EL1, this.vel2.get('VBAR_EL2'));
      v.pc = Number(elr);
      return;
    }
    this.writePstate(spsr & ~PSTATE.IL);
    this.mode = 'l2';
    this.loadL2();
    this.writeSps(target === 1 && (spsr & 1) !== 0 ? this.l2SpEl1 : spEl0, spEl0, this.l2SpEl1);
    this.host.setExtraTraps(this.vel2.get('HCR_EL2'));
    this.installL2Stage2();
    v.pc = Number(elr);
    v.flushTlb();
  }

  // ------------------------------------------------------------------ vCPU hooks

  /** Code sites: ERETs (L1's return from virtual EL2) and system instructions with op0 != 0 (L2's accesses L1 traps). */
  static hooksWord(this: void, w: number): boolean {
    return w === ERET || ((w & 0xffc0_0000) >>> 0 === 0xd500_0000 && ((w >>> 19) & 3) !== 0);
  }

  /**
   * Before a hooked instruction runs. ERET at virtual EL2: the virtual exception return.
   * A system instruction in L2 that L1's HCR_EL2 traps: the EC 0x18 exception to L1, taken
   * here (a PC change from a code hook is honoured; from the system-instruction hook it is
   * not, for registers EL1 may access). Everything else runs on (false).
   */
  onCodeSite(v: GuestCpu, pc: number, w: number): boolean {
    if (w === ERET) {
      if (this.mode !== 'vel2') return false;
      this.eret();
      return true;
    }
    if (this.mode !== 'l2') return false;
    const a = { read: ((w >>> 21) & 1) === 1, el: v.el, op0: (w >>> 19) & 3, op1: (w >>> 16) & 7, crn: (w >>> 12) & 15, crm: (w >>> 8) & 15, op2: (w >>> 5) & 7, rt: w & 31 };
    const reason = this.l1Traps(a);
    if (reason === null) return false;
    // at EL0 a register EL0 may not access is UNDEFINED to L2's EL1, not a trap to L1
    if (a.el === 0 && findSysregByKey(sysregKey(a))!.el0Ctl < 0) return false;
    // an exit like any other (the debugger's trap-break sees it), reflected by handleExit
    v.raiseSysregExit({ ...a, pc, value: a.read ? 0n : v.x(a.rt), trap: reason });
    return true;
  }

  /** Is this trapped access one L1's own HCR_EL2 asks for (the reason), or null. */
  private l1Traps(a: { read: boolean; el: number; op0: number; op1: number; crn: number; crm: number; op2: number }): string | null {
    const row = findSysregByKey(sysregKey(a));
    if (row === undefined) return null;
    const r = routeAccess(this.vel2.get('HCR_EL2'), row, a);
    // traps that are L1's: an HCR_EL2 bit it set (not our own 'emulate' / 'unknown' handling)
    if (r.route !== 'trap' || r.reason === 'emulate' || r.reason === 'unknown' || r.reason === null) return null;
    return r.reason;
  }

  /**
   * Exceptions the vCPU is about to take to EL1: at virtual EL2 they go to VBAR_EL2; from L2
   * an interrupt goes to L1 when its HCR_EL2.IMO/FMO routes it (virtual interrupts to L2
   * are not modelled: a physical IRQ is L1's to handle).
   */
  takeException(kind: ExceptionKind, esrValue: number, ret: number, far?: number): boolean {
    if (this.mode === 'vel2') {
      // an interrupt reaches virtual EL2 only when L1 routes it there (interruptMasked)
      this.stats.vel2Undefined += esrEc(esrValue) === EC.UNKNOWN && kind === 'sync' ? 1 : 0;
      this.enterVel2(kind, esrValue, ret, far ?? null, null);
      return true;
    }
    if ((kind === 'irq' && this.vel2.hcr(HCR.IMO)) || (kind === 'fiq' && this.vel2.hcr(HCR.FMO))) {
      this.reflect(kind, kind, 0, ret, null, null);
      return true;
    }
    return false;
  }

  /**
   * Masking of a pending physical interrupt under L1's routing (Arm ARM D1.3.6, table "Physical
   * interrupt masking" with EL2 enabled, HCR_EL2.TGE = 0): routed to EL2 (IMO/FMO set) it is
   * taken from L2 whatever L2's PSTATE.I/F, and at virtual EL2 when L1's PSTATE.I/F is clear;
   * not routed, it targets EL1: never taken at EL2, taken from L2 when L2's PSTATE allows.
   */
  interruptMasked(v: GuestCpu, kind: 'irq' | 'fiq'): boolean {
    const routed = this.vel2.hcr(kind === 'irq' ? HCR.IMO : HCR.FMO);
    const bit = kind === 'irq' ? PSTATE.I : PSTATE.F;
    if (this.mode === 'vel2') return !routed || (v.pstate & bit) !== 0;
    return routed ? false : (v.pstate & bit) !== 0;
  }

  private reflect(reason: string, kind: ExceptionKind, esrValue: number, ret: number, far: number | null, hpfar: number | null): ExitAction {
    this.stats.exitsToL1[reason] = (this.stats.exitsToL1[reason] ?? 0) + 1;
    this.host.chargeNested('reflect');
    this.enterVel2(kind, esrValue, ret, far, hpfar);
    if (this.onReflect !== null) this.onReflect({ reason, text: this.describeEntry(kind) });
    return RESUME;
  }

  /** Told of every reflection, after the entry (the debugger's trap-break exit-to-l1). */
  onReflect: ((e: { readonly reason: string; readonly text: string }) => void) | null = null;

  /** The exception entry just made at virtual EL2, in one line. */
  private describeEntry(kind: ExceptionKind): string {
    const e2 = this.vel2;
    const h = (v: bigint): string => '0x' + v.toString(16);
    const vector = `VBAR_EL2+0x${(this.vcpu.pc - Number(e2.get('VBAR_EL2') & ~0x7ffn)).toString(16)}`;
    const esrText = kind === 'sync' ? ` ESR_EL2=${h(e2.get('ESR_EL2'))} (${describeEsr(Number(e2.get('ESR_EL2')))})` : '';
    const far = kind === 'sync' && (esrEc(Number(e2.get('ESR_EL2'))) & 0x3a) === 0x20 ? ` FAR_EL2=${h(e2.get('FAR_EL2'))} HPFAR_EL2=${h(e2.get('HPFAR_EL2'))}` : '';
    return `${kind} at ${vector};${esrText} ELR_EL2=${h(e2.get('ELR_EL2'))} SPSR_EL2=${h(e2.get('SPSR_EL2'))}${far}`;
  }

  /** System instructions at virtual EL2: emulated (vel2-sysinsn.ts), or null for the normal route. */
  routeSysInsn(v: GuestCpu, a: SysInsnAccess): SysInsnRoute | null {
    return this.mode === 'vel2' ? routeVel2SysInsn(this.sysState, v, a) : null;
  }

  /** What the virtual-EL2 system-instruction emulation reads and changes of this model. */
  private readonly sysState: Vel2SysState = {
    vel2: this.vel2,
    l2El1: this.l2El1,
    stats: this.stats,
    warned: this.warned,
    spEl1: () => this.l2SpEl1,
    setSpEl1: (v) => (this.l2SpEl1 = v),
    tlbi: (op, xt) => void this.s2.tlbi(op, xt, this.l1Vmid),
    at: (v, a) => atFromVel2(this, v, a),
    undefinedAt: (pc) => this.enterVel2('sync', esr(EC.UNKNOWN, 0), pc, null, null),
    regimeChanged: () => {
      this.loadL1Regime();
      this.vcpu.flushTlb();
    },
    charge: () => this.host.chargeNested('vel2-sysreg'),
  };

  /** SMC reaches our firmware (PSCI) unless L1 traps it from L2 (TSC): every SMC exits. */
  trapsSmc(): boolean {
    return true;
  }

  /**
   * Exits: reflected to L1 when L1's controls ask for them, else null (our normal path).
   * Stage-2 faults in L2 go through the shadow fill first.
   */
  handleExit(v: GuestCpu, exit: Exit): ExitAction | null {
    if (this.mode === 'vel2') {
      if (exit.reason === 'hvc') return this.reflect('hvc-el2', 'sync', exit.esr, exit.pc + 4, null, null); // HVC at EL2 is taken to EL2
      return null;
    }
    const e2 = this.vel2;
    switch (exit.reason) {
      case 'hvc':
        return this.reflect('hvc', 'sync', exit.esr, exit.pc + 4, null, null);
      case 'smc':
        return e2.hcr(HCR.TSC) ? this.reflect('smc', 'sync', exit.esr, exit.pc, null, null) : null;
      case 'wfx':
        return e2.hcr(exit.wfe ? HCR.TWE : HCR.TWI) ? this.reflect('wfx', 'sync', exit.esr, exit.pc, null, null) : null;
      case 'sysreg': {
        // raised by onCodeSite before the instruction ran (or trapped by our own route)
        const why = this.l1Traps({ read: exit.read, el: v.el, op0: exit.op0, op1: exit.op1, crn: exit.crn, crm: exit.crm, op2: exit.op2 });
        return why === null ? null : this.reflect(`sysreg.${why}`, 'sync', exit.esr, exit.pc, null, null);
      }
      case 'dabt_s2':
      case 'iabt_s2': {
        const mmu = this.current;
        if (mmu === null) return null; // no L1 stage 2: the fault is in ours
        const fetch = exit.reason === 'iabt_s2';
        const s1ptw = ((exit.esr >>> 7) & 1) === 1;
        const wnr = !fetch && ((exit.esr >>> 6) & 1) === 1 && !s1ptw;
        const r = this.s2.fill(mmu, exit.ipa, fetch ? 'fetch' : wnr ? 'write' : 'read', s1ptw ? 1 : v.el === 0 ? 0 : 1);
        if (r.kind === 'mapped') return RESUME;
        if (r.kind === 'l1-fault') {
          // same syndrome as the shadow fault, with L1's fault status code (DFSC/IFSC)
          const esrL1 = ((exit.esr & ~0x3f) | faultStatusCode(r.type, r.level)) >>> 0;
          return this.reflect(exit.reason, 'sync', esrL1, exit.pc, exit.far, exit.hpfar);
        }
        // our stage 2 lacks the L1 PA: handle it as our own fault at that IPA, then retry
        if (r.ipa >= this.host.ram.base && r.ipa < this.host.ram.base + this.host.ram.size) {
          return this.host.handleOwn(v, { ...exit, ipa: r.ipa, hpfar: Math.floor(r.ipa / 4096) * 16 });
        }
        if (r.forL1Walk || r.permission) {
          return { kind: 'halt', halt: { kind: 'fault', message: `nested: L1's stage 2 needs IPA 0x${r.ipa.toString(16)}, which is not RAM` } };
        }
        return this.host.handleOwn(v, { ...exit, ipa: r.ipa, hpfar: Math.floor(r.ipa / 4096) * 16 }); // MMIO
      }
      case 'irq':
      case 'debug': // never routed to us while a guest hypervisor runs (Hypervisor.routesDebugToEl2)
        return null;
    }
  }

  /** The three stages behind an L2 VA (and the shadow entry), side-effect free. */
  walk(va: number): NestedWalkReport {
    return nestedWalk(this.vcpu, va, {
      mode: this.mode,
      vel2: this.vel2,
      l2El1: this.l2El1,
      l1Vmid: this.l1Vmid,
      shadows: this.s2.mmus,
      ours: this.host.ourStage2(),
      guestMem: this.vcpu.descriptorMemory(),
    });
  }

  toJSON(): Record<string, unknown> {
    const s = this.s2.stats;
    return {
      mode: this.mode,
      exitsToL1: this.stats.exitsToL1,
      erets: this.stats.erets,
      vel2Sysregs: this.stats.vel2Sysregs,
      vel2Undefined: this.stats.vel2Undefined,
      unknownEl2: this.stats.unknownEl2,
      shadowMmus: s.shadowMmus,
      shadowFaults: s.shadowFaults,
      shadowMaps: s.shadowMaps,
      shadowRecycled: s.recycled,
      shadowResets: s.resets,
      tlbi: s.tlbi,
      contexts: this.s2.mmus
        .filter((m) => m.inUse)
        .map((m) => ({ slot: m.slot, vmid: m.vmid, l1Vmid: m.l1Vmid, vttbr: '0x' + m.l1.vttbr.toString(16), vtcr: '0x' + m.l1.vtcr.toString(16), entries: m.entries.size, faults: m.faults, tlbi: m.tlbi })),
      vel2: this.vel2.toJSON(),
    };
  }
}
