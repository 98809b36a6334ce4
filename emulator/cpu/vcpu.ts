/**
 * The virtual CPU: Unicorn runs guest code at EL1/EL0 in deterministic
 * instruction-count slices; this class performs what Unicorn does not
 * (architectural exception entry, virtual time, fault syndromes) and turns
 * everything that must leave the guest into an Exit for the EL2 handler.
 *
 * What each part models lives in its own module: run-loop.ts (slices and the
 * accounting of retired instructions), exit-dispatch.ts (exits to the EL2
 * model, exception entries, their counters), virtual-time.ts (the clock,
 * counter polling), exception-entry.ts, fill-handler.ts (TLB fills and the
 * aborts they reveal), sysinsn-hook.ts (system instructions), maintenance.ts
 * (TLB and IC maintenance, SMP broadcast), core-setup.ts (QEMU's own EL2/EL3
 * state, the core's hooks), wfx-wait.ts (WFI/WFE). The run state they share (interrupt and
 * timer sources, waiting, halting, the debugger's gate, counters, observers) is vcpu-state.ts,
 * which this class extends with the CPU core, memory, hooks and the GuestCpu surface; those
 * modules see it through VcpuInternals (vcpu-internals.ts).
 */
import { Unicorn, Reg, xreg, type CpRegView } from '../unicorn/uc.js';
import { GuestRam } from '../memory/ram.js';
import { MmioBus } from '../memory/bus.js';
import type { SysregAccessFields } from './esr.js';
import { pstateEl } from './pstate.js';
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
import type { El2Handler, Exit, HaltReason, WfxRoute } from './exits.js';
import { CNTFRQ_HZ, NS_PER_INSN, CounterPollWarp, VirtualClock, answerCounters } from './virtual-time.js';
import { debugException, dispatchExit, raiseSysregExit, skipsDebugEvent, takeException } from './exit-dispatch.js';
import { FillHandler, type NativeMmioWindow } from './fill-handler.js';
import { bareRoute } from './sysinsn-hook.js';
import { SysInsnFilter } from './sysinsn-filter.js';
import { CodeGuard } from './code-guard.js';
import { RunLoop } from './run-loop.js';
import { VcpuRunState } from './vcpu-state.js';
import * as wfx from './wfx-wait.js';
import * as maintenance from './maintenance.js';
import { installCoreHooks, openCoreToEl1 } from './core-setup.js';
import { snapshotVcpu, restoreVcpu } from './vcpu-snapshot.js';
import type { VcpuOptions } from './vcpu-types.js';
import type { VcpuInternals } from './vcpu-internals.js';
import type { RestoreContext, SnapshotContext, StateValue } from '../snapshot/state.js';

export type { ExceptionKind };
export { CNTFRQ_HZ, NS_PER_INSN };

export type { VcpuOptions, IrqSource, TimerSource, ExceptionCounters } from './vcpu-types.js';

export class Vcpu extends VcpuRunState implements GuestCpu, VcpuInternals {
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
  /** TLB fills (fill-handler.ts); the field name is part of the snapshot format (vcpu-snapshot.ts). */
  private readonly fill: FillHandler;
  /** Slices and their accounting (run-loop.ts); its flags are set from exit-dispatch.ts too. */
  readonly loop: RunLoop;
  /** Device ranges the fill hook maps to native callbacks while allowed (fill-handler.ts NativeMmioWindow). */
  nativeMmio: NativeMmioWindow[] = [];
  constructor(opts: VcpuOptions) {
    super();
    this.uc = new Unicorn();
    this.index = opts.index ?? 0;
    this.ram = opts.ram ?? new GuestRam(opts.ramBase, opts.ramSize);
    this.uc.mapShared(opts.ramBase, this.ram.block);
    this.translator = new MmuTranslator(this.uc, this.ram.blocks());
    this.codeGuard = new CodeGuard(this.uc, this.ram.base, this.ram.size, this.ram);
    this.codeGuard.flushNow = () => this.flushUnicornTlb();
    this.clock = new VirtualClock(() => this.uc.sliceCounter());
    this.poll = new CounterPollWarp(this.clock, () => this.timerSource, () => this.requestStop());
    this.fill = new FillHandler(this);
    this.loop = new RunLoop(this, this.fill, opts.sliceInsns ?? 1_000_000);
    // Per-block instruction counting when the native counter calibrates (its fill hook goes
    // before ours); otherwise Unicorn's per-instruction counter, which must be found.
    if (!this.uc.enableBlockCounting() && this.uc.sliceCounter() < 0) {
      throw new Error('cannot locate Unicorn\'s instruction counter: this libunicorn build is not supported (need 2.1.x)');
    }
    openCoreToEl1(this.uc);
    // A guest read of CNTPCT_EL0/CNTVCT_EL0 (and their self-synchronised views): virtual time, warped while polling.
    answerCounters(this.sysregs, () => this.poll.read(this.pc, this.eventSeq));
    installCoreHooks(this, this.fill);
    maintenance.wireTlbiFront(this);
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

  /** A guest read of a timer register that depends on time (CTL's ISTATUS, TVAL): a poll of time too (warped the same way). */
  timePolled(): void {
    this.poll.read(this.pc, this.eventSeq);
  }
  private readonly poll: CounterPollWarp;
  // ------------------------------------------------------------ guest memory

  /** Read the 32-bit instruction at a virtual address (EL1 or EL0 regime of the current EL). */
  readInsn(va: number): number | null {
    const t = this.translator.translate(va, Access.FETCH, this.el);
    if (!t.ok || !this.ram.contains(t.pa, 4)) return null;
    return this.ram.read32(t.pa);
  }

  // --------------------------------------------------------------- hooks

  /** System instructions routed native with nothing for us to do: they skip JavaScript (sysinsn-filter.ts). */
  private readonly sysFilter = new SysInsnFilter(this, bareRoute);
  /** Refresh the filter and hand a changed one to the native hook (SysInsnFilter.pushTo). */
  syncSysFilter(): SysInsnFilter {
    maintenance.refreshTlbiFront(this);
    return this.sysFilter.pushTo(this.uc);
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
  get codeSiteHooks(): boolean {
    return this.el2?.hooksCodeSite !== undefined;
  }
  onCodeSite(address: number, word: number): void {
    this.el2?.onCodeSite?.(this, address, word);
  }
  requestStop(): void {
    this.loop.stopRequested = true;
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
  /** IC maintenance has work: code snapshots are live, or other vCPUs' translated code must follow (maintenance.ts). */
  get icMaintenanceNeeded(): boolean {
    return this.codeGuard.snapshotsLive || this.peers.length > 0;
  }
  icMaintenance(cp: CpRegView): void {
    maintenance.icMaintenance(this, cp);
  }
  /** The other vCPUs of the VM (SMP): broadcast TLB and instruction-cache maintenance reaches them. */
  peers: Vcpu[] = [];
  /** A broadcast TLBI from another vCPU (maintenance.ts). */
  remoteTlbi(op: TlbiOperation, xt: bigint, vmid: number): void {
    maintenance.remoteTlbi(this, op, xt, vmid);
  }
  /** A TLBI QEMU executes itself (maintenance.ts). */
  nativeTlbi(entry: SysregEntry, xt: bigint): void {
    maintenance.nativeTlbi(this, entry, xt);
  }
  /** The model TLB applies the TLBIs the native front completed (maintenance.ts; at every slice end). */
  drainTlbiFront(): void {
    maintenance.drainTlbiFront(this);
  }
  /**
   * Stop the CPU from a hook outside the vCPU (the debugger's breakpoint)
   * before the instruction about to run: runFor returns with exactly the
   * instructions retired before it counted.
   */
  stopBeforeCurrent(): void {
    this.loop.stopBeforeCurrent();
  }
  /**
   * Work a device asks for from inside a hook that must not run there (adding or removing CPU
   * hooks, flushing translated code): the slice stops after the current instruction and the run
   * loop does it before the next instruction (the breakpoint registers use it).
   */
  afterInstruction(fn: () => void): void {
    this.loop.afterInstruction(fn);
  }
  /**
   * An exception taken from the system-instruction hook (an injected UNDEFINED, a trap to EL1,
   * an EL2 handler's injection). Unicorn ignores a PC written there for a register QEMU itself
   * lets the guest access: it runs the rest of the translation block (measured: the guest ran
   * on after ELR at "EL1"), and an MSR's block end writes PC = the next instruction. So the
   * slice stops before the next instruction runs, and the run loop puts PC back to `target`.
   * The instruction counts as the CPU counts one it raises UNDEFINED for itself: started (from a
   * code hook, before the instruction ran, `started` = false: it does not count).
   */
  hookRedirect(target: number, started = true): void {
    if (this.gatedExit !== null || this.halted !== null) return;
    this.loop.redirect(target, started);
  }
  /** Unicorn TLB-fill hook calls, and refused ones (guest faults and MMIO). */
  get fills(): number {
    return this.fill.fills;
  }
  get refusedFills(): number {
    return this.fill.refusedFills;
  }

  /** A system-instruction trap the EL2 model found itself (exit-dispatch.ts). */
  raiseSysregExit(a: SysregAccessFields & { readonly pc: number; readonly value: bigint; readonly trap: string }): void {
    raiseSysregExit(this, a);
  }

  /** Hand an exit to the EL2 model, unless the debugger's trap-break gate holds it (exit-dispatch.ts). */
  dispatchExit(exit: Exit): void {
    dispatchExit(this, exit);
  }

  halt(reason: HaltReason): void {
    if (this.halted === null) this.halted = reason;
    this.requestStop();
  }

  /** Xn for address generation (31 = SP). */
  readBase(n: number): bigint {
    return n === 31 ? this.uc.regRead(Reg.SP) : this.uc.regRead(xreg(n));
  }

  /** Exception entry to EL1 (exception-entry.ts), counted and observed (exit-dispatch.ts). */
  takeException(kind: ExceptionKind, esrValue: number, preferredReturn: number, far?: number): void {
    takeException(this, kind, esrValue, preferredReturn, far);
  }

  /** MDCR_EL2.TDE or HCR_EL2.TGE, as the EL2 model says: debug exceptions from EL1/EL0 go to EL2 (Arm ARM D2.3). */
  debugToEl2(): boolean {
    return this.el2?.routesDebugToEl2?.(this) === true;
  }

  /** A debug exception: to EL1, or routed to EL2 as a 'debug' exit (exit-dispatch.ts debugException). */
  debugException(esrValue: number, pc: number, far: number | undefined, guestTakes: boolean, guestEsr?: number): void {
    debugException(this, esrValue, pc, far, guestTakes, guestEsr);
  }

  skipsDebugEvent(pc: number): boolean {
    return skipsDebugEvent(this, pc);
  }

  // ---------------------------------------------------------------- run loop

  /**
   * Run up to `budget` more instructions (run-loop.ts). Returns why the guest halted, or null
   * when the budget ran out first (the caller decides whether that is the user's instruction
   * limit or just a pause to serve the event loop).
   */
  runFor(budget: number, opts: { stopAfterEvent?: boolean } = {}): HaltReason | null {
    return this.loop.run(budget, opts);
  }

  /** WFI: wait for an interrupt (wfx-wait.ts); false when nothing inside the machine can ever end the wait. */
  waitForInterrupt(): boolean {
    return wfx.waitForInterrupt(this);
  }

  /** End a paced idle wait (paceIdle) at virtual time `ns`, at most its deadline (wfx-wait.ts). */
  endIdleWait(ns: number): void {
    wfx.endIdleWait(this, ns);
  }

  // ------------------------------------------------ GuestCpu: TLB, regime

  /** A TLB maintenance operation from the EL2 model (maintenance.ts). */
  tlbi(op: TlbiOperation, xt: bigint, vmid: number): void {
    maintenance.tlbi(this, op, xt, vmid);
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

  /** Unicorn's TLB only (the model's is already exact), counted (maintenance.ts). */
  flushUnicornTlb(): void {
    maintenance.flushUnicornTlb(this);
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

  /** Forget every cached translation without counting a flush, at a snapshot point and after a restore (maintenance.ts). */
  dropCachedTranslations(): void {
    maintenance.dropCachedTranslations(this);
  }

  close(): void {
    this.uc.close();
  }
}
