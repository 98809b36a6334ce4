/**
 * The vCPU's run loop: Unicorn runs guest code in instruction-count slices, bounded by the next
 * timer deadline, by software step and by a pending-but-masked interrupt, and every way a slice
 * can end is accounted here, in one place, so that retired instructions (virtual time) stay
 * exact: a full slice, a WFI/WFE (trapped to the EL2 model, to EL1, or idling the vCPU), a
 * refused TLB fill (a guest fault or an emulated MMIO access), an exception taken from the
 * system-instruction hook, a hook's stop (a halt, the debugger's gate or breakpoint), an error.
 * Split from vcpu.ts, whose state it drives; the state only the loop needs lives here. What a
 * WFI/WFE does once QEMU halted on it (a trap, a wait in virtual time) is wfx-wait.ts.
 */
import { UC_ERR_OK, UC_ERR_EXCEPTION, type InterruptWindow } from '../unicorn/uc.js';
import { PSTATE } from './pstate.js';
import { SR } from './sysregs.js';
import { Access } from './translator.js';
import { WFE, windowUsable, type FillHandler, type RefusedFill } from './fill-handler.js';
import { straightLineCount } from './unmask-scan.js';
import { hexVa } from '../types.js';
import { waited, type Next } from './wfx-wait.js';
import type { HaltReason } from './exits.js';
import type { VcpuInternals } from './vcpu-internals.js';

/** Grid (absolute instruction counts) on which an interrupt found pending at a host stop is taken. */
const MASKED_IRQ_SLICE = 32;
/** Longest slice while an interrupt is pending but PSTATE.I masks it (straight-line code, unmask-scan.ts). */
const UNMASK_SCAN_MAX = 64;

/** WFI (HINT #3), Arm ARM C6.2 "WFI". */
const WFI = 0xd503207f;

/** Exception entries in a row with no instruction retired before the run is a lock-up (see beforeSlice). */
const EXCEPTION_LOCKUP = 10_000;

export class RunLoop {
  /** Set by hooks that need the run loop to act after uc_emu_start returns. */
  stopRequested = false;
  /** An exception was taken or an exit dispatched since the run began (run's stopAfterEvent). */
  eventSeen = false;
  /** Set while a slice runs bounded by untilPossibleUnmask. */
  maskedPending = false;
  /** The native interrupt window (Unicorn.interruptWindow; null: straight-line slicing) and whether the next slice raises it. */
  private window: InterruptWindow | null | undefined = undefined;
  private windowWanted = false;
  /** Exception entries since an instruction last retired (the lock-up check). */
  entriesWithoutRetiring = 0;
  private lastRetired = -1;
  /**
   * The last slice ended on a stop the fill hook asked for, before the end it was sized for
   * (plannedEnd, in retired instructions): not a point to take an interrupt at.
   */
  private afterHostStop = false;
  private plannedEnd = -1;
  /** Where a hook outside the vCPU stopped the CPU (the debugger's breakpoint), in retired instructions. */
  private externalStopAt: number | null = null;
  /** PC a system-instruction hook moved the guest to, honoured when the slice stops (redirect). */
  private redirectPc: number | null = null;
  private redirectCounter = 0;
  private readonly deferred: Array<() => void> = [];
  private nativeWasAllowed = 0;

  constructor(
    private readonly v: VcpuInternals,
    private readonly fill: FillHandler,
    /** Instructions per uc_emu_start slice. */
    private readonly sliceInsns: number,
  ) {}

  /** See Vcpu.stopBeforeCurrent. */
  stopBeforeCurrent(): void {
    this.externalStopAt = this.v.clock.current;
    this.v.uc.emuStop();
  }

  /** See Vcpu.afterInstruction. */
  afterInstruction(fn: () => void): void {
    this.deferred.push(fn);
    if (this.v.clock.running) this.v.requestStop();
  }

  /** See Vcpu.hookRedirect (`started`: the hooked instruction counts as started; false: it has not run). */
  redirect(target: number, started = true): void {
    this.redirectPc = target;
    this.redirectCounter = this.v.uc.sliceCounter() - (started ? 0 : 1);
    this.v.requestStop();
  }

  private runDeferred(): void {
    while (this.deferred.length > 0) this.deferred.shift()!();
  }

  /**
   * Run up to `budget` more instructions. Returns why the guest halted, or
   * null when the budget ran out first (the caller decides whether that is
   * the user's instruction limit or just a pause to serve the event loop).
   * Slices are bounded by instruction count, so two runs of the same image
   * take the same path and see the same virtual time.
   */
  run(budget: number, opts: { stopAfterEvent?: boolean }): HaltReason | null {
    const v = this.v;
    const clock = v.clock;
    this.begin();
    const stopAt = clock.instructions + budget;
    while (v.halted === null) {
      if (v.idleWaiting || v.yielded) break;
      // A debugger step ends at the first exception or exit even when the
      // instruction did not retire in Unicorn (an abort, an emulated access).
      if (opts.stopAfterEvent === true && this.eventSeen) break;
      if (v.pauseRequested) {
        v.pauseRequested = false;
        break;
      }
      const remaining = stopAt - clock.instructions;
      if (remaining <= 0) break;
      // Software step (software-step.ts): while MDSCR_EL1.SS = 1, one instruction per slice where
      // stepping is active; where it is not (EL1 with PSTATE.D set: a guest waiting with SS armed),
      // up to the next instruction that may clear PSTATE.D or change EL (unmask-scan.ts: MSR DAIF,
      // DAIFClr, a branch, ERET), after which the step machine looks again.
      const stepping = v.stepSource !== null && v.stepSource.stepMode();
      if (stepping && v.softwareStep.boundary(v, v.stepSource!)) continue;
      const step = stepping ? (v.softwareStep.inFlight ? 1 : Math.min(this.untilPossibleUnmask(), remaining)) : 0;
      const n = this.sliceLength(stepping ? step : Math.min(this.sliceInsns, remaining));
      if (n === 'break') break;
      if (n === 'continue') continue;
      if (this.beforeSlice() === 'break') break;
      this.plannedEnd = clock.instructions + n;
      this.window?.raise(this.windowWanted);
      if (this.window) this.window.fired[0] = 0;
      clock.beginSlice();
      const rc = v.uc.emuStart(v.pc, n);
      clock.endSlice();
      v.drainTlbiFront();
      this.maskedPending = false;
      if (this.afterSlice(rc, n) === 'break') break;
    }
    v.el2?.drain?.();
    return v.halted;
  }

  private begin(): void {
    const v = this.v;
    if (v.gatedExit !== null) v.gateBypass = v.gatedExit;
    // A paced idle wait nobody ended (the caller did not wait): it ends at its deadline, as unpaced.
    if (v.idleDeadlineNs !== null) v.endIdleWait(v.idleDeadlineNs);
    v.idleWaiting = false;
    v.yielded = false;
    // The native window's mapping follows its EL2-side permission (e.g. exits observed since):
    // Unicorn's entries made under the other answer are dropped (the model TLB holds no such
    // entry, and this is no guest-visible flush: not counted).
    let nativeAllowed = 0;
    for (let i = 0; i < v.nativeMmio.length; i++) if (windowUsable(v.nativeMmio[i]!, v.uc)) nativeAllowed |= 1 << i;
    if (nativeAllowed !== this.nativeWasAllowed) {
      this.nativeWasAllowed = nativeAllowed;
      v.uc.flushTlb();
      v.codeGuard.tlbFlushed();
    }
    this.eventSeen = false;
  }

  /** The slice's length from `n`: bounded by the next timer deadline and a pending interrupt, which may be taken here. */
  private sliceLength(n: number): number | Next {
    const v = this.v;
    const clock = v.clock;
    this.windowWanted = false;
    if (v.timerSource !== null) {
      v.timerSource.update();
      const dl = v.timerSource.nextDeadline();
      if (dl !== null) n = Math.max(1, Math.min(n, Math.ceil(clock.ticksToNs(dl) - clock.ns)));
    }
    if (v.irqSource === null || !v.irqSource.irqPending()) return n;
    // Where a slice ends is guest-visible here (an unmasked interrupt is taken at a slice
    // start), so only deterministic ends may take one: not a stop the fill hook asked for
    // (QEMU resizes its TLB by host time, so which fills happen, and when, varies between
    // runs), unless it falls on the masked-interrupt grid below.
    const offGrid = clock.instructions % MASKED_IRQ_SLICE;
    const hostPoint = this.afterHostStop && offGrid !== 0 && clock.instructions !== this.plannedEnd;
    if (!this.irqMasked() && !hostPoint) {
      this.takeIrq();
      if (v.halted !== null || v.gatedExit !== null) return 'break';
      if (v.pauseRequested) return 'continue'; // the debugger stops at the vector (trap-break exit-to-l1)
    } else if (this.irqMasked()) {
      // Pending but masked: the slice ends right after the next instruction that
      // unmasks it, so the interrupt is taken at the instruction after the unmask, as on
      // hardware. That point is the guest's, wherever host stops split the slices before
      // it. Natively where PSTATE.I alone masks it (the interrupt window, irq-window.c),
      // otherwise at the end of each straight line of code (unmask-scan.ts).
      this.windowWanted = this.nativeWindow() !== null && v.el2?.interruptMasked?.(v, 'irq') == null;
      if (!this.windowWanted) n = Math.min(n, this.untilPossibleUnmask());
      this.maskedPending = !this.windowWanted;
    } else {
      // Unmasked, but this slice start is a stop the fill hook asked for: take it at the
      // next point of the grid of absolute instruction counts instead.
      n = Math.min(n, MASKED_IRQ_SLICE - offGrid);
    }
    return n;
  }

  /** Work due before the next slice runs; 'break' when the vCPU locked up. */
  private beforeSlice(): Next {
    const v = this.v;
    this.afterHostStop = false;
    // Code hooks found by the code-page scan (WFE under TWE, a guest hypervisor's sites):
    // installed here, outside any Unicorn callback, before the code runs again.
    if (this.fill.hasPendingWfeHooks) this.fill.installWfeHooks();
    this.runDeferred();
    this.fill.takeRefused();
    this.fill.sliceStart();
    this.stopRequested = false;
    // The trap controls change only in exit handlers and between slices (exits.ts).
    v.syncSysFilter();
    // An exception whose vector cannot even be fetched (VBAR in a hole) is
    // taken again and again and no instruction ever retires, so no budget
    // would end the run: a lock-up nothing can handle (status 125).
    if (v.instructions !== this.lastRetired) {
      this.lastRetired = v.instructions;
      this.entriesWithoutRetiring = 0;
    } else if (this.entriesWithoutRetiring > EXCEPTION_LOCKUP) {
      v.halt({ kind: 'fault', message: `exception loop: ${this.entriesWithoutRetiring} exception entries with no instruction retired (ESR_EL1 0x${(Number(v.sysreg(SR.ESR_EL1)) >>> 0).toString(16)}, PC ${hexVa(v.pc)})` });
      return 'break';
    }
    return 'continue';
  }

  /** Account for a slice of `n` that uc_emu_start ended with `rc`, by why it ended. */
  private afterSlice(rc: number, n: number): Next {
    const v = this.v;
    const uc = v.uc;
    const clock = v.clock;
    const started = uc.sliceCounter();
    const refused = this.fill.takeRefused();
    if (v.codeGuard.poolExhausted) {
      // The fetch fill was refused (never started): drop translated code, reuse the shadow pool, retry.
      this.afterHostStop = true;
      clock.retire(Math.min(n, Math.max(0, started)));
      uc.flushTb();
      v.codeGuard.codeFlushed();
      v.flushTlb();
      return 'continue';
    }
    if (this.externalStopAt !== null) {
      // Stopped by a hook outside the vCPU before an instruction ran: exactly what had retired then.
      clock.settleAt(this.externalStopAt);
      this.externalStopAt = null;
      return 'break';
    }
    // A page became writable while executable elsewhere, or the reverse: no stale entry may survive.
    // Without invalidation by address (code-guard.ts dropCode) the fill hook asked for this stop
    // itself: a host stop like the guard's own, counted as what ran (stoppedByHook), not a stop
    // from outside the vCPU before an instruction (uninterrupted), which was one instruction short.
    const codeStop = v.codeGuard.codeFlushNeeded;
    if (codeStop) {
      uc.flushTb();
      v.codeGuard.codeFlushed();
    }
    const guardStop = v.codeGuard.flushNeeded || codeStop;
    if (v.codeGuard.flushNeeded) v.flushTlb();
    // Stops asked for by the fill hook (not where a fault ended the slice anyway): see sliceLength.
    this.afterHostStop = (guardStop || this.fill.hasPendingWfeHooks) && refused === null;
    if (rc === UC_ERR_OK && !this.stopRequested && !guardStop && refused === null) return this.uninterrupted(n, started);
    if (this.redirectPc !== null) return this.redirected(rc, n);
    if (rc === UC_ERR_EXCEPTION && refused !== null) return this.refusedFill(refused, n, started);
    if ((this.fill.hasPendingWfeHooks || this.deferred.length > 0) && rc === UC_ERR_OK && v.halted === null && v.gatedExit === null) {
      clock.retire(Math.min(n, Math.max(0, started)));
      this.fill.installWfeHooks();
      this.runDeferred();
      return 'continue';
    }
    return this.stoppedByHook(rc, n, started);
  }

  /** uc_emu_start returned by itself: the slice ran out, a WFI/WFE halted QEMU, or a hook outside the vCPU stopped it. */
  private uninterrupted(n: number, started: number): Next {
    const v = this.v;
    // A full slice stops on the count hook of instruction n + 1.
    if (started > n) {
      v.clock.retire(n);
      return 'continue';
    }
    // The interrupt window stopped it right after the unmasking instruction: all started retired.
    if (this.window?.fired[0] === 1) {
      v.clock.retire(started);
      return 'continue';
    }
    // Fewer started: either QEMU halted on a WFI/WFE with nothing pending
    // (Unicorn then returns, PC after it; it retired), or a hook outside
    // the vCPU stopped the CPU before an instruction ran (the debugger's
    // breakpoints): that one has not run, and the caller must see the stop.
    const prev = v.readInsn(v.pc - 4);
    if (prev === WFI || prev === WFE) return waited(v, prev === WFE, started);
    v.clock.retire(Math.max(0, started - 1));
    return 'break';
  }

  /**
   * An exception was taken from the system-instruction hook (Vcpu.hookRedirect): it was taken at
   * the system instruction; whatever Unicorn started after it did not run (a fill it asked for on
   * the way is moot too).
   */
  private redirected(rc: number, n: number): Next {
    const v = this.v;
    v.clock.retire(Math.min(n, Math.max(0, this.redirectCounter)));
    v.pc = this.redirectPc!;
    this.redirectPc = null;
    // Work the hook left for after the instruction (a watchpoint's exception) comes before anything else.
    if (v.halted === null && v.gatedExit === null) this.runDeferred();
    if (rc !== UC_ERR_OK && rc !== UC_ERR_EXCEPTION && v.halted === null) {
      v.halt({ kind: 'fault', message: `CPU stopped: ${v.uc.strerror(rc)} at PC ${hexVa(v.pc)}` });
    }
    return v.halted !== null || v.gatedExit !== null ? 'break' : 'continue';
  }

  /** A refused TLB fill ended the slice: a guest fault or an emulated MMIO access (fill-handler.ts). */
  private refusedFill(refused: RefusedFill, n: number, started: number): Next {
    const v = this.v;
    // Unicorn's counter includes a data access that was started and
    // aborted (it does not retire); a refused fetch never started.
    const fetch = this.fill.isFetchOfPc(refused);
    v.clock.retire(Math.min(n, Math.max(0, fetch ? started : started - 1)));
    const faultPc = v.pc;
    this.fill.handleRefused(refused, fetch);
    if (v.gatedExit !== null) return 'break';
    // The hypervisor completed the access (emulated MMIO) and skipped it: it retired.
    if (!fetch && v.halted === null && v.pc === faultPc + 4) v.clock.retire(1);
    return 'continue';
  }

  /** Stopped from a hook (a halt, an exit the debugger gated) or an error. */
  private stoppedByHook(rc: number, n: number, started: number): Next {
    const v = this.v;
    // A gated instruction has not executed: it does not retire.
    v.clock.retire(Math.min(n, Math.max(0, v.gatedExit !== null ? v.gateCounter - 1 : started)));
    if (v.gatedExit !== null) {
      // A hook that skips an instruction leaves Unicorn's PC after it: put it back on the trapping instruction.
      v.pc = v.gatedExit.pc;
      return 'break';
    }
    if (rc !== UC_ERR_OK && v.halted === null) {
      v.halt({ kind: 'fault', message: `CPU stopped: ${v.uc.strerror(rc)} at PC ${hexVa(v.pc)}` });
    }
    return 'break';
  }

  private nativeWindow(): InterruptWindow | null {
    if (this.window === undefined) this.window = this.v.uc.interruptWindow();
    return this.window;
  }

  /** Instructions from PC up to and including the next one that may unmask an interrupt (unmask-scan.ts). */
  private untilPossibleUnmask(): number {
    const v = this.v;
    const pc = v.pc;
    const t = v.translator.translate(pc, Access.FETCH, v.el);
    if (!t.ok || !v.ram.contains(t.pa, 4)) return 1;
    const { words, index } = v.ram.wordsAt(t.pa);
    // Up to the end of the 1 KiB page the translation holds for (Unicorn's page, DESIGN.md).
    const end = index + ((0x400 - (t.pa & 0x3ff)) >>> 2);
    return straightLineCount(words, index, end, UNMASK_SCAN_MAX);
  }

  /** PSTATE.I, unless the EL2 model's routing decides (a guest hypervisor's HCR_EL2.IMO). */
  private irqMasked(): boolean {
    const v = this.v;
    const m = v.el2?.interruptMasked?.(v, 'irq') ?? null;
    return m ?? (v.pstate & PSTATE.I) !== 0;
  }

  /**
   * A physical interrupt while the guest runs: with HCR_EL2.IMO it is an exit
   * to EL2 (counted and costed by the hypervisor), which then presents it to
   * the guest as a virtual IRQ: exception entry at VBAR_EL1 + 0x080/0x280/0x480,
   * ELR = the next instruction, ESR_EL1 unchanged (Arm ARM D1.10.2).
   */
  private takeIrq(): void {
    const v = this.v;
    const pc = v.pc;
    v.dispatchExit({ reason: 'irq', esr: 0, pc });
    // Halted, or stopped by the debugger's trap-break: taken on the next run.
    if (v.halted !== null || v.gatedExit !== null) return;
    v.irqsTaken++;
    v.takeException('irq', Number(v.sysreg(SR.ESR_EL1) & 0xffff_ffffn), v.pc);
  }
}
