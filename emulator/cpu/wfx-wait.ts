/**
 * WFI and WFE (Arm ARM C6.2 "WFI", "WFE"; D1.6 "Mechanisms for entering a low-power state"): what
 * the vCPU does when QEMU halted on one. Trapped to EL1 (SCTLR_EL1.nTWI/nTWE at EL0) or to the
 * EL2 model (HCR_EL2.TWI/TWE), or waited for here: virtual time jumps to the next timer deadline,
 * the caller paces the wait on the host clock (a guest listening for console input), or the SMP
 * scheduler takes over. Split from run-loop.ts, which accounts for the slice the WFx ended.
 */
import { EC, esr, issWfx } from './esr.js';
import type { VcpuInternals } from './vcpu-internals.js';

/** What the run loop does after a step: run another slice, or return to the caller. */
export type Next = 'continue' | 'break';

/**
 * A WFI/WFE QEMU halted on (PC after it, `started` instructions started in the slice):
 * trapped to EL1 or EL2, or waited for here.
 */
export function waited(v: VcpuInternals, wfe: boolean, started: number): Next {
  const clock = v.clock;
  const route = v.el2?.routeWfx(v, wfe) ?? 'native';
  if (route === 'el1') {
    // An EL0 WFx that SCTLR_EL1.nTWx traps (hyp/traps.ts routeWfx): EC 0x01 to EL1, ELR = the WFx.
    clock.retire(Math.max(0, started - 1));
    v.pc -= 4;
    v.takeException('sync', esr(EC.WFX, issWfx(wfe)), v.pc);
    return 'continue';
  }
  if (route === 'el2') {
    // HCR_EL2.TWI/TWE: the WFx traps (ESR_EL2 EC 0x01, ELR = the WFx);
    // the hypervisor waits and skips it, completing it: it retires, as
    // an emulated MMIO access does.
    clock.retire(Math.max(0, started));
    const at = v.pc - 4;
    v.pc = at;
    v.dispatchExit({ reason: 'wfx', esr: esr(EC.WFX, issWfx(wfe)), pc: at, wfe });
    return v.gatedExit !== null ? 'break' : 'continue';
  }
  clock.retire(Math.max(0, started));
  if (wfe && v.smpYield) {
    v.yielded = true;
    return 'break';
  }
  if (!wfe && !v.waitForInterrupt() && v.returnWhenIdle) {
    v.idleWaiting = true;
    return 'break';
  }
  return 'continue';
}

/**
 * WFI: nothing runs until an interrupt is pending. With one pending, or
 * nothing that could ever make one (no enabled timer), it returns at once;
 * otherwise virtual time jumps to the next timer deadline, as a sleeping
 * CPU's would, without running instructions. Returns false when nothing
 * inside the machine can ever end the wait (no pending interrupt, no timer
 * armed): virtual time stands still and only outside input can wake it.
 */
export function waitForInterrupt(v: VcpuInternals): boolean {
  v.timerSource?.update();
  if (v.irqSource?.irqPending()) return true;
  if (v.smpYield) {
    // The scheduler decides when this vCPU runs again (an interrupt for it, or its deadline).
    v.idleWaiting = true;
    if (v.clock.running) v.requestStop();
    return true;
  }
  const dl = v.timerSource?.nextDeadline() ?? null;
  if (dl === null) {
    // Also for a WFI the EL2 model completes (HCR_EL2.TWI): the caller must not resume a
    // guest that would only execute the WFI again.
    if (v.returnWhenIdle) v.idleWaiting = true;
    return false;
  }
  const deadline = v.clock.ticksToNs(dl);
  if (v.returnWhenIdle && v.paceIdle?.() === true) {
    // The caller waits for the deadline on the host clock, then ends the wait (Vcpu.endIdleWait).
    v.idleWaiting = true;
    v.idleDeadlineNs = deadline;
    if (v.clock.running) v.requestStop();
    return true;
  }
  v.clock.wait(deadline - v.clock.ns);
  v.timerSource!.update();
  return true;
}

/**
 * End a paced idle wait (Vcpu.paceIdle): virtual time moves to `ns`, the deadline when the timer
 * ended it (exactly where waitForInterrupt would have jumped), earlier when console input did.
 */
export function endIdleWait(v: VcpuInternals, ns: number): void {
  const deadline = v.idleDeadlineNs;
  if (deadline === null) return;
  v.idleDeadlineNs = null;
  v.clock.wait(Math.min(ns, deadline) - v.clock.ns);
  v.timerSource?.update();
}
