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
 */
import { walkReport, formatWalk } from '../mmu/walk-report.js';
import type { HaltReason, Exit, ExitAction } from '../cpu/exits.js';
import type { Vcpu } from '../cpu/vcpu.js';
import { Access } from '../cpu/translator.js';
import { describeEsr } from '../cpu/esr.js';
import { decodeMemoryAccess } from '../cpu/access.js';
import { NS_PER_INSN } from '../cpu/vcpu.js';
import { modeName } from '../cpu/pstate.js';
import { Reg, xreg } from '../unicorn/uc.js';
import { vaFromBigint, vaToBigint, hexVa } from '../types.js';
import { disassemble } from './disasm.js';
import { buildRegisterTable, FEATURE_SYSREGS } from './aarch64-registers.js';
import { genericName, type SysregEncoding } from '../cpu/sysreg-catalogue.js';
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

/** The parts of a cli Session this target needs (kept structural so emulator/ never imports cli/ or hyp/). */
export interface El2DebugView {
  /** The exit counters, shown by `monitor stats`. */
  readonly exits: unknown;
  /** The model's EL2 register by name ('HCR_EL2'), or undefined if it has none. */
  el2Register?(name: string): bigint | undefined;
  /** Write a model EL2 register; false if it has none. */
  setEl2Register?(name: string, value: bigint): boolean;
  /** What the guest reads from a system register whose CPU value the model rewrites (MAIR_EL1 under mangling). */
  guestView?(name: string, cpuValue: bigint): bigint;
  /** How the model will handle a pending exit, decided without handling it. */
  exitPath?(exit: Exit): 'fast path' | 'world switch';
  /** The model's own text for `monitor walk` (a guest hypervisor's three stages), or null for the ordinary walk. */
  walkText?(va: bigint): string | null;
  /**
   * Be told of every exit the model reflects to a guest hypervisor (--nested), right after its
   * exception entry at virtual EL2 (null: stop telling). `reason` is the key of
   * stats.nested.exitsToL1; `text` describes the entry (vector, ESR/ELR/SPSR_EL2).
   */
  watchExitsToGuestHypervisor?(cb: ((e: { readonly reason: string; readonly text: string }) => void) | null): void;
}

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

interface ExitRecord {
  seq: number;
  /** 'fast path' / 'world switch' when the EL2 model's counters tell (hyp.exits.fastPath). */
  path: string | null;
  instructions: number;
  exit: Exit;
  action: ExitAction;
  x0: bigint;
}

const DEFAULT_SLICE = 250_000;
const DEFAULT_WATCH_SLICE = 20_000;
const PAGE = 0x1000;

/**
 * Name a system register or instruction by encoding for exit descriptions: the catalogue's name
 * ('TLBI_VAE1IS' reads "TLBI VAE1IS"), S3_0_C10_C2_0 style for an encoding it does not know.
 */
export function sysregName(e: SysregEncoding, row: { name: string } | null = null): string {
  if (row === null) return genericName(e);
  return e.op0 === 1 ? row.name.replace('_', ' ') : row.name;
}

const hex = (v: number | bigint): string => '0x' + (typeof v === 'bigint' ? v : BigInt(Math.trunc(v))).toString(16);
const hexPc = (pc: number): string => '0x' + vaToBigint(pc).toString(16);

/** One-line description of an EL2 exit, as trap-break and `monitor exits` print it. */
export function describeExit(exit: Exit, x0?: bigint): string {
  const syndrome = `ESR_EL2=${hex(exit.esr >>> 0)} (${describeEsr(exit.esr)})`;
  switch (exit.reason) {
    case 'sysreg': {
      const name = sysregName(exit, exit.row);
      const what = exit.op0 === 1 ? `sys ${name}${exit.rt !== 31 ? `, x${exit.rt}` : ''}` : exit.read ? `sysreg read ${name} -> x${exit.rt}` : `sysreg write ${name} <- ${hex(exit.value)}`;
      return `${what}; ${syndrome}`;
    }
    case 'hvc':
    case 'smc':
      return `${exit.reason} #${hex(exit.imm)}${x0 !== undefined ? ` x0=${hex(x0)}` : ''}; ${syndrome}`;
    case 'dabt_s2': {
      const acc = exit.access;
      const what = acc ? `${acc.write ? 'write' : 'read'} of ${acc.size} byte${acc.size > 1 ? 's' : ''} ${acc.write ? 'from' : 'to'} ${acc.rt === 31 ? 'xzr' : 'x' + acc.rt}` : 'access without syndrome (ISV=0)';
      return `stage-2 data abort: ${what} at IPA ${hex(exit.ipa)} (VA ${hexPc(exit.far)}, HPFAR_EL2=${hex(exit.hpfar)}); ${syndrome}`;
    }
    case 'iabt_s2':
      return `stage-2 instruction abort at IPA ${hex(exit.ipa)} (VA ${hexPc(exit.far)}); ${syndrome}`;
    case 'wfx':
      return `${exit.wfe ? 'wfe' : 'wfi'}; ${syndrome}`;
    case 'irq':
      return `physical IRQ; ${syndrome}`;
  }
}

function describeAction(a: ExitAction): string {
  return a.kind === 'resume' ? 'resumed' : `halted (${a.halt.kind}${a.halt.kind === 'fault' ? ': ' + a.halt.message : ''})`;
}

type RegAccess = { read: () => bigint | undefined; write: ((v: bigint) => boolean) | null };

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
    this.regs = this.table.map((r) => this.registerAccess(r));
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

  private registerAccess(r: RegisterDescriptor): RegAccess {
    const v = this.vcpu;
    const uc = v.uc;
    const ro = (read: () => bigint | undefined): RegAccess => ({ read, write: null });
    const x = /^x([0-9]+)$/.exec(r.name);
    if (x) {
      const n = Number(x[1]);
      return { read: () => v.x(n), write: (val) => (v.setX(n, val), true) };
    }
    const vn = /^v([0-9]+)$/.exec(r.name);
    if (vn) {
      const n = Number(vn[1]);
      return {
        read: () => leBytesToBig(uc.vregRead(n)),
        write: (val) => (uc.vregWrite(n, bigToLeBytes(val, 16)), true),
      };
    }
    switch (r.name) {
      case 'sp':
        return { read: () => uc.regRead(Reg.SP), write: (val) => (uc.regWrite(Reg.SP, val), true) };
      case 'pc':
        return { read: () => vaToBigint(v.pc), write: (val) => ((v.pc = vaFromBigint(val)), true) };
      case 'cpsr':
        return { read: () => BigInt(v.pstate >>> 0), write: (val) => this.writePstate(Number(val)) };
      case 'fpsr':
        return { read: () => uc.regRead(Reg.FPSR) & 0xffff_ffffn, write: (val) => (uc.regWrite(Reg.FPSR, val), true) };
      case 'fpcr':
        return { read: () => uc.regRead(Reg.FPCR) & 0xffff_ffffn, write: (val) => (uc.regWrite(Reg.FPCR, val), true) };
      // Unicorn does not bank SP on PSTATE changes (DESIGN.md): the live SP is the bank of the current mode.
      case 'sp_el0':
        return {
          read: () => (this.liveSpIs(0) ? uc.regRead(Reg.SP) : uc.regRead(Reg.SP_EL0)),
          write: (val) => (uc.regWrite(this.liveSpIs(0) ? Reg.SP : Reg.SP_EL0, val), true),
        };
      case 'sp_el1':
        return {
          read: () => (this.liveSpIs(1) ? uc.regRead(Reg.SP) : uc.regRead(Reg.SP_EL1)),
          write: (val) => (uc.regWrite(this.liveSpIs(1) ? Reg.SP : Reg.SP_EL1, val), true),
        };
      case 'currentel':
        return ro(() => BigInt(v.el << 2));
      // What the EL2 model was told about the last exit: the syndrome registers hardware would have written.
      case 'esr_el2':
        return ro(() => (this.lastExit ? BigInt(this.lastExit.esr >>> 0) : 0n));
      case 'elr_el2':
        return ro(() => (this.lastExit ? vaToBigint(this.lastExit.pc) : 0n));
      case 'far_el2':
        return ro(() => (this.lastExit && 'far' in this.lastExit ? vaToBigint(this.lastExit.far) : 0n));
      case 'hpfar_el2':
        return ro(() => (this.lastExit && 'hpfar' in this.lastExit ? BigInt(this.lastExit.hpfar) : 0n));
    }
    if (r.feature === FEATURE_SYSREGS && r.sysreg) {
      const enc = r.sysreg;
      // Other EL2 registers are the hypervisor model's register file (Unicorn's own EL2 state is
      // not what the model uses). Writable: a new HCR_EL2 reroutes traps and reinstalls stage 2.
      if (enc.op1 >= 4 && r.name.endsWith('_el2')) {
        const hyp = this.session.hyp;
        const name = r.name.toUpperCase();
        return {
          read: () => hyp.el2Register?.(name),
          write: (val) => {
            if (!hyp.setEl2Register?.(name, val)) return false;
            v.flushTlb();
            this.codeDirty = true;
            return true;
          },
        };
      }
      // MAIR_EL1 as the guest reads it (under --mair-mangle the CPU holds the mangled value).
      if (r.name === 'mair_el1') {
        const hyp = this.session.hyp;
        return {
          read: () => {
            const cpu = uc.sysregRead(enc) ?? 0n;
            return hyp.guestView ? hyp.guestView('MAIR_EL1', cpu) : cpu;
          },
          write: (val) => v.setSysreg(enc, val),
        };
      }
      // A row a device answers (the timer, the GIC CPU interface, the counters) is read and written
      // through the device, as the guest would.
      const entry = v.sysregs.find(enc);
      const device = entry?.device ?? null;
      if (entry !== undefined && device !== null) {
        return { read: () => device.read(entry), write: entry.access === 'ro' ? null : (val) => (device.write(entry, val), true) };
      }
      const readOnly = entry?.access === 'ro';
      return {
        read: () => uc.sysregRead(enc) ?? undefined,
        write: readOnly
          ? null
          : (val) => {
              if (!v.setSysreg(enc, val)) return false;
              // SCTLR/TTBR/TCR/MAIR may change translations: drop every cached one.
              v.flushTlb();
              this.codeDirty = true;
              return true;
            },
      };
    }
    return ro(() => undefined);
  }

  private liveSpIs(bank: 0 | 1): boolean {
    const p = this.vcpu.pstate;
    const el = (p >>> 2) & 3;
    const spsel = p & 1;
    return bank === 0 ? el === 0 || spsel === 0 : el === 1 && spsel === 1;
  }

  /**
   * PSTATE writes: flags and DAIF only. A mode change would need SP banking, and Unicorn does not
   * rebuild its cached translation flags on a PSTATE write (DESIGN.md), so it is refused.
   */
  private writePstate(value: number): boolean {
    const cur = this.vcpu.pstate;
    if ((value & 0x1f) !== (cur & 0x1f)) return false;
    this.vcpu.uc.regWrite(Reg.PSTATE, value >>> 0);
    return true;
  }

  // ------------------------------------------------------------------ memory

  /** Guest-physical address of a VA as the vCPU sees it now (privileged view), or null. */
  private translate(va: number): number | null {
    const tr = this.vcpu.translator;
    // EL1 permissions: the debugger may look at kernel memory while the guest is at EL0. Execute-only
    // pages are readable by the debugger too.
    let t = tr.translate(va, Access.READ, 1);
    if (!t.ok) t = tr.translate(va, Access.FETCH, 1);
    if (!t.ok) {
      // RAM the guest has not touched yet is not mapped at stage 2 (the EL2
      // model maps it on the first fault, 1:1): the debugger sees it all the
      // same, at its IPA. Not for a fault on a stage-1 table walk (the IPA is the table's).
      const f = t.fault;
      if (f.stage === 2 && !f.s1ptw && this.vcpu.ram.contains(f.ipa)) return f.ipa + (va & 0xfff) - (f.ipa & 0xfff);
      return null;
    }
    const pa = t.pa; // copy: the translator reuses its result object
    return this.vcpu.ram.contains(pa) ? pa : null; // MMIO is never touched by the debugger
  }

  /** Visit [addr, addr+length) page by page; stops at the first untranslatable page. Returns bytes covered. */
  private eachChunk(addr: bigint, length: number, fn: (pa: number, offset: number, n: number) => void): number {
    let done = 0;
    while (done < length) {
      const a = BigInt.asUintN(64, addr + BigInt(done));
      const va = vaFromBigint(a);
      const inPage = PAGE - Number(a % BigInt(PAGE));
      const n = Math.min(inPage, length - done);
      const pa = this.translate(va);
      if (pa === null || !this.vcpu.ram.contains(pa, n)) break;
      fn(pa, done, n);
      done += n;
    }
    return done;
  }

  readMemory(addr: bigint, length: number): Uint8Array | null {
    if (this.halt !== null) return null;
    const out = new Uint8Array(length);
    const ram = this.vcpu.ram;
    const got = this.eachChunk(addr, length, (pa, off, n) => out.set(ram.bytesAt(pa, n), off));
    return got === 0 ? null : out.subarray(0, got);
  }

  writeMemory(addr: bigint, data: Uint8Array): boolean {
    if (this.halt !== null) return false;
    // All or nothing: check every page first.
    if (this.eachChunk(addr, data.length, () => {}) !== data.length) return false;
    const ram = this.vcpu.ram;
    this.eachChunk(addr, data.length, (pa, off, n) => ram.bytesAt(pa, n).set(data.subarray(off, off + n)));
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
    return this.trapBreak.size === 0 ? 'trap-break: off' : `trap-break: on for ${[...this.trapBreak].join(', ')} (stops before the hypervisor handles the exit; stepi then shows the result)`;
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
    const custom = this.session.hyp.walkText?.(va) ?? null;
    if (custom !== null) return custom;
    const v = this.vcpu;
    const t = v.translator;
    // The machine's real two-stage regime (the guest's stage 1, the hypervisor's stage 2), walked by the one MMU model.
    const report = walkReport(hexVa(vaFromBigint(va)), t.inspect(vaFromBigint(va), Access.READ, v.el), t.stage1Enabled, t.regime.stage2.enabled);
    return `${formatWalk(report)}\n(at ${modeName(v.pstate)}, EL1&0 regime)`;
  }

  tlb(): string {
    const v = this.vcpu;
    const st = v.translator.tlb.stats;
    const faults = Object.entries(st.faults)
      .filter(([, byLevel]) => byLevel.some((n) => n > 0))
      .map(([type, byLevel]) => `${type} ${byLevel.map((n, l) => (n ? `L${l}:${n}` : '')).filter(Boolean).join(' ')}`);
    return [
      `Unicorn TLB fills: ${v.fills} (${v.refusedFills} refused: guest faults and MMIO), whole-TLB flushes: ${v.tlbFlushes}, guest TLBIs: ${v.tlbiCount}`,
      `model TLB: ${st.fills} walks cached, ${st.hits} hits, ${st.invalidations} invalidations (${st.entriesInvalidated} entries), ${st.evictions} evictions`,
      `faults: stage 1 ${st.faultsByStage[1]}, stage 2 ${st.faultsByStage[2]}${faults.length ? ' (' + faults.join('; ') + ')' : ''}`,
    ].join('\n');
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

function leBytesToBig(b: Uint8Array): bigint {
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
  return v;
}

function bigToLeBytes(v: bigint, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}
