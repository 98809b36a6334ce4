/**
 * What a vCPU's run is doing, apart from what the CPU core holds: where its interrupts, timer
 * deadlines and software step come from; whether it waits (WFI/WFE, a paced idle wait, an SMP
 * yield), halted or was asked to pause; the debugger's exit gate; the counters of its events;
 * and who observes its exits and exceptions. The run loop (run-loop.ts), the WFx wait
 * (wfx-wait.ts) and the exit path (exit-dispatch.ts) change it between and inside slices; the
 * board, the SMP scheduler and the debugger set it. Split from vcpu.ts, which extends it with the
 * CPU core, memory, hooks and the GuestCpu surface. No behaviour lives here.
 */
import type { Exit, ExitAction, HaltReason } from './exits.js';
import type { ExceptionKind } from './guest-cpu.js';
import { SoftwareStep, type StepSource } from './software-step.js';
import type { ExceptionCounters, IrqSource, TimerSource } from './vcpu-types.js';

export abstract class VcpuRunState {
  // ------------------------------------------------ interrupts, timer, stepping
  irqSource: IrqSource | null = null;
  timerSource: TimerSource | null = null;
  /** MDSCR_EL1.SS and the step enables (the board's debug-register model): software step, software-step.ts. */
  stepSource: StepSource | null = null;
  readonly softwareStep = new SoftwareStep();

  // ------------------------------------------------ waiting (wfx-wait.ts)
  /**
   * Set when runFor returned because the guest executed WFI with nothing that
   * could ever wake it from inside the machine (no interrupt pending, no timer
   * armed): only outside input (the UART) can. The caller may sleep until
   * input arrives instead of resuming a guest that would spin on WFI.
   * Cleared at the next runFor. Only when `returnWhenIdle` is set (the CLI's
   * run loop); otherwise WFI completes at once, as the architecture allows.
   */
  idleWaiting = false;
  returnWhenIdle = false;
  /**
   * Asked at a WFI that a timer would end (only with returnWhenIdle): true = the wait should
   * pass on the host clock (the guest listens for console input that may still come), so
   * runFor returns with idleWaiting and idleDeadlineNs set and the clock not moved; the caller
   * waits, then calls endIdleWait. Null or false: the clock jumps to the deadline at once.
   */
  paceIdle: (() => boolean) | null = null;
  /** The virtual time (ns) of the timer deadline a paced idle wait ends at, or null. */
  idleDeadlineNs: number | null = null;
  /**
   * SMP (smp-scheduler.ts): a WFI with nothing pending ends this vCPU's quantum with idleWaiting
   * set instead of moving its clock to a timer deadline (the scheduler moves time for everyone),
   * and a WFE ends the quantum (yieldRequested) so the vCPU that would send the event runs.
   */
  smpYield = false;
  /** Set when runFor returned early to let other vCPUs run (a WFE under smpYield). */
  yielded = false;

  // ------------------------------------------------ halting, pausing, the debugger's gate
  halted: HaltReason | null = null;
  /**
   * Set by an observer (a library `until` condition met, e.g. console output): runFor returns
   * before its next slice, with no halt; the guest continues at the next runFor. Set from an
   * exit handler, the pause falls right after the trapping instruction.
   */
  pauseRequested = false;
  /**
   * Consulted before an exit is handed to the EL2 handler (the debugger's
   * trap-break). Returning true stops the vCPU with PC at the trapping
   * instruction and the exit not handled; the next `runFor` handles that exit
   * without asking again.
   */
  exitGate: ((exit: Exit) => boolean) | null = null;
  /** The exit the gate stopped on, until it is handled. */
  gatedExit: Exit | null = null;
  /** The gated exit to let through on resume (matched by PC and reason, so no other exit consumes it); the run loop sets it. */
  gateBypass: Exit | null = null;
  /** Instructions Unicorn had started when the gate held an exit (the run loop retires one fewer). */
  gateCounter = 0;
  /** A routed breakpoint/watchpoint the EL2 model resumed as its own (exit-dispatch.ts skipsDebugEvent). */
  debugSkip: { pc: number; instructions: number } | null = null;

  // ------------------------------------------------ counters (saved in snapshots by name: vcpu-snapshot.ts) and observers
  /** Interrupts taken (IRQ exception entries). */
  irqsTaken = 0;
  readonly exceptions: ExceptionCounters = { total: 0, byTarget: {} };
  /** Exits and exceptions so far: any of them between two counter reads means the guest is not just polling. */
  eventSeq = 0;
  /** Exception entries performed by takeException (sysinsn-hook.ts watches it around an exit). */
  exceptionSeq = 0;
  /** TLB maintenance instructions the guest executed. */
  tlbiCount = 0;
  /** Whole-TLB flushes the model asked for. */
  tlbFlushes = 0;
  /** Observers (statistics, tracing, the debugger). */
  onExit: ((exit: Exit, action: ExitAction) => void) | null = null;
  onException: ((kind: ExceptionKind, esrValue: number, targetEl: number) => void) | null = null;
}
