/**
 * The DebugTarget over the real machine: a Session's Vcpu (Unicorn + exception entry) and its
 * EL2 model. The GDB stub (gdbstub.ts) drives it; it never runs guest code inside a call:
 * resume() schedules `runFor` slices with setImmediate, and the stop handler reports back.
 *
 * How each debugger feature maps onto the vCPU, and why:
 *
 * - Breakpoints are PC matches, never patched instructions: one Unicorn UC_HOOK_CODE hook bounded
 *   to exactly that address calls emuStop before the instruction executes. Unicorn decides which
 *   hooks an instruction calls when it translates it, so translated code is flushed (flushTb)
 *   before the next run whenever the breakpoint set changed.
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
 * Size (~480 lines, this comment included): what is left here is the run control, one state
 * machine over the same fields (armed breakpoints, the gated exit, the reflection that paused,
 * the watch list, the halt); how each register is reached is vcpu-registers.ts, memory and
 * walks vcpu-inspect.ts, exit descriptions exit-text.ts.
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
export type { El2DebugView } from './el2-debug-view.js';
export { describeExit, sysregName } from './exit-text.js';
import {
  TRAP_REASONS,
  type BreakpointKind,
  type BreakpointResult,
  type DebugTarget,
  type RegisterDescriptor,
  type StopHandler,
  type StopReason,
  type TrapReason,
  type WatchKind,
} from './target.js';

export interface VcpuTargetSession {
  readonly machine: { readonly vcpu: Vcpu };
  /** What the debugger needs of the EL2 model (structural: emulator/ never imports hyp/). */
  readonly hyp: El2DebugView;
  readonly flushConsole?: () => void;
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

interface Watch {
  readonly kind: WatchKind;
  readonly addr: bigint;
  readonly length: number;
}

const DEFAULT_SLICE = 250_000;
const DEFAULT_WATCH_SLICE = 20_000;

export class VcpuTarget implements DebugTarget {
  private readonly vcpu: Vcpu;
  private handler: StopHandler = () => {};
  private running = false;
  private killed = false;
  private interruptRequested = false;
  /** The run is over (guest exit, fault, instruction limit, kill); set once. */
  halt: HaltReason | null = null;

  private readonly breakpoints = new Map<number, number>(); // signed VA -> hook handle
  /** Breakpoint hooks only act while armed: never during the first instruction of a resume, nor a step. */
  private armed = false;
  private bpHit: { pc: number; instructions: number } | null = null;
  /** The breakpoint set as last seen by translated code; a difference at resume means flushTb. */
  private tbKey = '';
  private codeDirty = false;
  private readonly watchpoints: Watch[] = [];

  private readonly trapBreak = new Set<TrapReason>();
  /** The exit our gate stopped on during the current run (vcpu.gatedExit also stays set while a bypassed re-run executes other code). */
  private gatedNow: Exit | null = null;
  /** The reflection to a guest hypervisor that paused the current run (trap-break exit-to-l1). */
  private reflectedNow: { readonly reason: string; readonly text: string } | null = null;
  private readonly exits: ExitRecord[] = [];
  private exitSeq = 0;
  private lastExit: Exit | null = null;
  private lastFastPathCount = -1;

  private readonly regs: readonly RegAccess[];
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
    this.vcpu = session.machine.vcpu;
    this.slice = options.sliceInstructions ?? DEFAULT_SLICE;
    this.watchSlice = options.watchSliceInstructions ?? DEFAULT_WATCH_SLICE;
    this.maxInstructions = options.maxInstructions ?? Number.MAX_SAFE_INTEGER;
    this.exitHistory = options.exitHistory ?? 4096;
    this.exitCodeFor = options.exitCodeFor;
    this.table = buildRegisterTable(this.vcpu.sysregs.entries());
    const ctx: RegisterContext = {
      vcpu: this.vcpu,
      hyp: session.hyp,
      lastExit: () => this.lastExit,
      codeChanged: () => (this.codeDirty = true),
    };
    this.regs = this.table.map((r) => registerAccess(r, ctx));
    const fp0 = (session.hyp.exits as { fastPath?: unknown } | null)?.fastPath;
    if (typeof fp0 === 'number') this.lastFastPathCount = fp0;

    // Observe every exit the EL2 model handles (chained: someone else may watch exits too).
    const previousObserver = this.vcpu.onExit;
    this.vcpu.onExit = (exit, action) => {
      previousObserver?.(exit, action);
      this.recordExit(exit, action);
    };
    this.vcpu.exitGate = (exit) => {
      if (!this.trapBreak.has(exit.reason)) return false;
      this.gatedNow = exit;
      return true;
    };
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
    return this.regs[regnum]?.read();
  }

  writeRegister(regnum: number, value: bigint): boolean {
    const r = this.regs[regnum];
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
      const handle = this.vcpu.uc.onCode(va, va, (pc) => this.onBreakpointHook(pc));
      this.breakpoints.set(va, handle);
      return 'ok';
    }
    if (!this.watchpoints.some((w) => w.kind === kind && w.addr === addr && w.length === length)) this.watchpoints.push({ kind, addr, length });
    return 'ok';
  }

  removeBreakpoint(kind: BreakpointKind, addr: bigint, length: number): BreakpointResult {
    if (kind === 'sw' || kind === 'hw') {
      const va = vaFromBigint(addr);
      const handle = this.breakpoints.get(va);
      if (handle !== undefined && this.halt === null) this.vcpu.uc.removeHook(handle);
      this.breakpoints.delete(va);
      return 'ok';
    }
    const i = this.watchpoints.findIndex((w) => w.kind === kind && w.addr === addr && w.length === length);
    if (i >= 0) this.watchpoints.splice(i, 1);
    return 'ok';
  }

  /** Runs inside uc_emu_start, before the instruction at `pc` executes. */
  private onBreakpointHook(pc: number): void {
    if (!this.armed || this.bpHit !== null) return;
    // currentInstructions counts the instruction about to run as started (Unicorn's count hook ran
    // first): it is what the guest has retired before this instruction.
    this.bpHit = { pc, instructions: this.vcpu.currentInstructions };
    this.vcpu.stopBeforeCurrent();
  }

  // ------------------------------------------------------------------ execution

  setStopHandler(handler: StopHandler): void {
    this.handler = handler;
  }

  resume(mode: 'continue' | 'step'): void {
    if (this.killed || this.running) return;
    this.running = true;
    this.interruptRequested = false;
    setImmediate(() => this.runSlice(mode, true));
  }

  interrupt(): void {
    if (this.running) this.interruptRequested = true;
  }

  kill(): void {
    this.killed = true;
    this.running = false;
    if (this.halt === null) this.halt = { kind: 'debugger-kill' };
  }

  detached(): void {
    // trap-break is a debugging-session setting: a guest left running must not stop on exits.
    this.trapBreak.clear();
  }

  private stop(reason: StopReason): void {
    this.running = false;
    this.armed = false;
    this.session.flushConsole?.();
    this.handler(reason);
  }

  private pcBig(): bigint {
    return vaToBigint(this.vcpu.pc);
  }

  /** Make translated code agree with the breakpoint set and with debugger memory writes. */
  private syncTranslatedCode(): void {
    const key = [...this.breakpoints.keys()].sort((a, b) => a - b).join(',');
    if (key !== this.tbKey || this.codeDirty) {
      this.vcpu.uc.flushTb();
      // Written code is fetched through a new fill, so the code-page scan sees it (code-guard.ts).
      if (this.codeDirty) this.vcpu.flushTlb();
      this.tbKey = key;
      this.codeDirty = false;
    }
  }

  /**
   * After some guest execution: the stop it implies, or null to keep going.
   * Order matters: the run ending beats everything, then a gated exit (the instruction did not run).
   */
  private checkAfterRun(halt: HaltReason | null): StopReason | null {
    if (halt !== null) return this.ended(halt);
    const gated = this.gatedNow;
    this.gatedNow = null;
    if (gated !== null) {
      // Unicorn continues past a skipped MSR/MRS after the hook returns, overriding the PC the
      // gate wrote: put PC back on the trapping instruction so the exit is re-raised on resume.
      this.vcpu.pc = gated.pc;
      // EL2's syndrome registers are what the model will see on this (pending) exit.
      this.lastExit = gated;
      const path = this.session.hyp.exitPath?.(gated);
      return { kind: 'trap-break', pc: vaToBigint(gated.pc), reason: gated.reason, text: `EL2 exit: ${describeExit(gated, this.vcpu.x(0))}${path ? `, ${path}` : ''}${this.insnText(gated.pc)}` };
    }
    const reflected = this.reflectedNow;
    this.reflectedNow = null;
    if (reflected !== null) {
      this.vcpu.pauseRequested = false;
      const pc = this.vcpu.pc;
      return { kind: 'trap-break', pc: vaToBigint(pc), reason: 'exit-to-l1', text: `exit to the guest hypervisor (${reflected.reason}): ${reflected.text}${this.insnText(pc)}` };
    }
    if (this.vcpu.instructions >= this.maxInstructions) return this.ended({ kind: 'insn-limit' });
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
    return this.checkAfterRun(this.vcpu.runFor(1, { stopAfterEvent: true }));
  }

  private runSlice(mode: 'continue' | 'step', first: boolean): void {
    if (!this.running || this.killed) return;
    if (this.halt !== null) return this.stop(this.ended(this.halt));
    if (this.interruptRequested) return this.stop({ kind: 'signal', pc: this.pcBig(), signal: 2 });
    try {
      if (first) this.syncTranslatedCode();
      if (mode === 'step') {
        return this.stop(this.stepOne() ?? { kind: 'step', pc: this.pcBig() });
      }
      if (first) {
        // The instruction we resume from runs even if a breakpoint, watchpoint or gated exit sits on it.
        const r = this.stepOne();
        if (r !== null) return this.stop(r);
        if (this.breakpoints.has(this.vcpu.pc)) return this.stop({ kind: 'breakpoint', pc: this.pcBig() });
      }
      const r = this.watchpoints.length > 0 ? this.runWatched() : this.runFast();
      if (r !== null) return this.stop(r);
    } catch (err) {
      // A host error must end the guest as a fault, never take the debugger session down.
      return this.stop(this.ended({ kind: 'fault', message: `internal error while running: ${(err as Error).message}` }));
    }
    setImmediate(() => this.runSlice(mode, false));
  }

  /** One continue slice at full speed; breakpoints through code hooks. */
  private runFast(): StopReason | null {
    const v = this.vcpu;
    const budget = Math.min(this.slice, this.maxInstructions - v.instructions);
    if (budget <= 0) return this.ended({ kind: 'insn-limit' });
    this.bpHit = null;
    this.armed = true;
    let halt: HaltReason | null;
    try {
      halt = v.runFor(budget);
    } finally {
      this.armed = false;
    }
    const hit = this.bpHit as { pc: number; instructions: number } | null;
    if (hit !== null) {
      this.bpHit = null;
      if (halt === null) return { kind: 'breakpoint', pc: vaToBigint(hit.pc) };
    }
    return this.checkAfterRun(halt);
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
    const start = vaToBigint(acc.address);
    const end = start + BigInt(acc.totalSize);
    for (const w of this.watchpoints) {
      const kindMatches = w.kind === 'access' || (w.kind === 'write') === acc.write;
      if (kindMatches && start < w.addr + BigInt(w.length) && w.addr < end) {
        return { kind: 'watch', pc: vaToBigint(pc), watch: w.kind, addr: start > w.addr ? start : w.addr };
      }
    }
    return null;
  }

  // ------------------------------------------------------------------ exits

  private recordExit(exit: Exit, action: ExitAction): void {
    this.lastExit = exit;
    // The model counts fast-path exits; a change across this exit says which path handled it.
    const fp = (this.session.hyp.exits as { fastPath?: unknown } | null)?.fastPath;
    let path: string | null = null;
    if (typeof fp === 'number') {
      if (this.lastFastPathCount >= 0) path = fp > this.lastFastPathCount ? 'fast path' : 'world switch';
      this.lastFastPathCount = fp;
    }
    const rec: ExitRecord = { seq: ++this.exitSeq, instructions: this.vcpu.currentInstructions, path, exit, action, x0: this.vcpu.x(0) };
    if (this.exits.length >= this.exitHistory) this.exits.shift();
    this.exits.push(rec);
  }

  // ------------------------------------------------------------------ monitor commands

  setTrapBreak(enabled: boolean, reasons: readonly TrapReason[]): string {
    const list = reasons.length > 0 ? reasons : TRAP_REASONS;
    for (const r of list) {
      if (enabled) this.trapBreak.add(r);
      else this.trapBreak.delete(r);
    }
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
    const lines = list.map((r) => `#${r.seq} insn ${r.instructions} pc ${hexPc(r.exit.pc)}: ${describeExit(r.exit, r.x0)} -> ${describeAction(r.action)}${r.path ? ', ' + r.path : ''}${this.insnText(r.exit.pc)}`);
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
    return this.session.hyp.walkText?.(va) ?? walkText(this.vcpu, va);
  }

  tlb(): string {
    return tlbText(this.vcpu);
  }

  stats(): string {
    const v = this.vcpu;
    const lines = [
      `instructions: ${v.instructions} (virtual time ${v.instructions * NS_PER_INSN} ns)`,
      `exceptions: ${JSON.stringify(v.exceptions)}`,
      `EL2 exits: ${JSON.stringify(this.session.hyp.exits)}`,
      `debugger: ${this.breakpoints.size} breakpoint(s), ${this.watchpoints.length} watchpoint(s)${this.watchpoints.length > 0 ? ' (continue single-steps while any is set)' : ''}, trap-break ${this.trapBreak.size === 0 ? 'off' : 'on for ' + [...this.trapBreak].join(', ')}`,
    ];
    return lines.join('\n');
  }
}
