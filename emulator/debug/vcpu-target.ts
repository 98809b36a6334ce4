/**
 * The DebugTarget over the real machine: a Session's Vcpu (Unicorn + exception entry) and its
 * EL2 model. The GDB stub (gdbstub.ts) drives it; it never runs guest code inside a call:
 * resume() schedules `runFor` slices with setImmediate, and the stop handler reports back.
 *
 * How each debugger feature maps onto the vCPU, and why:
 *
 * - Breakpoints are PC matches, never patched instructions: one Unicorn UC_HOOK_CODE hook bounded
 *   to exactly that address calls emuStop before the instruction executes. Unicorn decides which
 *   hooks an instruction calls when it translates it, so the translated code at an address whose
 *   breakpoint was added or removed is dropped before the next run (syncTranslatedCode).
 *   The vCPU does not know we stopped it (its run loop then credits the whole slice), so the
 *   instruction count is corrected from the count taken inside the hook. This keeps the guest's
 *   instruction count, and so its virtual time, identical to a run without a debugger.
 * - Resuming never re-hits the breakpoint we stand on: every resume first executes exactly one
 *   instruction with breakpoints disarmed (runFor(1)); only then are the hooks armed.
 * - Single-step is runFor(1). An exception taken by that instruction (SVC, an abort) leaves PC at
 *   the vector, which is what GDB expects from stepping into a trap.
 * - Watchpoints must stop *before* the access (AArch64 GDB treats them as non-steppable: it
 *   removes them, steps, re-inserts). Until the vCPU can keep watched pages out of Unicorn's TLB,
 *   a continue with any watchpoint set single-steps and decodes every instruction's data address
 *   (emulator/cpu/access.ts): exact, but slow (~1 µs per instruction).
 * - trap-break uses the vCPU's exit gate: an exit the user asked for stops the vCPU with PC at
 *   the trapping instruction and the exit *not yet handled*; the next runFor handles it, so a
 *   following `stepi` shows the guest state after the hypervisor handled it.
 * - Memory access from the debugger goes through the vCPU's translator in the current
 *   regime and reads/writes guest RAM directly: no faults injected, no MMIO side effects.
 *
 * - Several vCPUs (--smp N): one GDB thread per vCPU (thread i+1 is vCPU i). All-stop: the
 *   machine runs through its deterministic scheduler (machine/smp.ts) exactly as without a
 *   debugger, breakpoints are hooks on every vCPU's core, and whichever vCPU hits one stops the
 *   machine and becomes the current thread. A step of thread t runs the scheduler one
 *   instruction at a time until vCPU t has executed one (the others run their turns meanwhile,
 *   with their breakpoints armed), so stepping never changes the interleaving. Registers,
 *   memory and the monitor commands act on the thread `Hg` selected. Watchpoints are data hooks
 *   on every vCPU (watch-hooks.ts: the decode-before-run check would need to know which vCPU
 *   runs next); the vCPU that makes the access stops, before it, and becomes the current thread.
 *
 * Size (~610 lines, this comment included), why it stays whole: what is left here is the run
 * control, one state machine over the same fields (armed breakpoints, the gated exit, the reflection that paused,
 * the watch list, the halt, the threads); how each register is reached is vcpu-registers.ts,
 * memory and walks vcpu-inspect.ts, exit descriptions exit-text.ts; the resume/interrupt slicing
 * every target shares is sliced-run.ts, the watchpoint list and its hit rule watch-range.ts.
 */
import type { HaltReason, Exit, ExitAction } from '../cpu/exits.js';
import type { Vcpu } from '../cpu/vcpu.js';
import { decodeMemoryAccess } from '../cpu/access.js';
import { NS_PER_INSN } from '../cpu/vcpu.js';
import { Reg, xreg } from '../unicorn/uc.js';
import { vaFromBigint, vaToBigint } from '../types.js';
import { disassemble } from './disasm.js';
import { buildRegisterTable } from './aarch64-registers.js';
import { readGuestMemory, tlbText, walkText, writeGuestMemory } from './vcpu-inspect.js';
import { registerAccess, type RegAccess, type RegisterContext } from './vcpu-registers.js';
import { describeAction, describeExit, hexPc, type ExitRecord } from './exit-text.js';
import type { El2DebugView } from './el2-debug-view.js';
import { WatchHooks } from './watch-hooks.js';
export type { El2DebugView } from './el2-debug-view.js';
export { describeExit, sysregName } from './exit-text.js';
import { switchTrapBreak, type BreakpointKind, type BreakpointResult, type DebugTarget, type RegisterDescriptor, type StopReason, type TrapReason } from './target.js';
import { WatchList } from './watch-range.js';
import { SlicedRun, type RunMode } from './sliced-run.js';

export interface VcpuTargetSession {
  readonly machine: { readonly vcpu: Vcpu };
  /** What the debugger needs of the EL2 model (structural: emulator/ never imports hyp/). */
  readonly hyp: El2DebugView;
  /** --smp N (N > 1): every vCPU with its EL2 model, and the machine's scheduler. */
  readonly smp?: SmpDebugRunner;
  readonly flushConsole?: () => void;
}

/** What the debugger needs of a machine with several vCPUs (machine/smp.ts). */
export interface SmpDebugRunner {
  /** vCPU i is GDB thread i + 1. */
  readonly vcpus: readonly Vcpu[];
  /** vCPU i's EL2 model. */
  readonly hyps: readonly El2DebugView[];
  /** Run up to `budget` instructions over all vCPUs in the scheduler's order: the halt, or null. */
  run(budget: number): HaltReason | null;
  /** vCPU i's PSCI power state ('on', 'off', ...), for `info threads`. */
  power(i: number): string;
}

export interface VcpuTargetOptions {
  /** Instructions per continue slice: bounds Ctrl-C latency. Must not exceed the vCPU's own slice (1M by default). */
  readonly sliceInstructions?: number;
  /** Instructions per event-loop turn while single-stepping for watchpoints. */
  readonly watchSliceInstructions?: number;
  /** --max-insns: the run ends (exit status 124) when the guest has retired this many. */
  readonly maxInstructions?: number;
  /** How many exits `monitor exits` can show. */
  readonly exitHistory?: number;
  /** Maps a final halt to the process exit status reported to GDB (W packet): machine/exit-status.ts's exitCodeFor. */
  readonly exitCodeFor: (halt: HaltReason) => number;
}

const DEFAULT_SLICE = 250_000;
const DEFAULT_WATCH_SLICE = 20_000;

/** Scheduler steps while waiting for the stepped vCPU's turn: every other vCPU's quantum, twice. */
const STEP_WAIT = 8 * 10_000 * 2;

export class VcpuTarget extends SlicedRun implements DebugTarget {
  /** Every vCPU (one without --smp); vCPU i is GDB thread i + 1. */
  private readonly vcpus: readonly Vcpu[];
  private readonly hyps: readonly El2DebugView[];
  /** The thread `g`, `m`, `p`, the monitor commands act on (Hg), and the one a step steps (Hc), as vCPU indexes. */
  private gThread = 0;
  private cThread = 0;
  /** The vCPU the debugger looks at (Hg). */
  private get vcpu(): Vcpu {
    return this.vcpus[this.gThread]!;
  }
  /** The run is over (guest exit, fault, instruction limit, kill); set once. */
  halt: HaltReason | null = null;

  private readonly breakpoints = new Map<number, number[]>(); // signed VA -> hook handle per vCPU
  /** Breakpoint hooks only act while armed: never during the first instruction of a resume, nor a step. */
  private armed = false;
  /** While stepping this vCPU (several vCPUs): its breakpoints stay disarmed until it has run one instruction. */
  private steppingVcpu = -1;
  private bpHit: { vcpu: number; pc: number; instructions: number } | null = null;
  /** The breakpoint addresses as last seen by translated code (syncTranslatedCode). */
  private tbBreakpoints = new Set<number>();
  private codeDirty = false;
  private readonly watchpoints = new WatchList();
  /** With several vCPUs, the watchpoints as data hooks on each (watch-hooks.ts); null with one. */
  private readonly watchHooks: WatchHooks | null;

  private readonly trapBreak = new Set<TrapReason>();
  /** The exit our gate stopped on during the current run, and its vCPU (vcpu.gatedExit also stays set while a bypassed re-run executes other code). */
  private gatedNow: { exit: Exit; vcpu: number } | null = null;
  /** The reflection to a guest hypervisor that paused the current run (trap-break exit-to-l1). */
  private reflectedNow: { readonly reason: string; readonly text: string } | null = null;
  private readonly exits: ExitRecord[] = [];
  private exitSeq = 0;
  private lastExit: Exit | null = null;
  private readonly lastFastPathCount: number[];

  /** Per vCPU, the access to each register of the table. */
  private readonly regs: readonly (readonly RegAccess[])[];
  /** This machine's register table: core, FPU and its catalogue's DEBUGGER rows. */
  private readonly table: readonly RegisterDescriptor[];
  private readonly slice: number;
  private readonly watchSlice: number;
  private readonly maxInstructions: number;
  private readonly exitHistory: number;
  private readonly exitCodeFor: (halt: HaltReason) => number;

  constructor(
    private readonly session: VcpuTargetSession,
    options: VcpuTargetOptions,
  ) {
    super();
    this.vcpus = session.smp?.vcpus ?? [session.machine.vcpu];
    this.hyps = session.smp?.hyps ?? [session.hyp];
    this.slice = options.sliceInstructions ?? DEFAULT_SLICE;
    this.watchSlice = options.watchSliceInstructions ?? DEFAULT_WATCH_SLICE;
    this.maxInstructions = options.maxInstructions ?? Number.MAX_SAFE_INTEGER;
    this.exitHistory = options.exitHistory ?? 4096;
    this.exitCodeFor = options.exitCodeFor;
    this.table = buildRegisterTable(this.vcpus[0]!.sysregs.entries());
    this.watchHooks = this.vcpus.length > 1 ? new WatchHooks(this.vcpus, (i) => this.armed && i !== this.steppingVcpu) : null;
    this.regs = this.vcpus.map((vcpu, i) => {
      const ctx: RegisterContext = {
        vcpu,
        hyp: this.hyps[i]!,
        lastExit: () => this.lastExit,
        codeChanged: () => (this.codeDirty = true),
      };
      return this.table.map((r) => registerAccess(r, ctx));
    });
    this.lastFastPathCount = this.hyps.map((h) => {
      const fp0 = (h.exits as { fastPath?: unknown } | null)?.fastPath;
      return typeof fp0 === 'number' ? fp0 : -1;
    });

    this.vcpus.forEach((vcpu, i) => {
      // Observe every exit the EL2 model handles (chained: someone else may watch exits too).
      const previousObserver = vcpu.onExit;
      vcpu.onExit = (exit, action) => {
        previousObserver?.(exit, action);
        this.recordExit(i, exit, action);
      };
      vcpu.exitGate = (exit) => {
        if (!this.trapBreak.has(exit.reason)) return false;
        this.gatedNow = { exit, vcpu: i };
        return true;
      };
    });
    // trap-break exit-to-l1: the reflection has happened (PC is at the guest hypervisor's
    // vector); pause the vCPU there, as a breakpoint on that vector would.
    session.hyp.watchExitsToGuestHypervisor?.((e) => {
      if (!this.trapBreak.has('exit-to-l1') || this.reflectedNow !== null) return;
      this.reflectedNow = e;
      this.vcpu.pauseRequested = true;
      this.vcpu.requestStop();
    });
  }

  // ------------------------------------------------------------------ registers

  registerTable(): readonly RegisterDescriptor[] {
    return this.table;
  }

  readRegister(regnum: number): bigint | undefined {
    return this.regs[this.gThread]![regnum]?.read();
  }

  writeRegister(regnum: number, value: bigint): boolean {
    const r = this.regs[this.gThread]![regnum];
    if (r === undefined || r.write === null || this.halt !== null) return false;
    return r.write(BigInt.asUintN(this.table[regnum]!.bitsize, value));
  }

  // ------------------------------------------------------------------ memory

  readMemory(addr: bigint, length: number): Uint8Array | null {
    if (this.halt !== null) return null;
    return readGuestMemory(this.vcpu, addr, length);
  }

  writeMemory(addr: bigint, data: Uint8Array): boolean {
    if (this.halt !== null || !writeGuestMemory(this.vcpu, addr, data)) return false;
    // The write went around QEMU: translated code for it may be stale.
    this.codeDirty = true;
    return true;
  }

  // ------------------------------------------------------------------ break/watchpoints

  addBreakpoint(kind: BreakpointKind, addr: bigint, length: number): BreakpointResult {
    if (this.halt !== null) return 'error';
    if (kind === 'sw' || kind === 'hw') {
      const va = vaFromBigint(addr);
      if (this.breakpoints.has(va)) return 'ok';
      this.breakpoints.set(va, this.vcpus.map((v, i) => v.uc.onCode(va, va, (pc) => this.onBreakpointHook(i, pc))));
      return 'ok';
    }
    if (this.watchpoints.add({ kind, addr, length })) this.watchHooks?.add({ kind, addr, length });
    return 'ok';
  }

  removeBreakpoint(kind: BreakpointKind, addr: bigint, length: number): BreakpointResult {
    if (kind === 'sw' || kind === 'hw') {
      const va = vaFromBigint(addr);
      const handles = this.breakpoints.get(va);
      if (handles !== undefined && this.halt === null) handles.forEach((h, i) => this.vcpus[i]!.uc.removeHook(h));
      this.breakpoints.delete(va);
      return 'ok';
    }
    if (this.watchpoints.remove({ kind, addr, length }) && this.halt === null) this.watchHooks?.remove({ kind, addr, length });
    return 'ok';
  }

  /** Runs inside uc_emu_start of vCPU i, before the instruction at `pc` executes. */
  private onBreakpointHook(i: number, pc: number): void {
    if (!this.armed || this.bpHit !== null || i === this.steppingVcpu) return;
    const v = this.vcpus[i]!;
    // currentInstructions counts the instruction about to run as started (Unicorn's count hook ran
    // first): it is what the guest has retired before this instruction.
    this.bpHit = { vcpu: i, pc, instructions: v.currentInstructions };
    v.stopBeforeCurrent();
  }

  // ------------------------------------------------------------------ threads (one per vCPU)

  threadIds(): number[] {
    return this.vcpus.map((_, i) => i + 1);
  }

  currentThread(): number {
    return this.gThread + 1;
  }

  selectThread(op: 'g' | 'c', id: number): boolean {
    // 0: any thread, -1: all threads (GDB's conventions): keep the current one.
    if (id === 0 || id === -1) return true;
    if (!Number.isInteger(id) || id < 1 || id > this.vcpus.length) return false;
    if (op === 'g') this.gThread = id - 1;
    else this.cThread = id - 1;
    return true;
  }

  threadInfo(id: number): string {
    const i = id - 1;
    const v = this.vcpus[i];
    if (v === undefined) return '';
    const power = this.session.smp?.power(i) ?? 'on';
    return `vCPU ${i}${power === 'on' ? '' : ` (${power})`}, EL${v.el}`;
  }

  /** A stop on vCPU i: the debugger's current thread becomes that vCPU, as GDB expects. */
  private on(i: number): void {
    this.gThread = this.cThread = i;
  }

  /** Instructions retired by every vCPU. */
  private totalInstructions(): number {
    let n = 0;
    for (const v of this.vcpus) n += v.instructions;
    return n;
  }

  /** Run up to `budget` instructions: the one vCPU, or every vCPU through the machine's scheduler. */
  private runAll(budget: number): HaltReason | null {
    const smp = this.session.smp;
    return smp === undefined ? this.vcpus[0]!.runFor(budget) : smp.run(budget);
  }

  // ------------------------------------------------------------------ execution

  override kill(): void {
    super.kill();
    if (this.halt === null) this.halt = { kind: 'debugger-kill' };
  }

  detached(): void {
    // trap-break is a debugging-session setting: a guest left running must not stop on exits.
    this.trapBreak.clear();
  }

  private stop(reason: StopReason): void {
    this.armed = false;
    this.session.flushConsole?.();
    this.report(reason);
  }

  private pcBig(): bigint {
    return vaToBigint(this.vcpu.pc);
  }

  /**
   * Make translated code agree with the breakpoint set and with debugger writes. A breakpoint
   * added or removed drops only the translated code at its address, on every vCPU (uc_ctl
   * TB_REMOVE_CACHE, as the guest's own breakpoint registers do): a whole TB flush costs seconds
   * (measured: the hello guest with one breakpoint set 0.3 s -> 7-16 s, four vCPUs ~50 s), since
   * it grows each Unicorn instance to its whole code buffer. A debugger write to memory or to a
   * translation register still flushes everything.
   */
  private syncTranslatedCode(): void {
    if (this.codeDirty) {
      for (const v of this.vcpus) {
        v.uc.flushTb();
        // Written code is fetched through a new fill, so the code-page scan sees it (code-guard.ts).
        v.flushTlb();
      }
      this.codeDirty = false;
    } else {
      const now = this.breakpoints;
      for (const va of this.tbBreakpoints) if (!now.has(va)) this.retranslate(va);
      for (const va of now.keys()) if (!this.tbBreakpoints.has(va)) this.retranslate(va);
    }
    this.tbBreakpoints = new Set(this.breakpoints.keys());
  }

  private retranslate(va: number): void {
    for (const v of this.vcpus) v.uc.removeTbCache(va, va + 4);
  }

  /**
   * After some guest execution: the stop it implies, or null to keep going.
   * Order matters: the run ending beats everything, then a gated exit (the instruction did not run).
   */
  private checkAfterRun(halt: HaltReason | null): StopReason | null {
    if (halt !== null) return this.ended(halt);
    const g = this.gatedNow;
    this.gatedNow = null;
    if (g !== null) {
      const gated = g.exit;
      this.on(g.vcpu);
      // Unicorn continues past a skipped MSR/MRS after the hook returns, overriding the PC the
      // gate wrote: put PC back on the trapping instruction so the exit is re-raised on resume.
      this.vcpu.pc = gated.pc;
      // EL2's syndrome registers are what the model will see on this (pending) exit.
      this.lastExit = gated;
      const path = this.hyps[g.vcpu]!.exitPath?.(gated);
      return { kind: 'trap-break', pc: vaToBigint(gated.pc), reason: gated.reason, text: `EL2 exit: ${describeExit(gated, this.vcpu.x(0))}${path ? `, ${path}` : ''}${this.insnText(gated.pc)}` };
    }
    const reflected = this.reflectedNow;
    this.reflectedNow = null;
    if (reflected !== null) {
      this.vcpu.pauseRequested = false;
      const pc = this.vcpu.pc;
      return { kind: 'trap-break', pc: vaToBigint(pc), reason: 'exit-to-l1', text: `exit to the guest hypervisor (${reflected.reason}): ${reflected.text}${this.insnText(pc)}` };
    }
    if (this.totalInstructions() >= this.maxInstructions) return this.ended({ kind: 'insn-limit' });
    return null;
  }

  private ended(halt: HaltReason): StopReason {
    if (this.halt === null) this.halt = halt;
    this.session.flushConsole?.();
    return { kind: 'exited', exitCode: this.exitCodeFor(this.halt) & 0xff };
  }

  /**
   * Execute exactly one instruction with breakpoints disarmed (a step, or the first instruction of
   * a continue). An instruction the vCPU completes outside Unicorn (an emulated MMIO access, an
   * abort taken from a refused fill) does not retire in Unicorn's count: the vCPU ends the step at
   * the first exception or exit instead, so a step never lands one instruction too far.
   */
  private stepOne(): StopReason | null {
    this.armed = false;
    if (this.session.smp !== undefined) return this.checkAfterRun(this.runAll(1));
    return this.checkAfterRun(this.vcpus[0]!.runFor(1, { stopAfterEvent: true }));
  }

  /**
   * Step thread t with several vCPUs: the scheduler runs one instruction at a time (whichever
   * vCPU's turn it is, so the interleaving is the run's own) until vCPU t has executed one or
   * taken an exception or exit; the others' breakpoints stay armed. Null: the step is done (or
   * t never got a turn: idle, or off).
   */
  private stepThread(t: number): StopReason | null {
    const v = this.vcpus[t]!;
    const insns = v.instructions;
    const events = v.eventSeq;
    this.bpHit = null;
    this.armed = true;
    this.steppingVcpu = t;
    try {
      for (let n = 0; n < STEP_WAIT; n++) {
        const halt = this.runAll(1);
        const w = this.watchStop(halt);
        if (w !== null) return w;
        const hit = this.bpHit as { vcpu: number; pc: number } | null;
        if (hit !== null && halt === null) {
          this.bpHit = null;
          this.on(hit.vcpu);
          return { kind: 'breakpoint', pc: vaToBigint(hit.pc) };
        }
        const r = this.checkAfterRun(halt);
        if (r !== null) return r;
        if (v.instructions !== insns || v.eventSeq !== events) return null;
      }
      return null;
    } finally {
      this.armed = false;
      this.steppingVcpu = -1;
    }
  }

  protected runSlice(mode: RunMode, first: boolean): void {
    if (!this.running || this.killed) return;
    if (this.halt !== null) return this.stop(this.ended(this.halt));
    if (this.interruptRequested) return this.stop({ kind: 'signal', pc: this.pcBig(), signal: 2 });
    try {
      if (first) this.syncTranslatedCode();
      if (mode === 'step') {
        if (this.vcpus.length > 1) {
          const t = this.cThread;
          const r = this.stepThread(t);
          if (r === null) this.on(t);
          return this.stop(r ?? { kind: 'step', pc: this.pcBig() });
        }
        return this.stop(this.stepOne() ?? { kind: 'step', pc: this.pcBig() });
      }
      if (first) {
        // The instruction we resume from runs even if a breakpoint, watchpoint or gated exit sits on it.
        const r = this.stepOne();
        if (r !== null) return this.stop(r);
        if (this.vcpus.length === 1 && this.breakpoints.has(this.vcpu.pc)) return this.stop({ kind: 'breakpoint', pc: this.pcBig() });
      }
      const r = this.watchpoints.size > 0 && this.watchHooks === null ? this.runWatched() : this.runFast();
      if (r !== null) return this.stop(r);
    } catch (err) {
      // A host error must end the guest as a fault, never take the debugger session down.
      return this.stop(this.ended({ kind: 'fault', message: `internal error while running: ${(err as Error).message}` }));
    }
    this.nextSlice(mode);
  }

  /** One continue slice at full speed; breakpoints through code hooks. */
  private runFast(): StopReason | null {
    const budget = Math.min(this.slice, this.maxInstructions - this.totalInstructions());
    if (budget <= 0) return this.ended({ kind: 'insn-limit' });
    this.bpHit = null;
    this.armed = true;
    let halt: HaltReason | null;
    try {
      halt = this.runAll(budget);
    } finally {
      this.armed = false;
    }
    const w = this.watchStop(halt);
    if (w !== null) return w;
    const hit = this.bpHit as { vcpu: number; pc: number; instructions: number } | null;
    if (hit !== null) {
      this.bpHit = null;
      if (halt === null) {
        this.on(hit.vcpu);
        return { kind: 'breakpoint', pc: vaToBigint(hit.pc) };
      }
    }
    return this.checkAfterRun(halt);
  }

  /** Several vCPUs: the watchpoint a vCPU's access hit in the last run (it becomes the current thread), or null. */
  private watchStop(halt: HaltReason | null): StopReason | null {
    const w = this.watchHooks?.take() ?? null;
    if (w === null || halt !== null) return null;
    this.on(w.vcpu);
    return { kind: 'watch', pc: vaToBigint(w.pc), watch: w.kind, addr: w.addr };
  }

  /** One continue slice single-stepping, checking each instruction's data address against the watchpoints first. */
  private runWatched(): StopReason | null {
    for (let i = 0; i < this.watchSlice; i++) {
      if (i > 0 && this.breakpoints.has(this.vcpu.pc)) return { kind: 'breakpoint', pc: this.pcBig() };
      const w = this.watchHit();
      if (w !== null) return w;
      const r = this.stepOne();
      if (r !== null) return r;
    }
    return null;
  }

  /** Would the instruction at PC access a watched range? (Decoded, before it runs.) */
  private watchHit(): StopReason | null {
    const v = this.vcpu;
    const pc = v.pc;
    const insn = v.readInsn(pc);
    if (insn === null) return null;
    const acc = decodeMemoryAccess(insn, (n) => (n === 31 ? v.uc.regRead(Reg.SP) : v.uc.regRead(xreg(n))));
    if (acc === null || acc.cacheMaintenance) return null; // DC by VA: no data is read or written
    const hit = this.watchpoints.firstHit(vaToBigint(acc.address), acc.totalSize, acc.write);
    return hit === null ? null : { kind: 'watch', pc: vaToBigint(pc), ...hit };
  }

  // ------------------------------------------------------------------ exits

  private recordExit(i: number, exit: Exit, action: ExitAction): void {
    this.lastExit = exit;
    // The model counts fast-path exits; a change across this exit says which path handled it.
    const fp = (this.hyps[i]!.exits as { fastPath?: unknown } | null)?.fastPath;
    let path: string | null = null;
    if (typeof fp === 'number') {
      const last = this.lastFastPathCount[i]!;
      if (last >= 0) path = fp > last ? 'fast path' : 'world switch';
      this.lastFastPathCount[i] = fp;
    }
    const v = this.vcpus[i]!;
    const rec: ExitRecord = { seq: ++this.exitSeq, instructions: v.currentInstructions, path, exit, action, x0: v.x(0), ...(this.vcpus.length > 1 ? { vcpu: i } : {}) };
    if (this.exits.length >= this.exitHistory) this.exits.shift();
    this.exits.push(rec);
  }

  // ------------------------------------------------------------------ monitor commands

  setTrapBreak(enabled: boolean, reasons: readonly TrapReason[]): string {
    switchTrapBreak(this.trapBreak, enabled, reasons);
    if (this.trapBreak.size === 0) return 'trap-break: off';
    const l1 = this.trapBreak.has('exit-to-l1');
    const how = [
      ...(this.trapBreak.size > (l1 ? 1 : 0) ? ['stops before the hypervisor handles the exit; stepi then shows the result'] : []),
      ...(l1 ? ["exit-to-l1 stops after the reflection, at the guest hypervisor's vector"] : []),
    ];
    return `trap-break: on for ${[...this.trapBreak].join(', ')} (${how.join('; ')})`;
  }

  recentExits(count: number): string {
    const list = this.exits.slice(-count);
    if (list.length === 0) return `no EL2 exits yet (${this.vcpu.instructions} instructions retired)`;
    // The instruction is read from memory now (not recorded per exit, which would cost every exit a translation).
    const lines = list.map((r) => `#${r.seq}${r.vcpu !== undefined ? ` vcpu ${r.vcpu}` : ''} insn ${r.instructions} pc ${hexPc(r.exit.pc)}: ${describeExit(r.exit, r.x0)} -> ${describeAction(r.action)}${r.path ? ', ' + r.path : ''}${this.insnText(r.exit.pc)}`);
    return `last ${list.length} of ${this.exitSeq} EL2 exits (most recent last):\n${lines.join('\n')}`;
  }

  /** ` [mnemonic operands]` of the instruction at a guest VA, or '' if unreadable or Capstone is not loaded. */
  private insnText(pc: number): string {
    const w = this.vcpu.readInsn(pc);
    const text = w === null ? null : disassemble(w, vaToBigint(pc));
    return text === null ? '' : ` [${text}]`;
  }

  /** `monitor disas`: N instructions from a VA in the current regime (for clients that cannot disassemble A64). */
  disassemble(addr: bigint, count: number): string {
    const lines: string[] = [];
    for (let i = 0; i < count; i++) {
      const va = addr + BigInt(4 * i);
      const bytes = this.readMemory(va, 4);
      const at = `0x${va.toString(16).padStart(16, '0')}${va === this.pcBig() ? ' <pc>' : ''}`;
      if (bytes === null || bytes.length < 4) {
        lines.push(`${at}: cannot access memory`);
        break;
      }
      const w = (bytes[0]! | (bytes[1]! << 8) | (bytes[2]! << 16) | (bytes[3]! << 24)) >>> 0;
      lines.push(`${at}: ${w.toString(16).padStart(8, '0')}  ${disassemble(w, va) ?? '(disassembler not loaded)'}`);
    }
    return lines.join('\n');
  }

  walk(va: bigint): string {
    return this.hyps[this.gThread]!.walkText?.(va) ?? walkText(this.vcpu, va);
  }

  tlb(): string {
    return tlbText(this.vcpu);
  }

  stats(): string {
    const v = this.vcpu;
    const lines = [
      ...(this.vcpus.length > 1 ? [`vCPU ${this.gThread} of ${this.vcpus.length} (thread ${this.gThread + 1}; the machine: ${this.totalInstructions()} instructions)`] : []),
      `instructions: ${v.instructions} (virtual time ${v.instructions * NS_PER_INSN} ns)`,
      `exceptions: ${JSON.stringify(v.exceptions)}`,
      `EL2 exits: ${JSON.stringify(this.hyps[this.gThread]!.exits)}`,
      `debugger: ${this.breakpoints.size} breakpoint(s), ${this.watchpoints.size} watchpoint(s)${this.watchpoints.size > 0 ? ' (continue single-steps while any is set)' : ''}, trap-break ${this.trapBreak.size === 0 ? 'off' : 'on for ' + [...this.trapBreak].join(', ')}`,
    ];
    return lines.join('\n');
  }
}
