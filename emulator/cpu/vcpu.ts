/**
 * The virtual CPU: Unicorn runs guest code at EL1/EL0 in deterministic
 * instruction-count slices; this class performs what Unicorn does not
 * (architectural exception entry, virtual time, fault syndromes) and turns
 * everything that must leave the guest into an Exit for the EL2 handler.
 *
 * What each part models lives in its own module: virtual-time.ts (the clock,
 * counter polling), exception-entry.ts, fill-handler.ts (TLB fills and the
 * aborts they reveal), sysinsn-hook.ts (system instructions). This file keeps
 * the state they share, the GuestCpu surface and the run loop, whose
 * accounting of retired instructions must stay in one place: that is why it
 * is somewhat over the ~450-line guideline.
 */
import { Unicorn, Reg, xreg, SysInsn, UC_ERR_OK, UC_ERR_EXCEPTION, type CpRegView, type SysInsnKind } from '../unicorn/uc.js';
import { GuestRam } from '../memory/ram.js';
import { MmioBus } from '../memory/bus.js';
import type { SysregAccessFields } from './esr.js';
import { EC, EC_NAMES, esr, esrEc, issSysreg, issWfx } from './esr.js';
import { PSTATE, pstateEl } from './pstate.js';
import { SR, sysregKey } from './sysregs.js';
import { SysregCatalogue, type SysregEntry } from './sysreg-catalogue.js';
import { ARCH_SYSREGS } from './sysreg-rows.js';
import type { ExceptionKind, GuestCpu } from './guest-cpu.js';
import { unicornBatchReg, type CpuReg, type RegisterBatch } from './cpu-regs.js';
import type { TlbiOperation } from '../mmu/tlbi-op.js';
import type { Stage2Registers } from '../mmu/config.js';
import type { DescriptorMemory, RamBlock } from '../mmu/memory.js';
import type { TranslateOutcome } from '../mmu/translate.js';
import { Access, type AccessKind } from './translator.js';
import { MmuTranslator } from './mmu-translator.js';
import { hexVa } from '../types.js';
import type { El2Handler, Exit, ExitAction, HaltReason, WfxRoute } from './exits.js';
import { CNTFRQ_HZ, NS_PER_INSN, CounterPollWarp, VirtualClock } from './virtual-time.js';
import { enterException, onCpuException } from './exception-entry.js';
import { FillHandler, WFE, type NativeMmioWindow } from './fill-handler.js';
import { SoftwareStep, type StepSource } from './software-step.js';
import { bareRoute, onSysInsn } from './sysinsn-hook.js';
import { SysInsnFilter } from './sysinsn-filter.js';
import { CodeGuard } from './code-guard.js';
import { straightLineCount } from './unmask-scan.js';
import { snapshotVcpu, restoreVcpu } from './vcpu-snapshot.js';
import type { RestoreContext, SnapshotContext, StateValue } from '../snapshot/state.js';

export type { ExceptionKind };
export { CNTFRQ_HZ, NS_PER_INSN };

export interface VcpuOptions {
  ramBase: number;
  ramSize: number;
  /** Another vCPU's guest RAM to map (SMP: every vCPU's core maps the same host memory). */
  ram?: GuestRam;
  /** This vCPU's number (MPIDR Aff0 on the virt board). */
  index?: number;
  /** Instructions per uc_emu_start slice. */
  sliceInsns?: number;
}

/** The interrupt controller's IRQ output to this CPU. */
export interface IrqSource {
  irqPending(): boolean;
}

/** Timers: re-evaluated at slice boundaries; their next deadline (counter ticks) bounds the slice. */
export interface TimerSource {
  update(): void;
  nextDeadline(): bigint | null;
}

/** Grid (absolute instruction counts) on which an interrupt found pending at a host stop is taken. */
const MASKED_IRQ_SLICE = 32;
/** Longest slice while an interrupt is pending but PSTATE.I masks it (straight-line code, unmask-scan.ts). */
const UNMASK_SCAN_MAX = 64;

/** WFI (HINT #3), Arm ARM C6.2 "WFI". */
const WFI = 0xd503207f;

export interface ExceptionCounters {
  total: number;
  /** By target EL then exception-class name: { EL1: { svc64: 2 }, EL2: { hvc64: 1 } }. */
  byTarget: Record<string, Record<string, number>>;
}

/** Exception entries in a row with no instruction retired before the run is a lock-up (see runFor). */
const EXCEPTION_LOCKUP = 10_000;

export class Vcpu implements GuestCpu {
  readonly uc: Unicorn;
  readonly index: number;
  readonly ram: GuestRam;
  readonly bus = new MmioBus();
  readonly translator: MmuTranslator;
  /** Untranslatable words kept from Unicorn's decoder; no TLB entry both writable and executable (code-guard.ts). */
  readonly codeGuard: CodeGuard;
  el2: El2Handler | null = null;

  /** Virtual time: its one owner (the run loop advances it; everyone else reads it). */
  readonly clock: VirtualClock;
  /** This machine's system-register catalogue: architectural rows, plus those devices register. */
  readonly sysregs = new SysregCatalogue(ARCH_SYSREGS);
  irqSource: IrqSource | null = null;
  timerSource: TimerSource | null = null;
  /** MDSCR_EL1.SS and the step enables (the board's debug-register model): software step, software-step.ts. */
  stepSource: StepSource | null = null;
  readonly softwareStep = new SoftwareStep();
  /** Interrupts taken (IRQ exception entries). */
  irqsTaken = 0;
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
   * SMP (smp-scheduler.ts): a WFI with nothing pending ends this vCPU's quantum with idleWaiting
   * set instead of moving its clock to a timer deadline (the scheduler moves time for everyone),
   * and a WFE ends the quantum (yieldRequested) so the vCPU that would send the event runs.
   */
  smpYield = false;
  /** Set when runFor returned early to let other vCPUs run (a WFE under smpYield). */
  yielded = false;
  readonly exceptions: ExceptionCounters = { total: 0, byTarget: {} };
  halted: HaltReason | null = null;
  /**
   * Set by an observer (a library `until` condition met, e.g. console output): runFor returns
   * before its next slice, with no halt; the guest continues at the next runFor. Set from an
   * exit handler, the pause falls right after the trapping instruction.
   */
  pauseRequested = false;
  private readonly sliceInsns: number;
  private readonly fill: FillHandler;
  /** An exception was taken or an exit dispatched since the run began (runFor's stopAfterEvent). */
  private eventSeen = false;
  /** Where a hook outside the vCPU stopped the CPU (the debugger's breakpoint), in retired instructions. */
  private externalStopAt: number | null = null;
  /** Set by hooks that need the run loop to act after uc_emu_start returns. */
  private stopRequested = false;
  /**
   * Consulted before an exit is handed to the EL2 handler (the debugger's
   * trap-break). Returning true stops the vCPU with PC at the trapping
   * instruction and the exit not handled; the next `runFor` handles that exit
   * without asking again.
   */
  exitGate: ((exit: Exit) => boolean) | null = null;
  /** The exit the gate stopped on, until it is handled. */
  gatedExit: Exit | null = null;
  /** The gated exit to let through on resume (matched by PC and reason, so no other exit consumes it). */
  private gateBypass: Exit | null = null;
  private gateCounter = 0;
  /** A device page the fill hook maps to native callbacks while allowed (fill-handler.ts NativeMmioWindow). */
  nativeMmio: NativeMmioWindow | null = null;
  private nativeWasAllowed = false;
  /** Observers (statistics, tracing, the debugger). */
  onExit: ((exit: Exit, action: ExitAction) => void) | null = null;
  onException: ((kind: ExceptionKind, esrValue: number, targetEl: number) => void) | null = null;

  constructor(opts: VcpuOptions) {
    this.uc = new Unicorn();
    this.index = opts.index ?? 0;
    this.ram = opts.ram ?? new GuestRam(opts.ramBase, opts.ramSize);
    this.uc.mapShared(opts.ramBase, this.ram.block);
    this.translator = new MmuTranslator(this.uc, this.ram.blocks());
    this.codeGuard = new CodeGuard(this.uc, this.ram.base, this.ram.size, this.ram);
    this.codeGuard.flushNow = () => this.flushUnicornTlb();
    this.sliceInsns = opts.sliceInsns ?? 1_000_000;
    this.clock = new VirtualClock(() => this.uc.sliceCounter());
    this.poll = new CounterPollWarp(this.clock, () => this.timerSource, () => this.requestStop());
    this.fill = new FillHandler(this);
    if (this.uc.sliceCounter() < 0) {
      throw new Error('cannot locate Unicorn\'s instruction counter: this libunicorn build is not supported (need 2.1.x)');
    }
    // QEMU's own access checks run before our system-instruction hook: with
    // its (unused) CNTHCTL_EL2 at reset 0 an EL1 access to the physical
    // timer/counter "traps to EL2", which asserts in Unicorn's Secure-only
    // CPU. Let EL1 through (EL1PCTEN | EL1PCEN); the timer is ours anyway.
    this.uc.sysregWrite({ op0: 3, op1: 4, crn: 14, crm: 1, op2: 0 }, 3n);
    // Likewise pointer authentication: QEMU checks its own HCR_EL2.APK/API
    // (keys, PAC instructions). Only those two bits: any trap bit set there
    // would make QEMU itself trap to an EL2 it cannot enter. The EL2 model's
    // HCR_EL2 (hyp/) is what decides traps.
    this.uc.sysregWrite({ op0: 3, op1: 4, crn: 1, crm: 1, op2: 0 }, (1n << 40n) | (1n << 41n));
    // QEMU 5.0 (Unicorn 2.1) reads HCR_EL2 as 0 in Secure state, where its CPU
    // starts: make EL1 Non-secure, as on a hypervisor host (SCR_EL3.NS, RW, and
    // APK/API so the pointer-authentication checks at EL3 pass too).
    this.uc.sysregWrite({ op0: 3, op1: 6, crn: 1, crm: 1, op2: 0 }, 1n | (1n << 10n) | (1n << 16n) | (1n << 17n));
    // The counters are virtual time, which this vCPU owns: it answers them (never the host clock).
    this.sysregs.register(
      ARCH_SYSREGS.filter((d) => d.group === 'TIMER' && d.storage === 'device'),
      { read: (e) => (e.name === 'CNTFRQ_EL0' ? BigInt(CNTFRQ_HZ) : this.guestCounterRead()), write: () => {} },
      { replace: true },
    );
    this.installHooks();
  }

  // ------------------------------------------------------------- registers

  get pc(): number {
    return this.uc.regReadNum(Reg.PC);
  }
  set pc(v: number) {
    this.uc.regWrite(Reg.PC, v);
  }
  x(n: number): bigint {
    return n === 31 ? 0n : this.uc.regRead(xreg(n));
  }
  setX(n: number, v: bigint | number): void {
    if (n !== 31) this.uc.regWrite(xreg(n), typeof v === 'number' ? BigInt.asUintN(64, BigInt(v)) : v);
  }
  get pstate(): number {
    return this.uc.regRead32(Reg.PSTATE);
  }
  get el(): number {
    return pstateEl(this.pstate);
  }
  /** Advance PC past the instruction that caused an exit (ELR_EL2 += 4 in KVM's terms). */
  skipInstruction(): void {
    this.pc = this.pc + 4;
  }
  sysreg(e: { op0: number; op1: number; crn: number; crm: number; op2: number }): bigint {
    return this.uc.sysregRead(e) ?? 0n;
  }
  setSysreg(e: { op0: number; op1: number; crn: number; crm: number; op2: number }, v: bigint): boolean {
    this.translator.markDirty();
    return this.uc.sysregWrite(e, v);
  }

  /** Retired instructions (exact between slices). */
  get instructions(): number {
    return this.clock.instructions;
  }
  /** Virtual nanoseconds spent waiting in WFI for a timer. */
  get idleNs(): number {
    return this.clock.idleNs;
  }
  /** Instructions retired so far, exact inside a slice too (from a hook). */
  get currentInstructions(): number {
    return this.clock.current;
  }
  get virtualTimeNs(): number {
    return this.clock.ns;
  }
  /** CNTPCT_EL0 derived from virtual time (62.5 MHz = one tick per 16 ns). */
  get counter(): bigint {
    return this.clock.counter;
  }
  /** The part of idleNs added by the counter-polling warp, and the reads that warped. */
  get warpNs(): number {
    return this.clock.warpNs;
  }
  get warps(): number {
    return this.clock.warps;
  }

  /** A guest read of CNTPCT_EL0/CNTVCT_EL0 (and their self-synchronised views): virtual time, warped while polling. */
  private guestCounterRead(): bigint {
    return this.poll.read(this.pc, this.eventSeq);
  }
  private readonly poll: CounterPollWarp;
  /** Exits and exceptions so far: any of them between two counter reads means the guest is not just polling. */
  private eventSeq = 0;

  // ------------------------------------------------------------ guest memory

  /** Read the 32-bit instruction at a virtual address (EL1 or EL0 regime of the current EL). */
  readInsn(va: number): number | null {
    const t = this.translator.translate(va, Access.FETCH, this.el);
    if (!t.ok || !this.ram.contains(t.pa, 4)) return null;
    return this.ram.read32(t.pa);
  }

  // --------------------------------------------------------------- hooks

  private installHooks(): void {
    const uc = this.uc;
    uc.onTlbFill((va, type) => this.fill.onFill(va, type));
    uc.onInterrupt((intno) => onCpuException(this, intno));
    const sys = (kind: SysInsnKind, read: boolean) => (rt: number, cp: CpRegView) => onSysInsn(this, kind, rt, cp, read);
    uc.onSysInsn(SysInsn.MRS, sys(SysInsn.MRS, true));
    uc.onSysInsn(SysInsn.MSR, sys(SysInsn.MSR, false));
    uc.onSysInsn(SysInsn.SYS, sys(SysInsn.SYS, false));
    uc.onSysInsn(SysInsn.SYSL, sys(SysInsn.SYSL, true));
  }

  /** System instructions routed native with nothing for us to do: they skip JavaScript (sysinsn-filter.ts). */
  private readonly sysFilter = new SysInsnFilter(this, bareRoute);
  private sysFilterPushed = -1;
  /** Refresh the filter (cheap when the trap controls did not change) and hand a new one to the native hook. */
  syncSysFilter(): SysInsnFilter {
    const f = this.sysFilter;
    f.refresh();
    if (f.version !== this.sysFilterPushed) {
      this.sysFilterPushed = f.version;
      const maps = f.current;
      this.uc.setSysInsnFilter(SysInsn.MRS, maps?.[0] ?? null);
      this.uc.setSysInsnFilter(SysInsn.MSR, maps?.[1] ?? null);
      this.uc.setSysInsnFilter(SysInsn.SYS, maps?.[2] ?? null);
      this.uc.setSysInsnFilter(SysInsn.SYSL, maps?.[3] ?? null);
    }
    return f;
  }

  // ------------------------------------------- what the hook modules ask of the vCPU

  routeWfe(): WfxRoute {
    return this.el2?.routeWfx(this, true) ?? 'native';
  }
  trapsSmc(): boolean {
    return this.el2?.trapsSmc(this) ?? false;
  }
  takesHvc(): boolean {
    // No EL2 model: HVC at EL1 still reaches the exit path (which then reports there is none).
    return this.el2 !== null ? this.el2.takesHvc(this) : this.el === 1;
  }
  hooksCodeSite(word: number): boolean {
    return this.el2?.hooksCodeSite?.(word) === true;
  }
  onCodeSite(address: number, word: number): void {
    this.el2?.onCodeSite?.(this, address, word);
  }
  requestStop(): void {
    this.stopRequested = true;
    this.uc.emuStop();
  }
  /** SMP: end this vCPU's quantum (PSCI CPU_OFF): runFor returns before its next instruction. */
  endQuantum(): void {
    this.yielded = true;
    if (this.clock.running) this.requestStop();
  }
  regimeChanged(): void {
    this.translator.markDirty();
  }
  get codeSnapshotsLive(): boolean {
    return this.codeGuard.snapshotsLive;
  }
  icMaintenance(cp: CpRegView): void {
    if (cp.op1 === 0 && ((cp.crm === 1 && cp.op2 === 0) || (cp.crm === 5 && cp.op2 === 0))) {
      this.codeGuard.icInvalidate(null);
      // IC IALLUIS (CRm 1) is broadcast, but the other cores' translated code is NOT dropped: a
      // Unicorn TB flush grows each instance's RSS to its whole 1 GiB code buffer (measured: Linux
      // --smp 4 at 3.4 GB, and 15 s slower to 100M instructions) and Linux 6.1 issues it often.
      // Linux's runtime text patching uses IC IVAU (below), which is broadcast; IALLUIS follows
      // boot-time alternatives patching, whose variants are equivalent. A known gap (README).
    }
    if (cp.op1 === 3 && cp.crm === 5 && cp.op2 === 1) {
      const va = Number(BigInt.asIntN(64, cp.val));
      const t = this.translator.probe(va, Access.READ, this.el);
      if (t.ok) this.codeGuard.icInvalidate(t.pa);
      // IC IVAU is broadcast to the Inner Shareable domain (Arm ARM C5.3 "IC IVAU"): one line
      // (CTR_EL0.IminLine: 64 bytes) of every other core's translated code at this VA.
      const line = va - (va % 64);
      for (const p of this.peers) p.uc.removeTbCache(line, line + 64);
    }
  }
  /** The other vCPUs of the VM (SMP): broadcast TLB and instruction-cache maintenance reaches them. */
  peers: Vcpu[] = [];
  /**
   * A broadcast TLBI from another vCPU (the IS and OS forms, Arm ARM D8.13.2 "TLB maintenance
   * instructions ... Shareability"): this vCPU's model TLB drops what it names and Unicorn's TLB
   * (not tagged by ASID or VMID) drops the pages of a by-VA form (as nativeTlbi) or everything.
   * The vCPU is not running: only one core runs at a time.
   */
  remoteTlbi(op: TlbiOperation, xt: bigint, vmid: number): void {
    const tlb = this.translator.tlb;
    const flush = tlb.invalidate(op, xt, vmid);
    if (op.scope === 'va' || op.scope === 'va-range') {
      if (flush && !this.flushUnicornPages(tlb.removedPages, tlb.removedCount)) this.flushUnicornTlb();
    } else this.flushUnicornTlb();
  }
  private broadcastTlbi(op: TlbiOperation | undefined, xt: bigint, vmid: number): void {
    if (op === undefined || op.shareability === 'NSH') return;
    for (const p of this.peers) p.remoteTlbi(op, xt, vmid);
  }
  /**
   * A TLBI QEMU executes itself (HCR_EL2.TTLB clear: no world switch, KVM's
   * guests run TLBI natively too). QEMU drops its own entries as the
   * operation names; the model TLB drops the same, for the current VMID.
   */
  nativeTlbi(entry: SysregEntry, xt: bigint): void {
    const op = entry.tlbi;
    const tlb = this.translator.tlb;
    const flush = op ? tlb.invalidate(op, xt, this.translator.regime.stage2.vmid) : tlb.invalidateAll();
    this.tlbiCount++;
    this.broadcastTlbi(op, xt, this.translator.regime.stage2.vmid);
    // QEMU's TLBI by VA drops one TARGET_PAGE (1 KiB on Unicorn's arm64, DESIGN.md) at the VA, not
    // the whole 4/16/64 KiB granule: the other sub-pages would stay mapped to the old page (Linux's
    // fixmap text patching then writes the old page and spins: the boot stall seen when TLBI first
    // ran natively). So the 1 KiB pages of every 4 KiB page the model TLB dropped are flushed
    // (every Unicorn entry was filled from one of those), or Unicorn's TLB whole when that is not
    // known or not possible; nothing when the model held nothing for the VA. The others (VMALLE1,
    // ASIDE1) QEMU already flushes whole by MMU index.
    if (op === undefined || op.scope === 'va' || op.scope === 'va-range') {
      if (flush && !this.flushUnicornPages(tlb.removedPages, tlb.removedCount)) this.flushUnicornTlb();
    } else this.codeGuard.tlbFlushed();
  }
  /** Unicorn's TLB entries of `n` 4 KiB VA pages (4 TARGET_PAGEs each); false when it cannot (then nothing was done). */
  private flushUnicornPages(pages4k: Float64Array, n: number): boolean {
    if (n < 0 || n * 4 > this.subPages.length) return false;
    const sub = this.subPages;
    for (let i = 0; i < n; i++) for (let j = 0; j < 4; j++) sub[i * 4 + j] = pages4k[i]! + j * 0x400;
    if (!this.uc.flushTlbPages(sub, n * 4)) return false;
    this.tlbPageFlushes += n;
    return true;
  }
  private readonly subPages = new Float64Array(256);
  /** 4 KiB pages flushed from Unicorn's TLB one by one (instead of a whole flush). */
  tlbPageFlushes = 0;
  /**
   * Stop the CPU from a hook outside the vCPU (the debugger's breakpoint)
   * before the instruction about to run: runFor returns with exactly the
   * instructions retired before it counted.
   */
  stopBeforeCurrent(): void {
    this.externalStopAt = this.clock.current;
    this.uc.emuStop();
  }
  /**
   * Work a device asks for from inside a hook that must not run there (adding or removing CPU
   * hooks, flushing translated code): the slice stops after the current instruction and the run
   * loop does it before the next instruction (the breakpoint registers use it).
   */
  afterInstruction(fn: () => void): void {
    this.deferred.push(fn);
    if (this.clock.running) this.requestStop();
  }
  private readonly deferred: Array<() => void> = [];
  /** Exception entries performed by takeException (sysinsn-hook.ts watches it around an exit). */
  exceptionSeq = 0;
  /** PC a system-instruction hook moved the guest to, honoured when the slice stops (hookRedirect). */
  private redirectPc: number | null = null;
  private redirectCounter = 0;
  /**
   * An exception taken from the system-instruction hook (an injected UNDEFINED, a trap to EL1,
   * an EL2 handler's injection). Unicorn ignores a PC written there for a register QEMU itself
   * lets the guest access: it runs the rest of the translation block (measured: the guest ran
   * on after ELR at "EL1"), and an MSR's block end writes PC = the next instruction. So the
   * slice stops before the next instruction runs, and the run loop puts PC back to `target`.
   * The instruction counts as the CPU counts one it raises UNDEFINED for itself: started.
   */
  hookRedirect(target: number): void {
    if (this.gatedExit !== null || this.halted !== null) return;
    this.redirectPc = target;
    this.redirectCounter = this.uc.sliceCounter();
    this.requestStop();
  }

  private runDeferred(): void {
    while (this.deferred.length > 0) this.deferred.shift()!();
  }
  /** Unicorn TLB-fill hook calls, and refused ones (guest faults and MMIO). */
  get fills(): number {
    return this.fill.fills;
  }
  get refusedFills(): number {
    return this.fill.refusedFills;
  }

  /** A trapped WFI/WFE: ESR_EL2 EC 0x01 with the WF* ISS, ELR = the instruction. */
  private dispatchWfx(pc: number, wfe: boolean): void {
    this.dispatchExit({ reason: 'wfx', esr: esr(EC.WFX, issWfx(wfe)), pc, wfe });
  }

  /** TLB maintenance instructions the guest executed. */
  tlbiCount = 0;
  /** Whole-TLB flushes the model asked for. */
  tlbFlushes = 0;

  /** Hand an exit to the EL2 model (unless the debugger's trap-break gate holds it). */
  raiseSysregExit(a: SysregAccessFields & { readonly pc: number; readonly value: bigint; readonly trap: string }): void {
    this.dispatchExit({
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
      row: this.sysregs.get(sysregKey(a)) ?? null,
      trap: a.trap,
    });
  }

  dispatchExit(exit: Exit): void {
    this.eventSeen = true;
    this.eventSeq++;
    const bypass = this.gateBypass !== null && this.gateBypass.pc === exit.pc && this.gateBypass.reason === exit.reason;
    if (this.exitGate !== null && !bypass && this.exitGate(exit)) {
      // Leave the instruction unexecuted: it traps again on resume and is then handled.
      // Unicorn may start the next instruction before it stops: remember how
      // many had started when this one trapped.
      this.gateCounter = this.uc.sliceCounter();
      this.gatedExit = exit;
      this.pc = exit.pc;
      this.stopRequested = true;
      this.uc.emuStop();
      return;
    }
    if (bypass) this.gateBypass = null;
    this.gatedExit = null;
    this.count(2, exit.reason === 'irq' ? 'irq' : (EC_NAMES[esrEc(exit.esr)] ?? 'unknown'));
    const action = this.el2 ? this.el2.handleExit(this, exit) : ({ kind: 'halt', halt: { kind: 'fault', message: `no hypervisor to handle ${exit.reason} exit` } } as const);
    this.onExit?.(exit, action);
    // The handler may have changed the trap controls (HCR_EL2): the filter follows at once.
    this.syncSysFilter();
    if (action.kind === 'halt') this.halt(action.halt);
  }

  private count(targetEl: 1 | 2, name: string): void {
    this.exceptions.total++;
    const m = (this.exceptions.byTarget[targetEl === 1 ? 'EL1' : 'EL2'] ??= {});
    m[name] = (m[name] ?? 0) + 1;
  }

  halt(reason: HaltReason): void {
    if (this.halted === null) this.halted = reason;
    this.stopRequested = true;
    this.uc.emuStop();
  }

  /** Xn for address generation (31 = SP). */
  readBase(n: number): bigint {
    return n === 31 ? this.uc.regRead(Reg.SP) : this.uc.regRead(xreg(n));
  }

  /**
   * The last slice ended on a stop the fill hook asked for, before the end it was sized for
   * (plannedEnd, in retired instructions): not a point to take an interrupt at (runFor).
   */
  private afterHostStop = false;
  private plannedEnd = -1;
  private entriesWithoutRetiring = 0;
  private lastRetired = -1;

  /** Exception entry to EL1 (exception-entry.ts), counted and observed. */
  takeException(kind: ExceptionKind, esrValue: number, preferredReturn: number, far?: number): void {
    this.exceptionSeq++;
    this.eventSeen = true;
    this.eventSeq++;
    // The EL2 model may take it instead (a guest hypervisor's exceptions at virtual EL2).
    if (this.el2?.takeException?.(this, kind, esrValue, preferredReturn, far) === true) {
      // counted for the lock-up check too: a guest hypervisor whose VBAR_EL2 cannot be fetched
      // would otherwise take exceptions forever without retiring anything
      this.entriesWithoutRetiring++;
      return;
    }
    enterException(this, kind, esrValue, preferredReturn, far);
    // Inside a slice bounded for a masked pending interrupt: the handler now runs code the
    // bound was not computed for (its ERET may unmask); end the slice here.
    if (this.maskedPending && this.clock.running) this.requestStop();
    this.count(1, kind === 'sync' ? (EC_NAMES[esrEc(esrValue)] ?? 'unknown') : kind);
    this.entriesWithoutRetiring++;
    this.onException?.(kind, esrValue, 1);
  }

  // ---------------------------------------------------------------- run loop

  /**
   * Run up to `budget` more instructions. Returns why the guest halted, or
   * null when the budget ran out first (the caller decides whether that is
   * the user's instruction limit or just a pause to serve the event loop).
   * Slices are bounded by instruction count, so two runs of the same image
   * take the same path and see the same virtual time.
   */
  runFor(budget: number, opts: { stopAfterEvent?: boolean } = {}): HaltReason | null {
    const uc = this.uc;
    const clock = this.clock;
    if (this.gatedExit !== null) this.gateBypass = this.gatedExit;
    this.idleWaiting = false;
    this.yielded = false;
    // The native window's mapping follows its EL2-side permission (e.g. exits observed since):
    // Unicorn's entries made under the other answer are dropped (the model TLB holds no such
    // entry, and this is no guest-visible flush: not counted).
    const nativeAllowed = this.nativeMmio?.allowed() ?? false;
    if (nativeAllowed !== this.nativeWasAllowed) {
      this.nativeWasAllowed = nativeAllowed;
      this.uc.flushTlb();
      this.codeGuard.tlbFlushed();
    }
    this.eventSeen = false;
    const stopAt = clock.instructions + budget;
    while (this.halted === null) {
      if (this.idleWaiting || this.yielded) break;
      // A debugger step ends at the first exception or exit even when the
      // instruction did not retire in Unicorn (an abort, an emulated access).
      if (opts.stopAfterEvent === true && this.eventSeen) break;
      if (this.pauseRequested) {
        this.pauseRequested = false;
        break;
      }
      const remaining = stopAt - clock.instructions;
      if (remaining <= 0) break;
      // Software step (software-step.ts): while MDSCR_EL1.SS = 1, one instruction per slice.
      const stepping = this.stepSource !== null && this.stepSource.stepMode();
      if (stepping && this.softwareStep.boundary(this, this.stepSource!)) continue;
      let n = stepping ? 1 : Math.min(this.sliceInsns, remaining);
      if (this.timerSource !== null) {
        this.timerSource.update();
        const dl = this.timerSource.nextDeadline();
        if (dl !== null) n = Math.max(1, Math.min(n, Math.ceil(clock.ticksToNs(dl) - clock.ns)));
      }
      if (this.irqSource !== null && this.irqSource.irqPending()) {
        // Where a slice ends is guest-visible here (an unmasked interrupt is taken at a slice
        // start), so only deterministic ends may take one: not a stop the fill hook asked for
        // (QEMU resizes its TLB by host time, so which fills happen, and when, varies between
        // runs), unless it falls on the masked-interrupt grid below.
        const offGrid = clock.instructions % MASKED_IRQ_SLICE;
        const hostPoint = this.afterHostStop && offGrid !== 0 && clock.instructions !== this.plannedEnd;
        if (!this.irqMasked() && !hostPoint) {
          this.takeIrq();
          if (this.halted !== null || this.gatedExit !== null) break;
          if (this.pauseRequested) continue; // the debugger stops at the vector (trap-break exit-to-l1)
        } else {
          if (this.irqMasked()) {
            // Pending but masked: the slice ends right after the next instruction that can
            // unmask it (or leave the straight line), so the interrupt is taken at the
            // instruction after the unmask, as on hardware (unmask-scan.ts). That point is the
            // guest's, wherever host stops split the slices before it.
            n = Math.min(n, this.untilPossibleUnmask());
            this.maskedPending = true;
          } else {
            // Unmasked, but this slice start is a stop the fill hook asked for: take it at the
            // next point of the grid of absolute instruction counts instead.
            n = Math.min(n, MASKED_IRQ_SLICE - offGrid);
          }
        }
      }
      this.afterHostStop = false;
      // Code hooks found by the code-page scan (WFE under TWE, a guest hypervisor's sites):
      // installed here, outside any Unicorn callback, before the code runs again.
      if (this.fill.hasPendingWfeHooks) this.fill.installWfeHooks();
      this.runDeferred();
      this.fill.takeRefused();
      this.stopRequested = false;
      // The trap controls change only in exit handlers and between slices (exits.ts).
      this.syncSysFilter();
      // An exception whose vector cannot even be fetched (VBAR in a hole) is
      // taken again and again and no instruction ever retires, so no budget
      // would end the run: a lock-up nothing can handle (status 125).
      if (this.instructions !== this.lastRetired) {
        this.lastRetired = this.instructions;
        this.entriesWithoutRetiring = 0;
      } else if (this.entriesWithoutRetiring > EXCEPTION_LOCKUP) {
        this.halt({ kind: 'fault', message: `exception loop: ${this.entriesWithoutRetiring} exception entries with no instruction retired (ESR_EL1 0x${(Number(this.sysreg(SR.ESR_EL1)) >>> 0).toString(16)}, PC ${hexVa(this.pc)})` });
        break;
      }
      this.plannedEnd = clock.instructions + n;
      clock.beginSlice();
      const rc = uc.emuStart(this.pc, n);
      clock.endSlice();
      this.maskedPending = false;
      const started = uc.sliceCounter();
      const refused = this.fill.takeRefused();
      if (this.codeGuard.poolExhausted) {
        // The fetch fill was refused (never started): drop translated code, reuse the shadow pool, retry.
        this.afterHostStop = true;
        clock.retire(Math.min(n, Math.max(0, started)));
        uc.flushTb();
        this.codeGuard.codeFlushed();
        this.flushTlb();
        continue;
      }
      if (this.externalStopAt !== null) {
        // Stopped by a hook outside the vCPU before an instruction ran: exactly what had retired then.
        clock.settleAt(this.externalStopAt);
        this.externalStopAt = null;
        break;
      }
      // A page became writable while executable elsewhere, or the reverse: no stale entry may survive.
      if (this.codeGuard.codeFlushNeeded) {
        uc.flushTb();
        this.codeGuard.codeFlushed();
      }
      const guardStop = this.codeGuard.flushNeeded;
      if (guardStop) this.flushTlb();
      // Stops asked for by the fill hook (not where a fault ended the slice anyway): see the interrupt check above.
      this.afterHostStop = (guardStop || this.fill.hasPendingWfeHooks) && refused === null;
      if (rc === UC_ERR_OK && !this.stopRequested && !guardStop && refused === null) {
        // A full slice stops on the count hook of instruction n + 1.
        if (started > n) {
          clock.retire(n);
          continue;
        }
        // Fewer started: either QEMU halted on a WFI/WFE with nothing pending
        // (Unicorn then returns, PC after it; it retired), or a hook outside
        // the vCPU stopped the CPU before an instruction ran (the debugger's
        // breakpoints): that one has not run, and the caller must see the stop.
        const prev = this.readInsn(this.pc - 4);
        if (prev === WFI || prev === WFE) {
          const wfe = prev === WFE;
          const route = this.el2?.routeWfx(this, wfe) ?? 'native';
          if (route === 'el1') {
            // An EL0 WFx that SCTLR_EL1.nTWx traps (hyp/traps.ts routeWfx): EC 0x01 to EL1, ELR = the WFx.
            clock.retire(Math.max(0, started - 1));
            this.pc -= 4;
            this.takeException('sync', esr(EC.WFX, issWfx(wfe)), this.pc);
            continue;
          }
          if (route === 'el2') {
            // HCR_EL2.TWI/TWE: the WFx traps (ESR_EL2 EC 0x01, ELR = the WFx);
            // the hypervisor waits and skips it, completing it: it retires, as
            // an emulated MMIO access does.
            clock.retire(Math.max(0, started));
            const at = this.pc - 4;
            this.pc = at;
            this.dispatchWfx(at, wfe);
            if (this.gatedExit !== null) break;
            continue;
          }
          clock.retire(Math.max(0, started));
          if (wfe && this.smpYield) {
            this.yielded = true;
            break;
          }
          if (!wfe && !this.waitForInterrupt() && this.returnWhenIdle) {
            this.idleWaiting = true;
            break;
          }
          continue;
        }
        clock.retire(Math.max(0, started - 1));
        break;
      }
      if (this.redirectPc !== null) {
        // hookRedirect: the exception was taken at the system instruction; whatever Unicorn
        // started after it did not run (a fill it asked for on the way is moot too).
        clock.retire(Math.min(n, Math.max(0, this.redirectCounter)));
        this.pc = this.redirectPc;
        this.redirectPc = null;
        if (rc !== UC_ERR_OK && rc !== UC_ERR_EXCEPTION && this.halted === null) {
          this.halt({ kind: 'fault', message: `CPU stopped: ${uc.strerror(rc)} at PC ${hexVa(this.pc)}` });
        }
        if (this.halted !== null || this.gatedExit !== null) break;
        continue;
      }
      if (rc === UC_ERR_EXCEPTION && refused !== null) {
        // Unicorn's counter includes a data access that was started and
        // aborted (it does not retire); a refused fetch never started.
        const fetch = this.fill.isFetchOfPc(refused);
        clock.retire(Math.min(n, Math.max(0, fetch ? started : started - 1)));
        const faultPc = this.pc;
        this.fill.handleRefused(refused, fetch);
        if (this.gatedExit !== null) break;
        // The hypervisor completed the access (emulated MMIO) and skipped it: it retired.
        if (!fetch && this.halted === null && this.pc === faultPc + 4) clock.retire(1);
        continue;
      }
      if ((this.fill.hasPendingWfeHooks || this.deferred.length > 0) && rc === UC_ERR_OK && this.halted === null && this.gatedExit === null) {
        clock.retire(Math.min(n, Math.max(0, started)));
        this.fill.installWfeHooks();
        this.runDeferred();
        continue;
      }
      // Stopped from a hook (a halt, an exit the debugger gated) or an error.
      // A gated instruction has not executed: it does not retire.
      clock.retire(Math.min(n, Math.max(0, this.gatedExit !== null ? this.gateCounter - 1 : started)));
      if (this.gatedExit !== null) {
        // A hook that skips an instruction leaves Unicorn's PC after it: put it back on the trapping instruction.
        this.pc = this.gatedExit.pc;
        break;
      }
      if (rc !== UC_ERR_OK && this.halted === null) {
        this.halt({ kind: 'fault', message: `CPU stopped: ${uc.strerror(rc)} at PC ${hexVa(this.pc)}` });
      }
    }
    this.el2?.drain?.();
    return this.halted;
  }

  /** Set while a slice runs bounded by untilPossibleUnmask. */
  private maskedPending = false;

  /** Instructions from PC up to and including the next one that may unmask an interrupt (unmask-scan.ts). */
  private untilPossibleUnmask(): number {
    const pc = this.pc;
    const t = this.translator.translate(pc, Access.FETCH, this.el);
    if (!t.ok || !this.ram.contains(t.pa, 4)) return 1;
    const { words, index } = this.ram.wordsAt(t.pa);
    // Up to the end of the 1 KiB page the translation holds for (Unicorn's page, DESIGN.md).
    const end = index + ((0x400 - (t.pa & 0x3ff)) >>> 2);
    return straightLineCount(words, index, end, UNMASK_SCAN_MAX);
  }

  /**
   * WFI: nothing runs until an interrupt is pending. With one pending, or
   * nothing that could ever make one (no enabled timer), it returns at once;
   * otherwise virtual time jumps to the next timer deadline, as a sleeping
   * CPU's would, without running instructions. Returns false when nothing
   * inside the machine can ever end the wait (no pending interrupt, no timer
   * armed): virtual time stands still and only outside input can wake it.
   */
  waitForInterrupt(): boolean {
    this.timerSource?.update();
    if (this.irqSource?.irqPending()) return true;
    if (this.smpYield) {
      // The scheduler decides when this vCPU runs again (an interrupt for it, or its deadline).
      this.idleWaiting = true;
      if (this.clock.running) this.requestStop();
      return true;
    }
    const dl = this.timerSource?.nextDeadline() ?? null;
    if (dl === null) return false;
    this.clock.wait(this.clock.ticksToNs(dl) - this.clock.ns);
    this.timerSource!.update();
    return true;
  }

  /** PSTATE.I, unless the EL2 model's routing decides (a guest hypervisor's HCR_EL2.IMO). */
  private irqMasked(): boolean {
    const m = this.el2?.interruptMasked?.(this, 'irq') ?? null;
    return m ?? (this.pstate & PSTATE.I) !== 0;
  }

  /**
   * A physical interrupt while the guest runs: with HCR_EL2.IMO it is an exit
   * to EL2 (counted and costed by the hypervisor), which then presents it to
   * the guest as a virtual IRQ: exception entry at VBAR_EL1 + 0x080/0x280/0x480,
   * ELR = the next instruction, ESR_EL1 unchanged (Arm ARM D1.10.2).
   */
  private takeIrq(): void {
    const pc = this.pc;
    this.dispatchExit({ reason: 'irq', esr: 0, pc });
    // Halted, or stopped by the debugger's trap-break: taken on the next run.
    if (this.halted !== null || this.gatedExit !== null) return;
    this.irqsTaken++;
    this.takeException('irq', Number(this.sysreg(SR.ESR_EL1) & 0xffff_ffffn), this.pc);
  }

  // ------------------------------------------------ GuestCpu: TLB, regime

  /**
   * A TLB maintenance operation: the model TLB drops what the operation names;
   * Unicorn's TLB (not tagged by ASID or VMID) is flushed whole.
   */
  tlbi(op: TlbiOperation, xt: bigint, vmid: number): void {
    this.translator.tlb.invalidate(op, xt, vmid);
    this.tlbiCount++;
    this.uc.flushTlb();
    this.broadcastTlbi(op, xt, vmid);
  }

  setStage2(r: Stage2Registers): void {
    this.translator.setStage2(r);
    this.uc.flushTlb();
  }

  addDescriptorMemory(block: RamBlock): void {
    this.translator.addDescriptorMemory(block);
  }

  inspect(va: number, access: AccessKind, el: number, opts?: { stage1Only?: boolean }): TranslateOutcome {
    return this.translator.inspect(va, access, el, opts);
  }

  descriptorMemory(): DescriptorMemory {
    return this.translator.regime.mem;
  }

  createBatch(regs: readonly CpuReg[]): RegisterBatch {
    return this.uc.createBatch(regs.map(unicornBatchReg));
  }

  /** Invalidate cached translations in the model and in Unicorn. */
  flushTlb(): void {
    this.translator.invalidateAll();
    this.flushUnicornTlb();
  }

  /** Unicorn's TLB only (the model's is already exact). */
  flushUnicornTlb(): void {
    this.tlbFlushes++;
    this.uc.flushTlb();
    this.codeGuard.tlbFlushed();
  }

  // ------------------------------------------------------------- snapshots

  /** Machine snapshots: registers, virtual time and the vCPU's counters (vcpu-snapshot.ts). */
  snapshot(ctx: SnapshotContext): StateValue {
    return snapshotVcpu(this, ctx);
  }
  restore(state: StateValue, ctx: RestoreContext): void {
    restoreVcpu(this, state, ctx);
    this.dropCachedTranslations();
  }

  /**
   * Forget every cached translation (model TLB, Unicorn's TLB) without counting a flush: a
   * snapshot point does this in the saving run as restore() does in the restored one, so both
   * continue from the same (cold) TLBs and count the same refills. A refill is a walk, never
   * wrong. Translated code is kept: it is keyed by physical address and flags, and Unicorn's
   * TB flush costs seconds with a large RAM mapping.
   */
  dropCachedTranslations(): void {
    this.translator.markDirty();
    this.translator.invalidateAll();
    this.uc.flushTlb();
    this.codeGuard.tlbFlushed();
  }

  close(): void {
    this.uc.close();
  }
}
