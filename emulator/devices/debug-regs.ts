/**
 * The breakpoint and watchpoint registers (Arm ARM D19 "DBGBVR<n>_EL1", "DBGBCR<n>_EL1",
 * "DBGWVR<n>_EL1", "DBGWCR<n>_EL1") as a model the system-register catalogue answers, so no
 * guest write ever reaches the CPU core: Unicorn 2.1.1 crashes (SIGSEGV in generated code) once
 * a DBGBCR has its enable bit set. The counts are the ones ID_AA64DFR0_EL1 advertises (BRPs 6,
 * WRPs 4); higher-numbered registers keep their architectural rows (UNDEFINED).
 *
 * Values are stored with their RES0 bits cleared, as the register descriptions define them:
 * DBGBVR: VA[63:2] (bits [1:0] RES0); DBGBCR: BT [23:20], LBN [19:16], SSC [15:14], HMC [13],
 * BAS [8:5], PMC [2:1], E [0]; DBGWVR: VA[63:2]; DBGWCR: MASK [28:24], WT [20], LBN [19:16],
 * SSC [15:14], HMC [13], BAS [12:5], LSC [4:3], PAC [2:1], E [0].
 *
 * Breakpoints fire (armBreakpoints: a CPU code hook per enabled unlinked address-match
 * breakpoint, checked against the debug-exception enables before the instruction executes), and
 * so do watchpoints (armWatchpoints: a data hook per enabled watchpoint). Software step
 * (MDSCR_EL1.SS, kept here) is run by the vCPU (emulator/cpu/software-step.ts, StepSource is
 * this model); linked and context-matching breakpoints (BT != 0) are not modelled.
 *
 * Routing (Arm ARM D2.3 "Routing debug exceptions"): with MDCR_EL2.TDE or HCR_EL2.TGE set the
 * debug target EL is EL2, so breakpoint, watchpoint and step exceptions from EL1/EL0 are enabled
 * whatever MDSCR_EL1.KDE and PSTATE.D say (D2.4, AArch64.GenerateDebugExceptionsFrom: enabled
 * when the target EL is above the current one; the OS lock still disables them, MDSCR_EL1.MDE
 * and SS are still required) and the vCPU delivers them as EL2 exits (DebugCpu.debugException).
 */
import { defineSysreg, type SysregCatalogue, type SysregDef, type SysregSpec } from '../cpu/sysreg-catalogue.js';
import { applyState, captureState, type RestoreContext, type SnapshotContext, type Snapshottable, type StateValue } from '../snapshot/state.js';

export const NUM_BRPS = 6;
export const NUM_WRPS = 4;

const BVR_MASK = 0xffff_ffff_ffff_fffcn;
const BCR_MASK = 0x00ff_e1e7n;
const WVR_MASK = 0xffff_ffff_ffff_fffcn;
const WCR_MASK = 0x1f1f_ffffn;

type Kind = 'bvr' | 'bcr' | 'wvr' | 'wcr';
const MASKS: Record<Kind, bigint> = { bvr: BVR_MASK, bcr: BCR_MASK, wvr: WVR_MASK, wcr: WCR_MASK };
const OP2: Record<Kind, number> = { bvr: 4, bcr: 5, wvr: 6, wcr: 7 };
const NAME: Record<Kind, string> = { bvr: 'DBGBVR', bcr: 'DBGBCR', wvr: 'DBGWVR', wcr: 'DBGWCR' };

const D: SysregSpec = { storage: 'device', group: 'DEBUG', cpu: 'emulate', reset: 0n };
const defs: SysregDef[] = [];
const BY_NAME = new Map<string, { kind: Kind; n: number }>();
for (const kind of ['bvr', 'bcr', 'wvr', 'wcr'] as const) {
  const count = kind === 'bvr' || kind === 'bcr' ? NUM_BRPS : NUM_WRPS;
  for (let n = 0; n < count; n++) {
    const name = `${NAME[kind]}${n}_EL1`;
    defs.push(defineSysreg('reg', name, 2, 0, 0, n, OP2[kind], D));
    BY_NAME.set(name, { kind, n });
  }
}
// The OS lock (D2.5 "The OS Lock"): the core (QEMU 5 in Unicorn 2.1.1) has OSLSR_EL1 constant and
// OSLAR_EL1 a no-op, so the lock is kept here: OSLAR_EL1.OSLK sets it, OSLSR_EL1 reports it with
// OSLM = 0b10 (implemented); locked at cold reset (OSLSR_EL1 = 0xa).
const OS: SysregSpec = { storage: 'device', group: 'OSLOCK', cpu: 'emulate' };
defs.push(defineSysreg('reg', 'OSLAR_EL1', 2, 0, 1, 0, 4, { ...OS, access: 'wo' }));
defs.push(defineSysreg('reg', 'OSLSR_EL1', 2, 0, 1, 1, 4, { ...OS, access: 'ro', reset: 0xan }));
// MDSCR_EL1 is kept here too, so that a write reaches the model at once (software step: the vCPU
// steps while SS = 1, emulator/cpu/software-step.ts); the core gets a copy with SS clear (wired by
// the board), which the breakpoint checks read.
defs.push(defineSysreg('reg', 'MDSCR_EL1', 2, 0, 0, 2, 2, { storage: 'device', group: 'DEBUG', reset: 0n }));
/** The rows this model answers (they replace the architectural ones, which the core would run). */
export const DEBUG_REG_SYSREGS: readonly SysregDef[] = Object.freeze(defs);

/** What the breakpoint model needs from the CPU it watches. */
export interface DebugCpu {
  readonly el: number;
  readonly pstate: number;
  /** MDCR_EL2.TDE or HCR_EL2.TGE: the debug target EL is EL2 (D2.3). */
  readonly debugToEl2: boolean;
  sysreg(e: { op0: number; op1: number; crn: number; crm: number; op2: number }): bigint;
  /**
   * Take a debug exception with this syndrome (as EL1 would see it), to EL1 or, routed, to EL2;
   * `far` for a watchpoint; `guestTakes`: generated under the guest's own controls (DebugExit).
   */
  debugException(esr: number, pc: number, far: number | undefined, guestTakes: boolean): void;
  /** The EL2 model resumed this instruction's routed breakpoint/watchpoint as its own: do not raise it again (Vcpu.debugException). */
  skipsDebugEvent(pc: number): boolean;
  /** Add a code hook on one instruction address (returns a handle), remove one. */
  hookInsn(va: bigint, fn: (pc: number) => void): number;
  unhook(h: number): void;
  /** Drop translated code around one instruction address, so a hook change takes effect there. */
  retranslate(va: bigint): void;
  /** Add a hook on data accesses to [begin, end] (inclusive), called before each access. */
  hookData(begin: bigint, end: bigint, fn: (write: boolean, addr: number, size: number) => void): number;
  /** The PC (of the instruction making the access, inside a data hook). */
  readonly pc: number;
  /**
   * Inside a data hook, before the access: the instruction is abandoned, not counted; the
   * function returned puts back what it changed (emulator/cpu/abandoned-access.ts), before the
   * exception is taken.
   */
  abandonAccess(addr: number, size: number, write: boolean): () => void;
  /** Run `fn` once the current instruction is done, before the next one. */
  afterInstruction(fn: () => void): void;
}

const MDSCR_KDE = 1n << 13n;
const MDSCR_MDE = 1n << 15n;
const PSTATE_D = 1 << 9;
/** ESR_ELx EC values (D17.2.37): Breakpoint from a lower EL / without a change in EL; IFSC 0x22 = debug exception. */
export const EC_BREAKPOINT_LOWER = 0x30;
export const EC_BREAKPOINT_CUR = 0x31;
const IFSC_DEBUG = 0x22;
/** Watchpoint from a lower EL / without a change in EL (D17.2.37); ISS WnR is bit 6, DFSC 0x22. */
export const EC_WATCHPOINT_LOWER = 0x34;
export const EC_WATCHPOINT_CUR = 0x35;

export class DebugRegs implements Snapshottable {
  /** Machine snapshots (emulator/snapshot/state.ts): every data field except hooks, dataHooks, armed, armedWatch, pendingWatch (wiring, host resources). */
  snapshot(ctx: SnapshotContext): StateValue {
    return captureState(this, ctx, ['hooks', 'dataHooks', 'armed', 'armedWatch', 'pendingWatch']);
  }
  restore(state: StateValue, ctx: RestoreContext): void {
    applyState(this, state, ctx);
  }

  /** Called after a breakpoint register changed (the board re-arms the hooks). */
  onChange: (() => void) | null = null;
  private hooks: number[] = [];
  private dataHooks: number[] = [];
  private armedWatch = '';
  /** The armed breakpoints as "va/pmc" strings, to skip re-arming when nothing changed. */
  private armed: string[] = [];

  readonly bvr = new Array<bigint>(NUM_BRPS).fill(0n);
  readonly bcr = new Array<bigint>(NUM_BRPS).fill(0n);
  readonly wvr = new Array<bigint>(NUM_WRPS).fill(0n);
  readonly wcr = new Array<bigint>(NUM_WRPS).fill(0n);

  /** OSLSR_EL1.OSLK. */
  osLocked = true;
  /** MDSCR_EL1 as the guest wrote it. */
  mdscr = 0n;
  /** Called after an MDSCR_EL1 write (the board copies it to the core and re-evaluates stepping). */
  onMdscr: ((v: bigint) => void) | null = null;

  /** MDSCR_EL1.SS: the vCPU steps (software-step.ts). */
  stepMode(): boolean {
    return (this.mdscr & 1n) === 1n;
  }

  /**
   * Software step active at this EL (Arm ARM D2.12, with D2.4 "Enabling debug exceptions from the
   * current EL"): MDSCR_EL1.SS and debug exceptions enabled from this EL (generateFrom).
   */
  stepActive(el: number, pstate: number, toEl2 = false): boolean {
    return this.stepMode() && this.generateFrom(el, pstate, toEl2);
  }

  /**
   * AArch64.GenerateDebugExceptionsFrom (D2.4 "Enabling debug exceptions"): never with the OS lock
   * set (the double lock, OSDLR_EL1, is not modelled: never set); the debug target EL is EL2 when
   * MDCR_EL2.TDE or HCR_EL2.TGE routes them there (D2.3), else EL1; from the target EL itself only
   * with MDSCR_EL1.KDE = 1 and PSTATE.D = 0, from a lower EL always, from a higher one never.
   */
  generateFrom(el: number, pstate: number, toEl2: boolean): boolean {
    if (this.osLocked || el > 1) return false;
    const target = toEl2 ? 2 : 1;
    if (el < target) return true;
    return (this.mdscr & MDSCR_KDE) !== 0n && (pstate & PSTATE_D) === 0;
  }

  read(name: string): bigint {
    if (name === 'OSLSR_EL1') return 0x8n | (this.osLocked ? 0x2n : 0n);
    if (name === 'MDSCR_EL1') return this.mdscr;
    const r = BY_NAME.get(name);
    return r === undefined ? 0n : this[r.kind][r.n]!;
  }

  write(name: string, v: bigint): void {
    if (name === 'OSLAR_EL1') {
      this.osLocked = (v & 1n) === 1n;
      // The lock gates software step too: the vCPU re-evaluates stepping at the next instruction.
      this.onMdscr?.(this.mdscr);
      return;
    }
    if (name === 'MDSCR_EL1') {
      this.mdscr = BigInt.asUintN(64, v);
      this.onMdscr?.(this.mdscr);
      return;
    }
    const r = BY_NAME.get(name);
    if (r !== undefined) this[r.kind][r.n] = BigInt.asUintN(64, v) & MASKS[r.kind];
    if (r !== undefined) this.onChange?.();
  }

  /**
   * Re-arm the CPU's hooks: one per enabled unlinked instruction-address-match breakpoint
   * (DBGBCR.BT = 0b0000, E = 1). When the CPU reaches that address the hook checks whether
   * breakpoint exceptions are enabled (Arm ARM D2.4 "Enabling debug exceptions from the current
   * EL": OS lock clear, MDSCR_EL1.MDE, and at EL1 also MDSCR_EL1.KDE with
   * PSTATE.D clear) and whether DBGBCR.PMC selects the current EL, then takes the Breakpoint
   * exception to EL1 before the instruction executes: ESR EC 0x31 (from EL1) or 0x30 (from
   * EL0), IL = 1, IFSC 0x22; ELR = the instruction (MDCR_EL2.TDE routing to EL2 is not modelled).
   */
  armBreakpoints(cpu: DebugCpu): void {
    const want: Array<{ va: bigint; pmc: number }> = [];
    for (let n = 0; n < NUM_BRPS; n++) {
      const bcr = this.bcr[n]!;
      if ((bcr & 1n) === 0n || ((bcr >> 20n) & 0xfn) !== 0n) continue;
      // VA[48:2], sign-extended from bit 48.
      want.push({ va: BigInt.asUintN(64, BigInt.asIntN(49, this.bvr[n]!)), pmc: Number((bcr >> 1n) & 3n) });
    }
    const key = want.map((w) => `${w.va}/${w.pmc}`);
    if (key.join() === this.armed.join()) return;
    for (const h of this.hooks) cpu.unhook(h);
    // Code translated with (or without) a hook keeps (or lacks) it: retranslate the old and new sites.
    for (const k of this.armed) cpu.retranslate(BigInt(k.split('/')[0]!));
    this.hooks = want.map(({ va, pmc }) => cpu.hookInsn(va, (pc) => this.breakpointHit(cpu, pmc, pc)));
    for (const w of want) cpu.retranslate(w.va);
    this.armed = key;
  }

  /**
   * Re-arm the data hooks: one per enabled watchpoint (DBGWCR.E = 1) over its address range
   * (DBGWVR 8-byte aligned with BAS selecting bytes, or 2^MASK bytes when MASK is set). On an
   * access overlapping the selected bytes, of a kind LSC selects (bit 0 loads, bit 1 stores),
   * at an EL PAC selects, with debug exceptions enabled, the Watchpoint exception is taken to
   * EL1: EC 0x35 (from EL1) / 0x34 (from EL0), ISS WnR and DFSC 0x22, FAR = the accessed
   * address, ELR = the instruction, before the instruction executes (watchpointHit).
   */
  armWatchpoints(cpu: DebugCpu): void {
    const want: Array<{ lo: bigint; hi: bigint; bas: number; lsc: number; pac: number; base: bigint }> = [];
    for (let n = 0; n < NUM_WRPS; n++) {
      const wcr = this.wcr[n]!;
      if ((wcr & 1n) === 0n) continue;
      const mask = Number((wcr >> 24n) & 0x1fn);
      const va = BigInt.asUintN(64, BigInt.asIntN(49, this.wvr[n]!));
      const lsc = Number((wcr >> 3n) & 3n);
      const pac = Number((wcr >> 1n) & 3n);
      if (mask >= 3) {
        const size = 1n << BigInt(mask);
        const lo = va & ~(size - 1n);
        want.push({ lo, hi: lo + size - 1n, bas: 0xff, lsc, pac, base: lo });
      } else {
        const base = va & ~7n;
        want.push({ lo: base, hi: base + 7n, bas: Number((wcr >> 5n) & 0xffn), lsc, pac, base });
      }
    }
    const key = want.map((w) => `${w.lo}-${w.hi}/${w.bas}/${w.lsc}/${w.pac}`).join();
    if (key === this.armedWatch) return;
    for (const h of this.dataHooks) cpu.unhook(h);
    this.dataHooks = want.map((w) =>
      cpu.hookData(w.lo, w.hi, (write, addr, size) => {
        if (((w.lsc >> (write ? 1 : 0)) & 1) === 0) return;
        if (w.bas !== 0xff || w.hi - w.lo !== 7n) {
          // Byte-select check: does [addr, addr + size) touch a selected byte?
          const a = BigInt.asUintN(64, BigInt(addr));
          let hit = false;
          for (let i = 0n; i < BigInt(size) && !hit; i++) {
            const off = a + i - w.base;
            hit = off >= 0n && off < 8n ? ((w.bas >> Number(off)) & 1) === 1 : a + i >= w.lo && a + i <= w.hi;
          }
          if (!hit) return;
        }
        this.watchpointHit(cpu, w.pac, write, addr, size);
      }),
    );
    this.armedWatch = key;
  }

  private pendingWatch = false;
  /**
   * A Watchpoint exception is taken before the access (D2.10 "Watchpoint exceptions": the
   * instruction is not executed; ELR = it). The core cannot cancel an access from its hook: the
   * vCPU stops there and the instruction is put back as before it (registers, the bytes a store
   * overwrote: abandoned-access.ts) before the exception is taken. A re-execution (the guest's
   * handler returning with PSTATE.D set, or the EL2 model resuming past its own event) then
   * performs the access once, as on hardware.
   */
  private watchpointHit(cpu: DebugCpu, pac: number, write: boolean, addr: number, size: number): void {
    if (this.pendingWatch || !this.debugEnabled(cpu, pac) || cpu.skipsDebugEvent(cpu.pc)) return;
    this.pendingWatch = true;
    const guestTakes = !cpu.debugToEl2 || this.debugEnabled(cpu, pac, false);
    const pc = cpu.pc;
    const el = cpu.el;
    const esr = (((el === 1 ? EC_WATCHPOINT_CUR : EC_WATCHPOINT_LOWER) << 26) | (1 << 25) | (write ? 1 << 6 : 0) | IFSC_DEBUG) >>> 0;
    const undo = cpu.abandonAccess(addr, size, write);
    cpu.afterInstruction(() => {
      this.pendingWatch = false;
      undo();
      cpu.debugException(esr, pc, addr, guestTakes);
    });
  }

  /**
   * A breakpoint or watchpoint exception is generated (AArch64.CheckBreakpoint/CheckWatchpoint):
   * its PMC/PAC field selects the current EL, MDSCR_EL1.MDE = 1 (the guest's MDSCR_EL1, kept
   * here; the core holds a copy), and debug exceptions are enabled from this EL (generateFrom).
   */
  private debugEnabled(cpu: DebugCpu, pmc: number, toEl2 = cpu.debugToEl2): boolean {
    const el = cpu.el;
    if (el > 1 || ((pmc >> (el === 1 ? 0 : 1)) & 1) === 0) return false;
    if ((this.mdscr & MDSCR_MDE) === 0n) return false;
    return this.generateFrom(el, cpu.pstate, toEl2);
  }

  private breakpointHit(cpu: DebugCpu, pmc: number, pc: number): void {
    if (!this.debugEnabled(cpu, pmc) || cpu.skipsDebugEvent(pc)) return;
    const guestTakes = !cpu.debugToEl2 || this.debugEnabled(cpu, pmc, false);
    cpu.debugException((((cpu.el === 1 ? EC_BREAKPOINT_CUR : EC_BREAKPOINT_LOWER) << 26) | (1 << 25) | IFSC_DEBUG) >>> 0, pc, undefined, guestTakes);
  }

  /** Enabled breakpoints (DBGBCR.E = 1), for the debugger and a future event model. */
  enabledBreakpoints(): number[] {
    return this.bcr.flatMap((c, i) => ((c & 1n) === 1n ? [i] : []));
  }
}

/** Register the breakpoint/watchpoint rows, answered by `regs` (replacing the core's). */
export function registerDebugRegs(catalogue: SysregCatalogue, regs: DebugRegs): void {
  catalogue.register(DEBUG_REG_SYSREGS, { read: (e) => regs.read(e.name), write: (e, v) => regs.write(e.name, v) }, { replace: true });
}
