/**
 * What the modules split from vcpu.ts (run-loop.ts, wfx-wait.ts, exit-dispatch.ts, maintenance.ts,
 * core-setup.ts, vcpu-snapshot.ts) see of the vCPU: the state they share with it and the calls
 * they make on it, beyond the GuestCpu surface and the hook modules' own interfaces. Vcpu
 * implements it; those modules import this type instead of the class, so none of them depends
 * on vcpu.ts (which depends on all of them at run time) and the module graph has no cycle.
 * It imports nothing from those modules either: the run loop appears as the flags the exit
 * path sets on it (LoopFlags).
 */
import type { Unicorn } from '../unicorn/uc.js';
import type { GuestRam } from '../memory/ram.js';
import type { TlbiOperation } from '../mmu/tlbi-op.js';
import type { CodeGuard } from './code-guard.js';
import type { TrapCpu } from './exception-entry.js';
import type { El2Handler, Exit, ExitAction, HaltReason } from './exits.js';
import type { NativeMmioWindow } from './fill-handler.js';
import type { ExceptionKind } from './guest-cpu.js';
import type { MmuTranslator } from './mmu-translator.js';
import type { SoftwareStep, StepCpu, StepSource } from './software-step.js';
import type { SysInsnCpu } from './sysinsn-hook.js';
import type { VirtualClock } from './virtual-time.js';
import type { ExceptionCounters, IrqSource, TimerSource } from './vcpu-types.js';

/** The run loop's flags that an exit or an exception entry sets from inside a slice (run-loop.ts). */
export interface LoopFlags {
  /** An exit or exception happened in this slice (runFor's stopAfterEvent). */
  eventSeen: boolean;
  /** The slice is to end (Unicorn was asked to stop). */
  stopRequested: boolean;
  /** Exception entries since an instruction last retired: the lock-up check. */
  entriesWithoutRetiring: number;
  /** The slice is bounded for a masked pending interrupt. */
  readonly maskedPending: boolean;
}

export interface VcpuInternals extends SysInsnCpu, TrapCpu, StepCpu {
  readonly uc: Unicorn;
  readonly ram: GuestRam;
  readonly translator: MmuTranslator;
  readonly codeGuard: CodeGuard;
  readonly clock: VirtualClock;
  readonly loop: LoopFlags;
  el2: El2Handler | null;
  pc: number;
  readonly instructions: number;
  /** Instructions retired so far, exact inside a slice too (from a hook). */
  readonly currentInstructions: number;

  // ------------------------------------------------ interrupts, timer, stepping, SMP
  irqSource: IrqSource | null;
  timerSource: TimerSource | null;
  stepSource: StepSource | null;
  readonly softwareStep: SoftwareStep;
  irqsTaken: number;
  idleWaiting: boolean;
  returnWhenIdle: boolean;
  paceIdle: (() => boolean) | null;
  idleDeadlineNs: number | null;
  smpYield: boolean;
  yielded: boolean;
  pauseRequested: boolean;
  /** The other vCPUs of the VM: broadcast TLB and IC maintenance reaches them. */
  readonly peers: readonly VcpuInternals[];
  remoteTlbi(op: TlbiOperation, xt: bigint, vmid: number): void;
  /** The model TLB applies the TLBIs the native front completed (maintenance.ts; at every slice end). */
  drainTlbiFront(): void;

  // ------------------------------------------------ exits, exceptions, their counters
  readonly exceptions: ExceptionCounters;
  halted: HaltReason | null;
  eventSeq: number;
  exceptionSeq: number;
  exitGate: ((exit: Exit) => boolean) | null;
  gatedExit: Exit | null;
  gateBypass: Exit | null;
  gateCounter: number;
  debugSkip: { pc: number; instructions: number } | null;
  nativeMmio: NativeMmioWindow[];
  onExit: ((exit: Exit, action: ExitAction) => void) | null;
  onException: ((kind: ExceptionKind, esrValue: number, targetEl: number) => void) | null;
  requestStop(): void;
  waitForInterrupt(): boolean;
  endIdleWait(ns: number): void;

  // ------------------------------------------------ TLB counters and flushes
  tlbiCount: number;
  tlbFlushes: number;
  flushUnicornTlb(): void;
}
