/**
 * How an event leaves the guest's instruction stream on a vCPU: an exit handed to the EL2 model
 * (unless the debugger's trap-break gate holds it), and an exception entry to EL1 (or to the EL2
 * model's virtual EL2), each counted by target EL and exception class and seen by the observers.
 * Split from vcpu.ts, whose state they update (the run loop's flags in run-loop.ts).
 */
import { EC, EC_NAMES, esr, esrEc, issSysreg, type SysregAccessFields } from './esr.js';
import { sysregKey } from './sysregs.js';
import { enterException } from './exception-entry.js';
import type { ExceptionKind } from './guest-cpu.js';
import { debugEsrToEl2, type Exit } from './exits.js';
import type { VcpuInternals } from './vcpu-internals.js';

/** A system-instruction trap the EL2 model found itself: an EC 0x18 exit at `pc` carrying the catalogue row. */
export function raiseSysregExit(v: VcpuInternals, a: SysregAccessFields & { readonly pc: number; readonly value: bigint; readonly trap: string }): void {
  dispatchExit(v, {
    reason: 'sysreg',
    esr: esr(EC.SYS64, issSysreg(a)),
    pc: a.pc,
    op0: a.op0,
    op1: a.op1,
    crn: a.crn,
    crm: a.crm,
    op2: a.op2,
    rt: a.rt,
    read: a.read,
    value: a.value,
    row: v.sysregs.get(sysregKey(a)) ?? null,
    trap: a.trap,
  });
}

/** Hand an exit to the EL2 model (unless the debugger's trap-break gate holds it). */
export function dispatchExit(v: VcpuInternals, exit: Exit): void {
  v.loop.eventSeen = true;
  v.eventSeq++;
  const bypass = v.gateBypass !== null && v.gateBypass.pc === exit.pc && v.gateBypass.reason === exit.reason;
  if (v.exitGate !== null && !bypass && v.exitGate(exit)) {
    // Leave the instruction unexecuted: it traps again on resume and is then handled.
    // Unicorn may start the next instruction before it stops: remember how
    // many had started when this one trapped.
    v.gateCounter = v.uc.sliceCounter();
    v.gatedExit = exit;
    v.pc = exit.pc;
    v.loop.stopRequested = true;
    v.uc.emuStop();
    return;
  }
  if (bypass) v.gateBypass = null;
  v.gatedExit = null;
  count(v, 2, exit.reason === 'irq' ? 'irq' : (EC_NAMES[esrEc(exit.esr)] ?? 'unknown'));
  const action = v.el2 ? v.el2.handleExit(v, exit) : ({ kind: 'halt', halt: { kind: 'fault', message: `no hypervisor to handle ${exit.reason} exit` } } as const);
  v.onExit?.(exit, action);
  // The handler may have changed the trap controls (HCR_EL2): the filter follows at once.
  v.syncSysFilter();
  if (action.kind === 'halt') v.halt(action.halt);
}

/** Exception entry to EL1 (exception-entry.ts), counted and observed. */
export function takeException(v: VcpuInternals, kind: ExceptionKind, esrValue: number, preferredReturn: number, far?: number): void {
  v.exceptionSeq++;
  v.loop.eventSeen = true;
  v.eventSeq++;
  // The EL2 model may take it instead (a guest hypervisor's exceptions at virtual EL2).
  if (v.el2?.takeException?.(v, kind, esrValue, preferredReturn, far) === true) {
    // counted for the lock-up check too: a guest hypervisor whose VBAR_EL2 cannot be fetched
    // would otherwise take exceptions forever without retiring anything
    v.loop.entriesWithoutRetiring++;
    return;
  }
  enterException(v, kind, esrValue, preferredReturn, far);
  // Inside a slice bounded for a masked pending interrupt: the handler now runs code the
  // bound was not computed for (its ERET may unmask); end the slice here.
  if (v.loop.maskedPending && v.clock.running) v.requestStop();
  count(v, 1, kind === 'sync' ? (EC_NAMES[esrEc(esrValue)] ?? 'unknown') : kind);
  v.loop.entriesWithoutRetiring++;
  v.onException?.(kind, esrValue, 1);
}

/**
 * A debug exception (breakpoint, watchpoint, software step, BRK; `esrValue` as EL1 would see it):
 * taken to EL1, or, routed to EL2 by MDCR_EL2.TDE/HCR_EL2.TGE (Arm ARM D2.3), a 'debug' exit with
 * the EL2 syndrome (EC 0x30/0x32/0x34 from a lower EL, 0x3C). An exit the EL2 model resumes
 * without an exception entry (its own event, not the guest's) steps past it, as a debugger at EL2
 * does: ERET with SPSR_EL2.SS = 1 after a step; a breakpoint or watchpoint not raised again by the
 * same instruction (skipsDebugEvent).
 */
export function debugException(v: VcpuInternals, esrValue: number, pc: number, far: number | undefined, guestTakes: boolean, guestEsr = esrValue): void {
  if (!v.debugToEl2()) {
    takeException(v, 'sync', esrValue, pc, far);
    return;
  }
  const seq = v.exceptionSeq;
  dispatchExit(v, { reason: 'debug', esr: debugEsrToEl2(esrValue), pc, far: far ?? 0, guestTakes, guestEsr: guestEsr >>> 0 });
  if (v.exceptionSeq !== seq || v.halted !== null || v.gatedExit !== null) return;
  const ec = esrValue >>> 26;
  if (ec === 0x32 || ec === 0x33) v.softwareStep.resumeStepping();
  else if (ec !== 0x3c) {
    // A breakpoint or watchpoint: its instruction has not run; it runs once, not raised again.
    v.debugSkip = { pc, instructions: v.currentInstructions };
    // A breakpoint is raised from the code hook: the world switch wrote the context back (PC
    // included), which makes the core start the instruction over, counted twice. Stop before
    // it, not counting it (a watchpoint is raised between slices, its instruction abandoned).
    if (v.clock.running) v.hookRedirect(pc, false);
  }
}

/**
 * Is the breakpoint/watchpoint at `pc` the one the EL2 model just resumed past (the same
 * instruction re-executed, not a later pass)? Every access of that instruction is skipped (an
 * LDADD's load and store); the skip ends once an instruction retires.
 */
export function skipsDebugEvent(v: VcpuInternals, pc: number): boolean {
  const s = v.debugSkip;
  if (s === null) return false;
  if (s.pc === pc && v.currentInstructions === s.instructions) return true;
  v.debugSkip = null;
  return false;
}

function count(v: VcpuInternals, targetEl: 1 | 2, name: string): void {
  v.exceptions.total++;
  const m = (v.exceptions.byTarget[targetEl === 1 ? 'EL1' : 'EL2'] ??= {});
  m[name] = (m[name] ?? 0) + 1;
}
