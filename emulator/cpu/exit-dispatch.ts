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
import type { Exit } from './exits.js';
import type { Vcpu } from './vcpu.js';

/** A system-instruction trap the EL2 model found itself: an EC 0x18 exit at `pc` carrying the catalogue row. */
export function raiseSysregExit(v: Vcpu, a: SysregAccessFields & { readonly pc: number; readonly value: bigint; readonly trap: string }): void {
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
export function dispatchExit(v: Vcpu, exit: Exit): void {
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
export function takeException(v: Vcpu, kind: ExceptionKind, esrValue: number, preferredReturn: number, far?: number): void {
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

function count(v: Vcpu, targetEl: 1 | 2, name: string): void {
  v.exceptions.total++;
  const m = (v.exceptions.byTarget[targetEl === 1 ? 'EL1' : 'EL2'] ??= {});
  m[name] = (m[name] ?? 0) + 1;
}
