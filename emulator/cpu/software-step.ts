/**
 * Software step (Arm ARM D2.12 "Software Step exceptions"), run by the vCPU itself: the CPU
 * core (Unicorn 2.1.1, QEMU 5) does not step (measured: MDSCR_EL1.SS = 1, KDE = 1, PSTATE.D
 * = 0 raise nothing), and its ERET would drop SPSR.SS anyway (it copies SS only when stepping
 * is active at the EL executing the ERET, never the case in a handler with PSTATE.D = 1; the
 * architecture asks about the ERET's target: DebugExceptionReturnSS).
 *
 * While MDSCR_EL1.SS = 1 ("step mode", rare: debuggers) the vCPU runs one instruction per slice
 * and calls boundary() between instructions, which keeps PSTATE.SS here and follows the state
 * machine of D2.12: where stepping is active (StepSource.stepActive: OS lock clear; EL0, or EL1
 * with MDSCR_EL1.KDE = 1 and PSTATE.D = 0),
 *  - PSTATE.SS = 0 is active-pending: a Software Step exception is taken before the instruction
 *    (ESR EC 0x33 from EL1 / 0x32 from EL0, IFSC 0b100010; ISV = 1 when it ends the step of an
 *    instruction, with EX = that instruction was a load-exclusive; ELR = the next instruction);
 *  - PSTATE.SS = 1 is active-not-pending: the instruction runs, then PSTATE.SS = 0 (the step is
 *    complete), unless it took an exception;
 *  - becoming active right after an exception return (PC = ELR_EL1, SPSR_EL1 describing the
 *    state returned to) takes PSTATE.SS from SPSR_EL1.SS; becoming active otherwise (MSR DAIFClr,
 *    an MDSCR_EL1 write) keeps PSTATE.SS = 0: active-pending.
 */
import { PSTATE, pstateEl } from './pstate.js';
import { SR } from './sysregs.js';
import type { SysregEncoding } from './sysreg-catalogue.js';

export const EC_SOFTWARE_STEP_LOWER = 0x32;
export const EC_SOFTWARE_STEP_CUR = 0x33;
const IFSC_DEBUG = 0x22;
const ISS_ISV = 1 << 24;
const ISS_EX = 1 << 6;
const ERET = 0xd69f03e0;
/** LDXR/LDAXR/LDXP/LDAXP and the byte/halfword forms (C4.1 "Load/store exclusive", L = 1). */
const isLoadExclusive = (w: number): boolean => (w & 0x3f40_0000) >>> 0 === 0x0840_0000;

/** The debug state the step machine depends on (the board's debug-register model). */
export interface StepSource {
  /** MDSCR_EL1.SS as the guest wrote it. */
  stepMode(): boolean;
  /** Software step is active at this EL and PSTATE (OS lock, KDE, PSTATE.D; `toEl2`: the debug target is EL2, D2.3). */
  stepActive(el: number, pstate: number, toEl2: boolean): boolean;
}

export interface StepCpu {
  readonly pc: number;
  readonly pstate: number;
  readonly instructions: number;
  readonly exceptionSeq: number;
  sysreg(e: SysregEncoding): bigint;
  readInsn(va: number): number | null;
  /** MDCR_EL2.TDE or HCR_EL2.TGE: debug exceptions go to EL2 (D2.3). */
  debugToEl2(): boolean;
  /** Take the debug exception (to EL1, or routed to EL2: an exit); `guestTakes`: under the guest's own controls, `guestEsr`: the syndrome in its view. */
  debugException(esr: number, preferredReturn: number, far: number | undefined, guestTakes: boolean, guestEsr?: number): void;
}

export class SoftwareStep {
  /** PSTATE.SS as the architecture has it (the core's is not kept). */
  ss = false;
  /** The last active-not-pending instruction completed: the next step exception has ISV = 1. */
  private stepped = false;
  private steppedWord = 0;
  private prevActive = false;
  private inflight = false;
  private inflightWord = 0;
  private inflightSeq = 0;
  private inflightInsns = 0;
  /** The step of the instruction in flight is one the guest's own controls made active (not only MDCR_EL2.TDE). */
  private inflightGuest = true;
  /** Software Step exceptions taken. */
  exceptions = 0;

  /** An instruction is being stepped (active-not-pending): it must run alone in its slice. */
  get inFlight(): boolean {
    return this.inflight;
  }

  /** Between two instructions in step mode. Returns true when it took a Software Step exception. */
  boundary(cpu: StepCpu, src: StepSource): boolean {
    if (this.inflight) {
      this.inflight = false;
      if (cpu.exceptionSeq !== this.inflightSeq) {
        // It took an exception (its own, or an interrupt first): the handler runs unstepped.
        this.ss = false;
        this.stepped = false;
        this.prevActive = false;
      } else if (cpu.instructions !== this.inflightInsns) {
        this.ss = false;
        this.stepped = true;
        this.steppedWord = this.inflightWord;
        // A stepped ERET returns like any other: the transition check below applies.
        if (this.inflightWord === ERET) this.prevActive = false;
        // The step of any other instruction is complete: the exception is taken before the next
        // one even when that instruction masked debug exceptions (MSR DAIFSet), as QEMU 7.2
        // takes it (guest sstep).
        // Under MDCR_EL2.TDE the guest's own step: one its controls made active before the
        // instruction, or make active after it (an MSR DAIFClr the EL2 model stepped). In the
        // latter the guest's step just became active: for it, active-pending with no stepped
        // instruction, ISV = 0 (as without routing), where EL2 stepped one (ISV = 1).
        else {
          const el = pstateEl(cpu.pstate);
          const becameActive = !this.inflightGuest && cpu.debugToEl2() && src.stepActive(el, cpu.pstate, false);
          return this.stepException(cpu, el, cpu.pc, this.inflightGuest || !cpu.debugToEl2() || becameActive, becameActive);
        }
      }
    }
    const ps = cpu.pstate;
    const el = pstateEl(ps);
    if (!src.stepActive(el, ps, cpu.debugToEl2())) {
      this.prevActive = false;
      return false;
    }
    const pc = cpu.pc;
    if (!this.prevActive) {
      this.prevActive = true;
      if (!this.stepped || this.steppedWord === ERET) {
        const spsr = Number(cpu.sysreg(SR.SPSR_EL1) & 0xffff_ffffn);
        const returned = pc === Number(BigInt.asIntN(64, cpu.sysreg(SR.ELR_EL1))) && (spsr & 0xf) === (ps & 0xf);
        if (returned) {
          this.ss = (spsr & PSTATE.SS) !== 0;
          if (this.ss) this.stepped = false;
        }
      }
    }
    const guestActive = !cpu.debugToEl2() || src.stepActive(el, ps, false);
    // A stepped ERET EL2 alone was stepping (the guest's step inactive at EL1) into a state where
    // the guest's step is active: for the guest, active-pending after its return, ISV = 0.
    const guestPending = this.stepped && cpu.debugToEl2() && !this.inflightGuest && src.stepActive(el, ps, false);
    if (!this.ss) return this.stepException(cpu, el, pc, guestActive, guestPending);
    this.inflightGuest = guestActive;
    this.inflight = true;
    this.inflightWord = cpu.readInsn(pc) ?? 0;
    this.inflightSeq = cpu.exceptionSeq;
    this.inflightInsns = cpu.instructions;
    return false;
  }

  /**
   * An EL2 model resumed a routed step exception without reflecting it (its own step): it returns
   * with SPSR_EL2.SS = 1, so the next instruction runs (active-not-pending) and is stepped (D2.12).
   */
  resumeStepping(): void {
    this.ss = true;
    this.prevActive = true;
  }

  /** Take the Software Step exception before the instruction at `pc` (ELR = pc). */
  private stepException(cpu: StepCpu, el: number, pc: number, guestTakes: boolean, guestPending = false): boolean {
    let iss = IFSC_DEBUG;
    if (this.stepped) {
      iss |= ISS_ISV;
      if (isLoadExclusive(this.steppedWord)) iss |= ISS_EX;
    }
    this.stepped = false;
    this.prevActive = false;
    this.exceptions++;
    const ec = el === 0 ? EC_SOFTWARE_STEP_LOWER : EC_SOFTWARE_STEP_CUR;
    const esr = ((ec << 26) | (1 << 25) | iss) >>> 0;
    // `guestPending`: in the guest's view the step was pending, not completed: ISV (and EX) 0.
    cpu.debugException(esr, pc, undefined, guestTakes, guestPending ? (esr & ~(ISS_ISV | ISS_EX)) >>> 0 : esr);
    return true;
  }
}
