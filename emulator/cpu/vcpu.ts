/**
 * The virtual CPU: Unicorn runs guest code at EL1/EL0 in deterministic
 * instruction-count slices; this class performs what Unicorn does not
 * (architectural exception entry, virtual time, fault syndromes) and turns
 * everything that must leave the guest into an Exit for the EL2 handler.
 */
import { Unicorn, Reg, xreg, MemAccess, SysInsn, UC_ERR_OK, UC_ERR_EXCEPTION, type CpRegView } from '../unicorn/uc.js';
import { GuestRam } from '../memory/ram.js';
import { MmioBus } from '../memory/bus.js';
import { EC, EC_NAMES, esr, esrEc, issDataAbort, issInstructionAbort, issSysreg, issWfx } from './esr.js';
import { PSTATE, pstateEl } from './pstate.js';
import { SR } from './sysregs.js';
import { SysregCatalogue, SR_FLAG, sysregKey, type SysregEntry } from './sysreg-catalogue.js';
import { ARCH_SYSREGS } from './sysreg-rows.js';
import type { ExceptionKind, GuestCpu, RegisterBatch } from './guest-cpu.js';
import type { BatchReg } from '../unicorn/uc.js';
import type { TlbiOperation } from '../mmu/tlbi-op.js';
import type { Stage2Registers } from '../mmu/config.js';
import type { DescriptorMemory, RamBlock } from '../mmu/memory.js';
import type { TranslateOutcome } from '../mmu/translate.js';

export type { ExceptionKind };
import { Access, type AccessKind, type TranslationFault } from './translator.js';
import { MmuTranslator } from './mmu-translator.js';
import { hexVa } from '../types.js';
import type { DataAccess, El2Handler, Exit, ExitAction, HaltReason, SysInsnAccess, SysInsnRoute } from './exits.js';
import { decodeMemoryAccess } from './access.js';
import { isUnprivilegedLoadStore } from './decode.js';
import { CodeGuard } from './code-guard.js';

/** Generic-timer frequency the guest sees in CNTFRQ_EL0: 62.5 MHz, QEMU virt's value. */
export const CNTFRQ_HZ = 62_500_000;
/** Virtual time per retired instruction (1 ns, as QEMU's -icount shift=0). */
export const NS_PER_INSN = 1;

const VECTOR_KIND_OFFSET: Record<ExceptionKind, number> = { sync: 0x000, irq: 0x080, fiq: 0x100, serror: 0x180 };

export interface VcpuOptions {
  ramBase: number;
  ramSize: number;
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

/** Slice length while an interrupt is pending but PSTATE.I masks it. */
const MASKED_IRQ_SLICE = 32;

/** Counter polling warp (Vcpu.guestCounterRead): what counts as polling, and the step. */
const POLL_MAX_GAP = 32;
const POLL_FIRST_STEP_NS = 1_000;
const POLL_MAX_STEP_NS = 1_000_000;

/** WFI and WFE (HINT #3, #2), Arm ARM C6.2 "WFI" / "WFE". */
const WFI = 0xd503207f;
const WFE = 0xd503205f;

/** Unicorn's interrupt numbers (QEMU's EXCP_* in target/arm/cpu.h). */
const EXCP_UDEF = 1;
const EXCP_SWI = 2;
const EXCP_BKPT = 7;
/** SMC at EL1 when Unicorn's own SCR_EL3.SMD is 0: reported with PC after the SMC. */
const EXCP_SMC = 13;

export interface ExceptionCounters {
  total: number;
  /** By target EL then exception-class name: { EL1: { svc64: 2 }, EL2: { hvc64: 1 } }. */
  byTarget: Record<string, Record<string, number>>;
}

export class Vcpu implements GuestCpu {
  readonly uc: Unicorn;
  readonly ram: GuestRam;
  readonly bus = new MmioBus();
  readonly translator: MmuTranslator;
  /** Untranslatable words kept from Unicorn's decoder; no TLB entry both writable and executable (code-guard.ts). */
  readonly codeGuard: CodeGuard;
  el2: El2Handler | null = null;

  /** Retired instructions: with the time spent waiting for an interrupt (idleNs), the only source of virtual time. */
  instructions = 0;
  /**
   * Virtual nanoseconds not accounted for by instructions: skipped while the
   * CPU waited in WFI for a timer, and warped by counter polling (warpNs).
   */
  idleNs = 0;
  /** The part of idleNs added by the counter-polling warp (guestCounterRead). */
  warpNs = 0;
  /** Counter reads that warped virtual time. */
  warps = 0;
  /** This machine's system-register catalogue: architectural rows, plus those devices register. */
  readonly sysregs = new SysregCatalogue(ARCH_SYSREGS);
  irqSource: IrqSource | null = null;
  timerSource: TimerSource | null = null;
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
  readonly exceptions: ExceptionCounters = { total: 0, byTarget: {} };
  halted: HaltReason | null = null;
  /**
   * Set by an observer (a library `until` condition met, e.g. console output): runFor returns
   * before its next slice, with no halt; the guest continues at the next runFor. Set from an
   * exit handler, the pause falls right after the trapping instruction.
   */
  pauseRequested = false;
  /** Instructions executed before the current slice began. */
  private sliceBase = 0;
  private readonly sliceInsns: number;
  /** First TLB fill refused in the current slice (the guest fault, see DESIGN.md). */
  private refused: { va: number; access: AccessKind } | null = null;
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
  /** Observers (statistics, tracing, the debugger). */
  onExit: ((exit: Exit, action: ExitAction) => void) | null = null;
  onException: ((kind: ExceptionKind, esrValue: number, targetEl: number) => void) | null = null;

  constructor(opts: VcpuOptions) {
    this.uc = new Unicorn();
    this.ram = new GuestRam(opts.ramBase, opts.ramSize);
    this.uc.mapShared(opts.ramBase, this.ram.block);
    this.translator = new MmuTranslator(this.uc, this.ram.blocks());
    this.codeGuard = new CodeGuard(this.uc, this.ram.base, this.ram.size, this.ram);
    this.sliceInsns = opts.sliceInsns ?? 1_000_000;
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

  /**
   * Instructions retired so far. Inside a slice (in a hook) that includes
   * the part of the slice already run, from Unicorn's counter; outside, the
   * counter is stale and `instructions` is exact.
   */
  get currentInstructions(): number {
    if (!this.inSlice) return this.instructions;
    return this.sliceBase + Math.max(0, this.uc.sliceCounter() - 1);
  }
  private inSlice = false;
  get virtualTimeNs(): number {
    return this.currentInstructions * NS_PER_INSN + this.idleNs;
  }
  /**
   * A guest read of CNTPCT_EL0/CNTVCT_EL0 (and their self-synchronised views).
   *
   * Counter polling warp: a busy-wait (`while (cntvct - start < n)`) would cost
   * a JavaScript round trip per read at 1 ns per instruction, so a 100 ms delay
   * is 100M instructions of polling. When a read comes from the same PC as the
   * previous read, at most POLL_MAX_GAP instructions later, with no exit and
   * no exception in between, the guest is polling: virtual time jumps forward
   * by a step that doubles from POLL_FIRST_STEP_NS up to POLL_MAX_STEP_NS,
   * never past the next timer deadline (a timer due meanwhile still fires on
   * time; the slice then ends so the run loop sees it). Any other event
   * resets the step. Like QEMU's icount warp, but decided only by the guest's
   * own instruction stream, so runs stay bit-for-bit deterministic. A guest
   * cannot tell this from a CPU that was slow to come back from a WFE.
   */
  private guestCounterRead(): bigint {
    const now = this.currentInstructions;
    const pc = this.pc;
    if (pc === this.pollPc && this.eventSeq === this.pollEvents && now - this.pollInsns <= POLL_MAX_GAP) {
      this.pollStepNs = this.pollStepNs === 0 ? POLL_FIRST_STEP_NS : Math.min(this.pollStepNs * 2, POLL_MAX_STEP_NS);
      let step = this.pollStepNs;
      this.timerSource?.update();
      const dl = this.timerSource?.nextDeadline() ?? null;
      if (dl !== null) step = Math.min(step, Math.max(0, Math.floor(this.ticksToNs(dl) - this.virtualTimeNs)));
      if (step > 0) {
        this.idleNs += step;
        this.warpNs += step;
        this.warps++;
        // The slice was sized to end at the deadline in instructions: end it
        // now so the run loop re-evaluates the timers at the new time.
        if (dl !== null && this.inSlice) {
          this.stopRequested = true;
          this.uc.emuStop();
        }
      }
    } else {
      this.pollStepNs = 0;
    }
    this.pollPc = pc;
    this.pollInsns = now;
    this.pollEvents = this.eventSeq;
    return this.counter;
  }
  private pollPc = -1;
  private pollInsns = 0;
  private pollEvents = -1;
  private pollStepNs = 0;
  /** Exits and exceptions so far: any of them between two counter reads means the guest is not just polling. */
  private eventSeq = 0;

  /** CNTPCT_EL0 derived from virtual time (62.5 MHz = one tick per 16 ns). */
  get counter(): bigint {
    return (BigInt(this.virtualTimeNs) * BigInt(CNTFRQ_HZ)) / 1_000_000_000n;
  }

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
    uc.onTlbFill((va, type) => {
      this.fills++;
      const access: AccessKind = type === MemAccess.FETCH ? Access.FETCH : type === MemAccess.WRITE ? Access.WRITE : Access.READ;
      const pstate = this.pstate;
      const mmuEl = this.fillEl(access, pstateEl(pstate));
      const t = this.translator.translate(va, access, this.translator.stage1Enabled ? mmuEl : 1);
      if (t.ok) {
        if (access === Access.FETCH) this.scanCodePage(va, t.pa);
        if (this.ram.contains(t.pa, 0x400)) {
          // The TLB entry this fill makes: QEMU's MMU index is EL0, EL1 or EL1 with PAN.
          const key = va + (mmuEl === 0 ? 0 : pstate & PSTATE.PAN ? 2 : 1);
          const perms = this.codeGuard.fill(t, key, access === Access.FETCH);
          if (perms < 0) return null; // shadow pool full: the run loop flushes code and retries
          t.perms = perms;
        }
        return t;
      }
      this.refusedFills++;
      if (this.refused === null) this.refused = { va, access };
      return null;
    });
    uc.onInterrupt((intno) => this.onInterrupt(intno));
    const sys = (read: boolean) => (rt: number, cp: CpRegView) => this.onSysInsn(rt, cp, read);
    uc.onSysInsn(SysInsn.MRS, sys(true));
    uc.onSysInsn(SysInsn.MSR, sys(false));
    uc.onSysInsn(SysInsn.SYS, sys(false));
    uc.onSysInsn(SysInsn.SYSL, sys(true));
  }

  /**
   * The exception level whose permissions a fill must use. The hook is not
   * told Unicorn's MMU index, so an EL1 LDTR/STTR (checked with EL0
   * permissions, and filled into QEMU's EL0 TLB) is recognised by its PC: the
   * code-page scan (scanCodePage) records every LDTR/STTR site, and only a
   * fill whose PC is one of them decodes the instruction to be sure. A guest
   * with no such instruction pays one PSTATE read per fill.
   */
  private fillEl(access: AccessKind, el: number): number {
    if (el === 0 || access === Access.FETCH || this.unprivilegedSites.size === 0) return el;
    const pc = this.pc;
    if (!this.unprivilegedSites.has(pc)) return el;
    const insn = this.readInsn(pc);
    return insn !== null && isUnprivilegedLoadStore(insn) ? 0 : el;
  }
  /** VAs where the code-page scan saw an LDTR/STTR-family instruction. */
  private readonly unprivilegedSites = new Set<number>();

  /**
   * Scan a code page at its fetch fill (a code page is always filled for
   * fetch before QEMU translates code on it). LDTR/STTR sites are recorded for
   * fillEl. WFI needs nothing: QEMU halts on it and Unicorn returns from the
   * slice with PC just past it, where runFor sees it. WFE runs on as a NOP, so
   * while HCR_EL2.TWE is set each WFE gets a one-address code hook (installed
   * from the run loop: adding a hook inside a Unicorn callback re-enters it).
   * TWE is off by default, as KVM clears it for a vCPU alone on its CPU:
   * Linux has WFE in every spin-wait, and hooks slow all translation.
   */
  private scanCodePage(vaPage: number, paPage: number): void {
    if (!this.ram.contains(paPage, 0x400)) return;
    const { words, index } = this.ram.wordsAt(paPage);
    const twe = this.el2?.trapsWfx(this, true) ?? false;
    const sites = this.el2?.hooksCodeSite !== undefined ? this.el2 : null;
    for (let i = index, end = index + 0x100; i < end; i++) {
      const w = words[i]!;
      if (isUnprivilegedLoadStore(w)) {
        this.unprivilegedSites.add(vaPage + (i - index) * 4);
      } else if (sites !== null && sites.hooksCodeSite!(w)) {
        const va = vaPage + (i - index) * 4;
        if (this.siteHooks.has(va)) continue;
        this.siteHooks.add(va);
        this.pendingWfeHooks.push(-1 - va);
        this.stopRequested = true;
        this.uc.emuStop();
      } else if (twe && w === WFE) {
        const va = vaPage + (i - index) * 4;
        if (this.wfeHooks.has(va)) continue;
        this.wfeHooks.add(va);
        this.pendingWfeHooks.push(va);
        this.stopRequested = true;
        this.uc.emuStop();
      }
    }
  }
  private readonly wfeHooks = new Set<number>();
  private readonly siteHooks = new Set<number>();
  /**
   * Work a device asks for from inside a hook that must not run there (adding or removing CPU
   * hooks, flushing translated code): the slice stops after the current instruction and the run
   * loop does it before the next instruction (the breakpoint registers use it).
   */
  afterInstruction(fn: () => void): void {
    this.deferred.push(fn);
    if (this.inSlice) {
      this.stopRequested = true;
      this.uc.emuStop();
    }
  }
  private readonly deferred: Array<() => void> = [];
  private runDeferred(): void {
    while (this.deferred.length > 0) this.deferred.shift()!();
  }
  /** Code hooks to install from the run loop: a WFE site, or a handler's code site (hooksCodeSite) encoded as -1 - va. */
  private readonly pendingWfeHooks: number[] = [];

  /** Install the WFE and code-site hooks found in the last slice; retranslate just the blocks holding them. */
  private installWfeHooks(): void {
    for (const site of this.pendingWfeHooks) {
      const va = site < 0 ? -1 - site : site;
      if (site < 0) this.uc.onCode(va, va, (address) => this.onCodeSite(address));
      else this.uc.onCode(va, va, (address) => this.onWfe(address));
      this.uc.removeTbCache(va, va + 4);
    }
    this.pendingWfeHooks.length = 0;
  }

  /** A trapped WFI/WFE: ESR_EL2 EC 0x01 with the WF* ISS, ELR = the instruction. */
  private dispatchWfx(pc: number, wfe: boolean): void {
    this.dispatchExit({ reason: 'wfx', esr: esr(EC.WFX, issWfx(wfe)), pc, wfe });
  }

  private onCodeSite(address: number): void {
    const w = this.readInsn(address);
    if (w === null || this.el2?.hooksCodeSite?.(w) !== true) return;
    this.el2.onCodeSite?.(this, address, w);
  }

  private onWfe(address: number): void {
    if (this.readInsn(address) !== WFE || !this.el2?.trapsWfx(this, true)) return;
    this.dispatchWfx(address, true);
  }

  /** Unicorn register id → architectural register number (31 = XZR/SP). */
  private rtFromUc(regId: number): number {
    if (regId >= Reg.X0 && regId <= Reg.X0 + 28) return regId - Reg.X0;
    if (regId === Reg.X29) return 29;
    if (regId === Reg.X30) return 30;
    return 31;
  }

  private icMaintenance(cp: CpRegView): void {
    if (cp.op1 === 0 && ((cp.crm === 1 && cp.op2 === 0) || (cp.crm === 5 && cp.op2 === 0))) this.codeGuard.icInvalidate(null);
    if (cp.op1 === 3 && cp.crm === 5 && cp.op2 === 1) {
      const t = this.translator.probe(Number(BigInt.asIntN(64, cp.val)), Access.READ, this.el);
      if (t.ok) this.codeGuard.icInvalidate(t.pa);
    }
  }

  /**
   * Every MRS/MSR/SYS/SYSL: one catalogue lookup, then the EL2 model's route
   * (or, with no EL2 model, the catalogue's own rules) decides: native, the
   * row's device, an exit carrying the row and the trap reason, or UNDEFINED.
   */
  private onSysInsn(rtId: number, cp: CpRegView, read: boolean): boolean {
    // IC IALLUIS / IC IALLU / IC IVAU: code snapshots in use are retaken (code-guard.ts).
    if (cp.op0 === 1 && cp.crn === 7 && this.codeGuard.snapshotsLive) this.icMaintenance(cp);
    const pc = this.pc;
    const rt = this.rtFromUc(rtId);
    const el = this.el;
    const entry = this.sysregs.get(sysregKey(cp));
    const access: SysInsnAccess = {
      op0: cp.op0,
      op1: cp.op1,
      crn: cp.crn,
      crm: cp.crm,
      op2: cp.op2,
      rt,
      read,
      value: read ? 0n : rt === 31 ? 0n : cp.val,
      pc,
      el,
    };
    const r = this.el2 ? this.el2.routeSysInsn(this, access, entry) : bareRoute(entry, el);
    switch (r.route) {
      case 'handled':
        return true;
      case 'device': {
        const d = entry!.device!;
        if (read) this.setX(rt, d.read(entry!));
        else d.write(entry!, access.value);
        this.pc = pc + 4;
        return true;
      }
      case 'undefined':
        this.takeException('sync', esr(EC.UNKNOWN, 0), pc);
        return true;
      case 'trap':
        this.dispatchExit({
          reason: 'sysreg',
          esr: esr(EC.SYS64, issSysreg(access)),
          pc,
          op0: access.op0,
          op1: access.op1,
          crn: access.crn,
          crm: access.crm,
          op2: access.op2,
          rt,
          read,
          value: access.value,
          row: entry ?? null,
          trap: r.reason,
        });
        return true;
      case 'native':
        // A native write to a register the MMU model reads: re-read the regime at the next fill.
        if (!read && entry !== undefined && (entry.flags & SR_FLAG.MMU_INPUT) !== 0) this.translator.markDirty();
        // A TLBI run by the CPU (no EL2 model to trap it) drops QEMU's TLB: drop the model's too.
        else if (entry !== undefined && entry.group === 'TLB') {
          this.translator.tlb.invalidateAll();
          this.tlbiCount++;
        }
        return false;
    }
  }

  /** TLB maintenance instructions the guest executed. */
  tlbiCount = 0;
  /** Unicorn TLB-fill hook calls, refused ones, and whole-TLB flushes the model asked for. */
  fills = 0;
  refusedFills = 0;
  tlbFlushes = 0;

  private onInterrupt(intno: number): void {
    const pc = this.pc;
    switch (intno) {
      case EXCP_SWI: {
        // SVC: Unicorn reports it with PC already after the instruction.
        const insn = this.readInsn(pc - 4) ?? 0;
        this.takeException('sync', esr(EC.SVC64, (insn >>> 5) & 0xffff), pc);
        return;
      }
      case EXCP_BKPT: {
        const insn = this.readInsn(pc) ?? 0;
        this.takeException('sync', esr(EC.BRK64, (insn >>> 5) & 0xffff), pc);
        return;
      }
      case EXCP_UDEF: {
        this.onUndefined(pc);
        return;
      }
      case EXCP_SMC: {
        // The same decision as an SMC that arrives UNDEFINED: trapped (exit) or UNDEFINED at EL1.
        this.pc = pc - 4;
        this.onUndefined(pc - 4);
        return;
      }
      default:
        this.halt({ kind: 'fault', message: `unhandled CPU exception ${intno} at PC ${hexVa(pc)}` });
    }
  }

  /** HVC and SMC at EL1 arrive as UNDEFINED instructions (DESIGN.md), as do the really undefined ones. */
  private onUndefined(pc: number): void {
    const insn = this.readInsn(pc);
    const el = this.el;
    if (insn !== null && el === 1 && (insn & 0xffe0_001f) >>> 0 === 0xd400_0002) {
      // HVC at EL1: to EL2; the preferred return address is the next instruction.
      const imm = (insn >>> 5) & 0xffff;
      this.pc = pc + 4;
      this.dispatchExit({ reason: 'hvc', esr: esr(EC.HVC64, imm), pc, imm });
      return;
    }
    if (insn !== null && el === 1 && (insn & 0xffe0_001f) >>> 0 === 0xd400_0003 && this.el2?.trapsSmc(this)) {
      // SMC trapped by HCR_EL2.TSC: the preferred return address is the SMC itself (the handler skips it).
      const imm = (insn >>> 5) & 0xffff;
      this.dispatchExit({ reason: 'smc', esr: esr(EC.SMC64, imm), pc, imm });
      return;
    }
    this.takeException('sync', esr(EC.UNKNOWN, 0), pc);
  }

  private dispatchExit(exit: Exit): void {
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

  // --------------------------------------------------------- exception entry

  /**
   * Take an exception to EL1 (Arm ARM D1.10.2 "Exception entry",
   * AArch64.TakeException): SPSR_EL1 = PSTATE, ELR_EL1 = preferred return
   * address, PSTATE.{D,A,I,F} = 1, EL1h, SS = IL = 0, PAN = !SCTLR_EL1.SPAN,
   * UAO = 0, BTYPE = 0, SSBS = SCTLR_EL1.DSSBS; PC = VBAR_EL1 + offset, where the
   * offset is 0x000 (current EL, SP_EL0), 0x200 (current EL, SP_ELx) or 0x400
   * (lower EL, AArch64) plus 0x80/0x100/0x180 for IRQ/FIQ/SError.
   */
  takeException(kind: ExceptionKind, esrValue: number, preferredReturn: number, far?: number): void {
    this.eventSeq++;
    if (this.el2?.takeException?.(this, kind, esrValue, preferredReturn, far) === true) return;
    const uc = this.uc;
    // Unicorn 2.1.1 shows PSTATE.IL = 1 to the interrupt hook for BRK and UDF
    // (QEMU itself saves IL = 0 for them, as the Arm ARM requires: IL is set
    // only by an illegal exception return, which hypemu never produces).
    const old = this.pstate & ~PSTATE.IL;
    const oldEl = pstateEl(old);
    const base = oldEl === 0 ? 0x400 : old & PSTATE.SP ? 0x200 : 0x000;
    const sctlr = this.sysreg(SR.SCTLR_EL1);
    // Unicorn does not bank SP when PSTATE changes: save the live SP to the
    // bank it belongs to, then load SP_EL1 (DESIGN.md).
    const sp = uc.regRead(Reg.SP);
    const spEl1 = oldEl === 0 || (old & PSTATE.SP) === 0 ? uc.regRead(Reg.SP_EL1) : sp;
    if (oldEl === 0 || (old & PSTATE.SP) === 0) uc.regWrite(Reg.SP_EL0, sp);
    let next = (old & 0xf000_0000) | PSTATE.DAIF | 0x5; // NZCV kept, DAIF masked, EL1h
    if ((sctlr & (1n << 23n)) === 0n) next |= PSTATE.PAN; // SCTLR_EL1.SPAN == 0 sets PAN
    else next |= old & PSTATE.PAN;
    if (sctlr & (1n << 44n)) next |= PSTATE.SSBS; // SCTLR_EL1.DSSBS
    // PSTATE first, then the CP_REG writes, which rebuild QEMU's cached flags (DESIGN.md).
    uc.regWrite(Reg.PSTATE, next >>> 0);
    uc.regWrite(Reg.SP, spEl1);
    this.setSysreg(SR.SPSR_EL1, BigInt(old >>> 0));
    this.setSysreg(SR.ELR_EL1, BigInt(preferredReturn));
    this.setSysreg(SR.ESR_EL1, BigInt(esrValue >>> 0));
    if (far !== undefined) this.setSysreg(SR.FAR_EL1, BigInt.asUintN(64, BigInt(far)));
    const vbar = Number(this.sysreg(SR.VBAR_EL1) & 0xffff_ffff_f800n);
    const vbarHi = this.sysreg(SR.VBAR_EL1) >> 48n;
    const target = BigInt(vbar + base + VECTOR_KIND_OFFSET[kind]) | (vbarHi << 48n);
    uc.regWrite(Reg.PC, target);
    this.count(1, kind === 'sync' ? (EC_NAMES[esrEc(esrValue)] ?? 'unknown') : kind);
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
  runFor(budget: number): HaltReason | null {
    const uc = this.uc;
    if (this.gatedExit !== null) this.gateBypass = this.gatedExit;
    this.idleWaiting = false;
    const stopAt = this.instructions + budget;
    while (this.halted === null) {
      if (this.pauseRequested) {
        this.pauseRequested = false;
        break;
      }
      const remaining = stopAt - this.instructions;
      if (remaining <= 0) break;
      let n = Math.min(this.sliceInsns, remaining);
      if (this.timerSource !== null) {
        this.timerSource.update();
        const dl = this.timerSource.nextDeadline();
        if (dl !== null) n = Math.max(1, Math.min(n, Math.ceil(this.ticksToNs(dl) - this.virtualTimeNs)));
      }
      if (this.irqSource !== null && this.irqSource.irqPending()) {
        if ((this.pstate & PSTATE.I) === 0) {
          this.takeIrq();
          if (this.halted !== null || this.gatedExit !== null) break;
        } else {
          // Pending but masked (Linux idles with IRQs masked around WFI and
          // unmasks right after): short slices notice the unmask promptly,
          // as a real CPU takes the interrupt at the next instruction.
          n = Math.min(n, MASKED_IRQ_SLICE);
        }
      }
      // Code hooks found by the code-page scan (WFE under TWE, a guest hypervisor's sites):
      // installed here, outside any Unicorn callback, before the code runs again.
      if (this.pendingWfeHooks.length > 0) this.installWfeHooks();
      this.runDeferred();
      this.refused = null;
      this.stopRequested = false;
      this.sliceBase = this.instructions;
      this.inSlice = true;
      const rc = uc.emuStart(this.pc, n);
      this.inSlice = false;
      const started = uc.sliceCounter();
      const refused = this.takeRefused();
      if (this.codeGuard.poolExhausted) {
        // The fetch fill was refused (never started): drop translated code, reuse the shadow pool, retry.
        this.instructions += Math.min(n, Math.max(0, started));
        uc.flushTb();
        this.codeGuard.codeFlushed();
        this.flushTlb();
        continue;
      }
      // A page became writable while executable elsewhere, or the reverse: no stale entry may survive.
      const guardStop = this.codeGuard.flushNeeded;
      if (guardStop) this.flushTlb();
      if (rc === UC_ERR_OK && !this.stopRequested && !guardStop && refused === null) {
        // A full slice stops on the count hook of instruction n + 1.
        if (started > n) {
          this.instructions += n;
          continue;
        }
        // Fewer started: either QEMU halted on a WFI/WFE with nothing pending
        // (Unicorn then returns, PC after it; it retired), or a hook outside
        // the vCPU stopped the CPU before an instruction ran (the debugger's
        // breakpoints): that one has not run, and the caller must see the stop.
        const prev = this.readInsn(this.pc - 4);
        if (prev === WFI || prev === WFE) {
          const wfe = prev === WFE;
          if (this.el2?.trapsWfx(this, wfe)) {
            // HCR_EL2.TWI/TWE: the WFx traps (ESR_EL2 EC 0x01, ELR = the WFx);
            // the hypervisor waits and skips it, completing it: it retires, as
            // an emulated MMIO access does.
            this.instructions += Math.max(0, started);
            const at = this.pc - 4;
            this.pc = at;
            this.dispatchWfx(at, wfe);
            if (this.gatedExit !== null) break;
            continue;
          }
          this.instructions += Math.max(0, started);
          if (!wfe && !this.waitForInterrupt() && this.returnWhenIdle) {
            this.idleWaiting = true;
            break;
          }
          continue;
        }
        this.instructions += Math.max(0, started - 1);
        break;
      }
      if (rc === UC_ERR_EXCEPTION && refused !== null) {
        // Unicorn's counter includes a data access that was started and
        // aborted (it does not retire); a refused fetch never started.
        const fetch = refused.access === Access.FETCH && this.isFetchOfPc(refused.va);
        this.instructions += Math.min(n, Math.max(0, fetch ? started : started - 1));
        const faultPc = this.pc;
        this.handleRefusedFill(refused, fetch);
        if (this.gatedExit !== null) break;
        // The hypervisor completed the access (emulated MMIO) and skipped it: it retired.
        if (!fetch && this.halted === null && this.pc === faultPc + 4) this.instructions++;
        continue;
      }
      if ((this.pendingWfeHooks.length > 0 || this.deferred.length > 0) && rc === UC_ERR_OK && this.halted === null && this.gatedExit === null) {
        this.instructions += Math.min(n, Math.max(0, started));
        this.installWfeHooks();
        this.runDeferred();
        continue;
      }
      // Stopped from a hook (a halt, an exit the debugger gated) or an error.
      // A gated instruction has not executed: it does not retire.
      this.instructions += Math.min(n, Math.max(0, this.gatedExit !== null ? this.gateCounter - 1 : started));
      if (this.gatedExit !== null) {
        // A hook that skips an instruction leaves Unicorn's PC after it: put it back on the trapping instruction.
        this.pc = this.gatedExit.pc;
        break;
      }
      if (rc !== UC_ERR_OK && this.halted === null) {
        this.halt({ kind: 'fault', message: `CPU stopped: ${uc.strerror(rc)} at PC ${hexVa(this.pc)}` });
      }
    }
    this.sliceBase = this.instructions;
    this.el2?.drain?.();
    return this.halted;
  }

  /** Counter ticks (62.5 MHz) to virtual nanoseconds. */
  private ticksToNs(ticks: bigint): number {
    return (Number(ticks) * 1_000_000_000) / CNTFRQ_HZ;
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
    const dl = this.timerSource?.nextDeadline() ?? null;
    if (dl === null) return false;
    const wait = this.ticksToNs(dl) - this.virtualTimeNs;
    if (wait > 0) this.idleNs += Math.ceil(wait);
    this.timerSource!.update();
    return true;
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

  private takeRefused(): { va: number; access: AccessKind } | null {
    const r = this.refused;
    this.refused = null;
    return r;
  }

  private isFetchOfPc(vaPage: number): boolean {
    const pc = this.pc;
    return pc >= vaPage && pc < vaPage + 0x400;
  }

  /** A refused fill: a stage-1 fault for the guest, or a stage-2 fault for the hypervisor. */
  private handleRefusedFill(ref: { va: number; access: AccessKind }, fetch: boolean): void {
    const pc = this.pc;
    const el = this.el;
    if (fetch) {
      const t = this.translator.probe(pc, Access.FETCH, el);
      if (t.ok) return; // translation changed since the fill: just retry
      this.abort(t.fault, pc, pc, true, false, null);
      return;
    }
    const insn = this.readInsn(pc);
    if (insn === null) {
      this.halt({ kind: 'fault', message: `data fault at ${hexVa(ref.va)} but the instruction at PC ${hexVa(pc)} cannot be read` });
      return;
    }
    const acc = decodeMemoryAccess(insn, (n: number) => this.readBase(n), pc);
    if (acc === null) {
      this.halt({ kind: 'fault', message: `data fault at ${hexVa(ref.va)} from an instruction hypemu cannot decode (0x${insn.toString(16).padStart(8, '0')} at PC ${hexVa(pc)})` });
      return;
    }
    // The exact FAR: the first byte of the access that faults (it may start in
    // the previous, mapped page and cross into the faulting one).
    const accessEl = acc.unprivileged && el === 1 ? 0 : el;
    const kind = acc.write ? Access.WRITE : Access.READ;
    // The exact FAR: the first byte of the access that faults. An access may
    // start in a mapped page and cross into the faulting one (4 KiB is the
    // smallest translation granule).
    let faultVa = acc.address;
    let t = this.translator.probe(faultVa, kind, accessEl);
    for (let page = Math.floor(acc.address / 0x1000 + 1) * 0x1000; t.ok && page < acc.address + acc.totalSize; page += 0x1000) {
      faultVa = page;
      t = this.translator.probe(faultVa, kind, accessEl);
    }
    if (t.ok) return; // the mapping appeared (e.g. break-before-make completed): retry
    const single: DataAccess | null = acc.isv
      ? { size: acc.size as 1 | 2 | 4 | 8, write: acc.write, rt: acc.rt, signExtend: acc.signExtend, sf: acc.sf, acqRel: acc.acqRel }
      : null;
    this.abort(t.fault, pc, faultVa, false, acc.write, single, acc.cacheMaintenance);
  }

  private readBase(n: number): bigint {
    return n === 31 ? this.uc.regRead(Reg.SP) : this.uc.regRead(xreg(n));
  }

  private abort(
    f: TranslationFault,
    pc: number,
    va: number,
    fetch: boolean,
    write: boolean,
    single: DataAccess | null,
    cm = false,
  ): void {
    const lower = this.el === 0;
    if (f.stage === 1) {
      const ec = fetch ? (lower ? EC.IABT_LOW : EC.IABT_CUR) : lower ? EC.DABT_LOW : EC.DABT_CUR;
      const iss = fetch
        ? issInstructionAbort({ fsc: f.fsc })
        : issDataAbort({ fsc: f.fsc, wnr: write && !cm, cm });
      this.takeException('sync', esr(ec, iss), pc, va);
      return;
    }
    // Stage 2: exit to the hypervisor. From EL1/EL0 it is always a "lower EL" abort.
    const sas = single ? ([1, 2, 4, 8].indexOf(single.size) as 0 | 1 | 2 | 3) : 0;
    const iss = fetch
      ? issInstructionAbort({ fsc: f.fsc, s1ptw: f.s1ptw })
      : issDataAbort({
          fsc: f.fsc,
          wnr: (write && !cm) || f.s1ptw,
          s1ptw: f.s1ptw,
          cm,
          ...(single && !f.s1ptw ? { isv: { sas, sse: single.signExtend, srt: single.rt, sf: single.sf, ar: single.acqRel } } : {}),
        });
    const ipa = f.ipa;
    this.dispatchExit({
      reason: fetch ? 'iabt_s2' : 'dabt_s2',
      esr: esr(fetch ? EC.IABT_LOW : EC.DABT_LOW, iss),
      pc,
      far: va,
      ipa,
      // HPFAR_EL2.FIPA holds IPA[51:12] in bits [43:4] (Arm ARM D17.2.51).
      hpfar: Math.floor(ipa / 0x1000) * 16,
      access: single && !f.s1ptw ? single : null,
    });
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
  }

  setStage2(r: Stage2Registers): void {
    this.translator.setStage2(r);
    this.uc.flushTlb();
  }

  addDescriptorMemory(block: RamBlock): void {
    this.translator.addDescriptorMemory(block);
  }

  inspect(va: number, access: AccessKind, el: number): TranslateOutcome {
    return this.translator.inspect(va, access, el);
  }

  descriptorMemory(): DescriptorMemory {
    return this.translator.regime.mem;
  }

  createBatch(regs: readonly BatchReg[]): RegisterBatch {
    return this.uc.createBatch(regs);
  }

  /** Invalidate cached translations in the model and in Unicorn. */
  flushTlb(): void {
    this.tlbFlushes++;
    this.translator.invalidateAll();
    this.uc.flushTlb();
    this.codeGuard.tlbFlushed();
  }

  close(): void {
    this.uc.close();
  }
}

const BARE_NATIVE: SysInsnRoute = Object.freeze({ route: 'native', reason: null });
const BARE_DEVICE: SysInsnRoute = Object.freeze({ route: 'device', reason: null });
const BARE_UNDEF: SysInsnRoute = Object.freeze({ route: 'undefined', reason: null });

/** With no EL2 model attached: the catalogue's own rules (a device answers its rows; EL2/EL3 rows are UNDEFINED). */
function bareRoute(entry: SysregEntry | undefined, el: number): SysInsnRoute {
  if (entry === undefined) return BARE_NATIVE;
  if (entry.minEl > 1 && entry.minEl > el) return BARE_UNDEF;
  return entry.device !== null ? BARE_DEVICE : BARE_NATIVE;
}
