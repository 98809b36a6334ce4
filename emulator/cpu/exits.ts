/**
 * The interface between the machine (emulator/) and whatever runs at EL2
 * (hyp/). The machine detects that an access or instruction must leave the
 * guest, computes the architectural syndrome (ESR_EL2, FAR_EL2, HPFAR_EL2) and
 * hands an Exit to the registered handler; it never imports the handler.
 */
import type { GuestCpu, ExceptionKind } from './guest-cpu.js';
import type { SysregAccessFields } from './esr.js';
import type { SysregEntry } from './sysreg-catalogue.js';

/** Exit reasons as the statistics and the debugger name them. */
export type ExitReason = 'sysreg' | 'hvc' | 'smc' | 'dabt_s2' | 'iabt_s2' | 'wfx' | 'irq' | 'debug';

interface ExitBase {
  /** ESR_EL2 value the hardware would have written. */
  readonly esr: number;
  /** Address of the instruction that caused the exit. */
  readonly pc: number;
}

export interface HvcExit extends ExitBase {
  readonly reason: 'hvc';
  readonly imm: number;
}
export interface SmcExit extends ExitBase {
  readonly reason: 'smc';
  readonly imm: number;
}
/** A trapped MSR/MRS/SYS/SYSL (EC 0x18). */
export interface SysregExit extends ExitBase, SysregAccessFields {
  readonly reason: 'sysreg';
  /** For a write: the value of Xt (XZR reads as 0). */
  readonly value: bigint;
  /** The catalogue entry of the encoding (null: an encoding the machine does not know). */
  readonly row: SysregEntry | null;
  /** Why it trapped, as the EL2 model named it ('TVM', 'TID3', 'MDCR.TDA', 'emulate', 'unknown', ...). */
  readonly trap: string | null;
}
/** A single general-purpose-register load/store as decoded for ISV = 1 syndromes. */
export interface DataAccess {
  readonly size: 1 | 2 | 4 | 8;
  readonly write: boolean;
  readonly rt: number;
  readonly signExtend: boolean;
  /** Destination is 64-bit (SF). */
  readonly sf: boolean;
  readonly acqRel: boolean;
}
/**
 * The whole access as the vCPU decoded it from the instruction (decode.ts),
 * for what an ISV syndrome cannot describe: pairs, writeback, SIMD,
 * exclusives, atomics. What a hypervisor that decodes, as KVM does not,
 * needs to emulate the access on a device.
 */
export interface DecodedAccess {
  /** VA of the first byte the instruction accesses. */
  readonly address: number;
  /** Bytes per register transfer. */
  readonly elementSize: number;
  readonly totalSize: number;
  readonly write: boolean;
  readonly rt: number;
  /** Second register of a pair, -1 if none. */
  readonly rt2: number;
  readonly signExtend: boolean;
  readonly sf: boolean;
  readonly simd: boolean;
  /** LD1-4/ST1-4 structures (lanes, interleaving): not whole registers. */
  readonly structure: boolean;
  readonly exclusive: boolean;
  readonly atomic: boolean;
  readonly cacheMaintenance: boolean;
  /** Base register (31 = SP), and its new value when the instruction writes it back. */
  readonly rn: number;
  readonly writebackValue: bigint | null;
}
export interface Stage2AbortExit extends ExitBase {
  readonly reason: 'dabt_s2' | 'iabt_s2';
  /** FAR_EL2: the faulting virtual address. */
  readonly far: number;
  /** The faulting IPA (HPFAR_EL2 holds IPA[51:12] in bits [43:4]). */
  readonly ipa: number;
  readonly hpfar: number;
  /** Present when ISV = 1: the hypervisor can emulate the access from the syndrome alone. */
  readonly access: DataAccess | null;
  /** The decoded instruction, when the vCPU could decode it (absent for fetches and table walks). */
  readonly decoded?: DecodedAccess | null;
}
export interface WfxExit extends ExitBase {
  readonly reason: 'wfx';
  readonly wfe: boolean;
}
export interface IrqExit extends ExitBase {
  readonly reason: 'irq';
}
/**
 * A debug exception from EL1/EL0 routed to EL2 by MDCR_EL2.TDE or HCR_EL2.TGE (Arm ARM D2.3
 * "Routing debug exceptions"): ESR_EL2 EC 0x30 (Breakpoint), 0x32 (Software Step), 0x34
 * (Watchpoint), all "from a lower Exception level", or 0x3C (BRK); `pc` is the preferred return
 * address (the instruction, for a step the next one to run), `far` the watched address.
 */
export interface DebugExit extends ExitBase {
  readonly reason: 'debug';
  readonly far: number;
  /**
   * Whether the guest's own controls (debug target EL1: MDSCR_EL1.KDE, PSTATE.D, D2.4) would have
   * generated it: what a hypervisor reads from the guest's MDSCR_EL1 and SPSR_EL2 to tell the
   * guest's debug events from its own. The vCPU computes it as its debug model does.
   */
  readonly guestTakes: boolean;
  /**
   * The syndrome the guest's own debug state would give it (EL1's view: EC 0x31/0x33/0x35 from
   * EL1, 0x30/0x32/0x34 from EL0): what a hypervisor reflecting the event injects. It differs
   * from ESR_EL2 for the step EL2 completed of an instruction that made the guest's own step
   * active (MSR DAIFClr, an MDSCR_EL1 write): for EL2 a stepped instruction, ISV = 1; for the
   * guest, stepping just became active without a stepped instruction, ISV = 0 (D2.12).
   */
  readonly guestEsr: number;
}

export type Exit = HvcExit | SmcExit | SysregExit | Stage2AbortExit | WfxExit | IrqExit | DebugExit;

/**
 * The syndrome a debug exception has when taken to EL2 from EL1/EL0 (always a lower EL): the
 * "without a change in EL" classes become their "from a lower EL" pair; ISS and IL unchanged.
 */
export function debugEsrToEl2(esr: number): number {
  const ec = esr >>> 26;
  return ec === 0x31 || ec === 0x33 || ec === 0x35 ? (((ec - 1) << 26) | (esr & 0x3ff_ffff)) >>> 0 : esr >>> 0;
}

/** Is this ESR EC a debug exception (breakpoint, step, watchpoint, BRK)? */
export function isDebugEc(ec: number): boolean {
  return (ec >= 0x30 && ec <= 0x35) || ec === 0x3c;
}

/** How a run ended, as far as the machine knows. */
export type HaltReason =
  | { kind: 'guest-exit'; status: number }
  | { kind: 'system-off' }
  | { kind: 'system-reset' }
  | { kind: 'insn-limit' }
  | { kind: 'fault'; message: string }
  | { kind: 'debugger-kill' };

/** What the handler wants after an exit. `resume` continues at the vCPU's current PC. */
export type ExitAction = { kind: 'resume' } | { kind: 'halt'; halt: HaltReason };

export const RESUME: ExitAction = Object.freeze({ kind: 'resume' });

/** A system-instruction access as the machine sees it, before any trap decision. */
export interface SysInsnAccess extends SysregAccessFields {
  /** Xt for writes. */
  readonly value: bigint;
  readonly pc: number;
  /** Exception level the guest is at (0 or 1). */
  readonly el: number;
}

/**
 * Where a system instruction goes, decided once per access: run natively on
 * the CPU, answered by the device that registered the row, trapped to EL2
 * (an EC 0x18 exit carrying the row and `reason`), UNDEFINED at the current
 * EL (an Undefined Instruction exception, EC 0x00), trapped to EL1 by an EL1
 * control (an EL0 access PMUSERENR_EL0 does not enable: a system access trap,
 * EC 0x18, to EL1), or already handled by the EL2 model (PC advanced).
 */
export interface SysInsnRoute {
  readonly route: 'native' | 'device' | 'trap' | 'undefined' | 'el1-trap' | 'handled';
  readonly reason: string | null;
}

/** Where a WFI/WFE that would wait goes (El2Handler.routeWfx). */
export type WfxRoute = 'native' | 'el1' | 'el2';

/** The trap controls routeSysInsn depends on (HCR_EL2 halves, MDCR_EL2 low half). */
export interface SysRoutingInputs {
  lo: number;
  hi: number;
  mdcr: number;
}

export interface El2Handler {
  /**
   * Called for every MRS/MSR/SYS/SYSL the guest executes, with the catalogue
   * entry of its encoding (undefined when the machine does not know it).
   */
  routeSysInsn(cpu: GuestCpu, access: SysInsnAccess, entry: SysregEntry | undefined): SysInsnRoute;
  /**
   * Optional: fill `out` with the trap controls routeSysInsn depends on and return true when,
   * for as long as they keep their values, routeSysInsn is a pure function of (them, entry,
   * access.read, access.el) with no side effect. The system-instruction filter
   * (sysinsn-filter.ts) then asks it once per state and lets native instructions bypass
   * JavaScript. False (or no method): no filter, every instruction reaches the hook.
   * The controls may change only inside an exit handler or between slices.
   */
  sysInsnRoutingInputs?(out: SysRoutingInputs): boolean;
  /**
   * Where a WFI/WFE at the current EL that would wait goes: 'native' (it waits), 'el1' (an EL0
   * WFx that SCTLR_EL1.nTWI/nTWE traps: EC 0x01 to EL1), 'el2' (HCR_EL2.TWI/TWE: an exit).
   */
  routeWfx(cpu: GuestCpu, wfe: boolean): WfxRoute;
  /** Should an SMC at the current EL exit (HCR_EL2.TSC, EL1 only)? Otherwise it is UNDEFINED (no EL3). */
  trapsSmc(cpu: GuestCpu): boolean;
  /** Does an HVC at the current EL go to EL2? Otherwise it is UNDEFINED (EL0, or HCR_EL2.HCD = 1). */
  takesHvc(cpu: GuestCpu): boolean;
  /**
   * Optional: are debug exceptions from EL1/EL0 routed to EL2 (MDCR_EL2.TDE or HCR_EL2.TGE, Arm ARM
   * D2.3)? Then they are 'debug' exits, and enabled whatever MDSCR_EL1.KDE and PSTATE.D say (D2.4:
   * the debug target EL is above the current one). No method: never.
   */
  routesDebugToEl2?(cpu: GuestCpu): boolean;
  handleExit(cpu: GuestCpu, exit: Exit): ExitAction;
  /**
   * Optional: an exception the vCPU is about to take to EL1, which the handler may take
   * itself instead (a guest hypervisor at virtual EL2 takes its exceptions at VBAR_EL2).
   * Returns true when it did the exception entry.
   */
  takeException?(cpu: GuestCpu, kind: ExceptionKind, esr: number, preferredReturn: number, far?: number): boolean;
  /**
   * Optional: is a pending physical IRQ/FIQ masked now? Where an interrupt is taken depends on
   * the routing controls of the EL above the guest (Arm ARM D1.3.6, "Asynchronous exception
   * masking": routed to EL2 by HCR_EL2.IMO/FMO it is taken from EL1/EL0 whatever PSTATE.I/F
   * say, and at EL2 only when they are clear; not routed, it is never taken at EL2). Null
   * (or no method): PSTATE.I/F of the CPU decide.
   */
  interruptMasked?(cpu: GuestCpu, kind: 'irq' | 'fiq'): boolean | null;
  /**
   * Optional: instruction words that get a code hook wherever the guest fetches them (the
   * code-page scan asks for every word of a code page). A guest hypervisor needs its ERETs
   * (ERET at EL1 runs natively in Unicorn) and its guests' system instructions (a PC change
   * from the system-instruction hook is not honoured for registers accessible at EL1: the
   * rest of the translation block runs; one from a code hook is).
   */
  hooksCodeSite?(word: number): boolean;
  /**
   * Called before a hooked instruction executes, with the word now at `pc`. Returns true
   * when the handler performed it (and set PC), false to let the CPU execute it.
   */
  onCodeSite?(cpu: GuestCpu, pc: number, word: number): boolean;
  /** The vCPU stopped running (runFor returns): complete anything deferred (coalesced MMIO writes). */
  drain?(): void;
}
