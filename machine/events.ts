/**
 * What a Machine tells its listeners: every EL2 exit the hypervisor model handled, and the
 * guest's console output. Events are a discriminated union; the observer that builds them
 * runs only while someone listens (Machine.on installs it, the last off() removes it), so a
 * machine nobody listens to pays nothing per exit.
 */
import type { El2Handler, Exit, ExitAction, ExitReason, SysInsnAccess, SysInsnRoute, SysRoutingInputs, WfxRoute } from '../emulator/cpu/exits.js';
import type { SysregEntry } from '../emulator/cpu/sysreg-catalogue.js';
import type { Vcpu } from '../emulator/cpu/vcpu.js';
import type { ExceptionKind } from '../emulator/cpu/guest-cpu.js';
import { vaToBigint } from '../emulator/types.js';
import { genericName } from '../emulator/cpu/sysreg-catalogue.js';
import type { Hypervisor } from '../hyp/hypervisor.js';

/** How the EL2 model handled an exit: at EL2 without a context switch, through a world switch, or on to the user-space device model. */
export type ExitPath = 'fastPath' | 'worldSwitch' | 'userspace';

interface ExitEventBase {
  readonly type: 'exit';
  /** The vCPU that trapped (0 unless --smp). */
  readonly vcpu: number;
  /** ESR_EL2 as the hardware would have written it. */
  readonly esr: number;
  /** The trapping instruction's address (64-bit VA). */
  readonly pc: bigint;
  /** Exception level the guest was at (0 or 1). */
  readonly el: number;
  /** Instructions the guest had retired when it trapped (virtual time: 1 ns each). */
  readonly instructions: number;
  readonly path: ExitPath;
  /** What the model decided: 'resume', or 'halt' when the exit ended the run. */
  readonly action: ExitAction['kind'];
  /** Virtual time at the trap (ns: instructions plus time skipped idle in WFI). */
  readonly virtualTimeNs: number;
  /** Host nanoseconds the model spent on this exit (varies run to run). */
  readonly hostNs: number;
  /** Hardware cycles the cost model charges for it (--cost). */
  readonly cycles: number;
}

export interface SysregExitEvent extends ExitEventBase {
  readonly reason: 'sysreg';
  /** The register or system instruction; value is Xt (written, or read back after the model answered). */
  readonly sysreg: { readonly name: string; readonly value: bigint; readonly write: boolean };
}
export interface AbortExitEvent extends ExitEventBase {
  readonly reason: 'dabt_s2' | 'iabt_s2';
  /** The faulting IPA. */
  readonly ipa: number;
  /** Present when the access went to an emulated device (path 'userspace', or 'fastPath' for a coalesced MMIO write). */
  readonly mmio?: { readonly ipa: number; readonly size: number; readonly write: boolean; readonly value: bigint };
}
export interface HypercallExitEvent extends ExitEventBase {
  readonly reason: 'hvc' | 'smc';
  readonly imm: number;
  /** The function identifier (x0 at the call). */
  readonly function: bigint;
}
export interface WfxExitEvent extends ExitEventBase {
  readonly reason: 'wfx';
  readonly wfe: boolean;
}
export interface IrqExitEvent extends ExitEventBase {
  readonly reason: 'irq';
}
/** A debug exception routed to EL2 (MDCR_EL2.TDE, --trap-debug): EC 0x30/0x32/0x34/0x3C in `esr`. */
export interface DebugExitEvent extends ExitEventBase {
  readonly reason: 'debug';
  /** FAR_EL2 (a watchpoint's address; 0 otherwise). */
  readonly far: number;
  /** The model reflected it to the guest's EL1 vector (else it was the host's own and resumed past). */
  readonly reflected: boolean;
}

export type ExitEvent = SysregExitEvent | AbortExitEvent | HypercallExitEvent | WfxExitEvent | IrqExitEvent | DebugExitEvent;

export interface ConsoleEvent {
  readonly type: 'console';
  /** The vCPU whose UART writes these are (0 unless --smp). */
  readonly vcpu: number;
  /** Guest UART output, a line (or up to 4 KiB) at a time, decoded as UTF-8. */
  readonly text: string;
}

/** The guest took an interrupt (IRQ/FIQ/SError exception entry at EL1). */
export interface InterruptEvent {
  readonly type: 'interrupt';
  /** The vCPU that took it (0 unless --smp). */
  readonly vcpu: number;
  readonly kind: 'irq' | 'fiq' | 'serror';
  readonly instructions: number;
  readonly virtualTimeNs: number;
  /** Where the guest was interrupted (ELR_EL1, the preferred return address). */
  readonly pc: bigint;
}

export type MachineEvent = ExitEvent | ConsoleEvent | InterruptEvent;

/** Listener signatures by event name: `on('exit', (e: ExitEvent) => ...)`, `on('console', (text: string) => ...)`. */
export interface MachineEventMap {
  exit: (e: ExitEvent) => void;
  console: (text: string, e: ConsoleEvent) => void;
  interrupt: (e: InterruptEvent) => void;
}
export type MachineEventName = keyof MachineEventMap;

/**
 * Builds ExitEvents: an El2Handler that stands between the vCPU and the hypervisor model while
 * an 'exit' listener exists (it sees the registers before and after the model handles each exit),
 * and forwards everything else untouched.
 */
export class ExitObserver implements El2Handler {
  private fast: number;
  private user: number;

  constructor(
    private readonly hyp: Hypervisor,
    private readonly emit: (e: ExitEvent) => void,
    /** The vCPU's index, carried by its events. */
    private readonly vcpu = 0,
  ) {
    this.fast = hyp.stats.exits.fastPath;
    this.user = hyp.stats.exits.userspace;
  }

  routeSysInsn(vcpu: Vcpu, access: SysInsnAccess, entry: SysregEntry | undefined): SysInsnRoute {
    return this.hyp.routeSysInsn(vcpu, access, entry);
  }
  sysInsnRoutingInputs(out: SysRoutingInputs): boolean {
    return this.hyp.sysInsnRoutingInputs(out);
  }
  routeWfx(vcpu: Vcpu, wfe: boolean): WfxRoute {
    return this.hyp.routeWfx(vcpu, wfe);
  }
  trapsSmc(vcpu: Vcpu): boolean {
    return this.hyp.trapsSmc(vcpu);
  }
  takesHvc(vcpu: Vcpu): boolean {
    return this.hyp.takesHvc(vcpu);
  }
  routesDebugToEl2(vcpu: Vcpu): boolean {
    return this.hyp.routesDebugToEl2(vcpu);
  }
  // The optional members too: without drain() the coalesced-MMIO ring was not emptied when runFor
  // returned (console bytes late, a snapshot point with writes in flight); without the others a
  // guest hypervisor (--nested) did not run under an observer.
  drain(): void {
    this.hyp.drain();
  }
  takeException(v: Vcpu, kind: ExceptionKind, esr: number, ret: number, far?: number): boolean {
    return this.hyp.takeException(v, kind, esr, ret, far);
  }
  get hooksCodeSite(): ((word: number) => boolean) | undefined {
    return this.hyp.hooksCodeSite;
  }
  onCodeSite(v: Vcpu, pc: number, word: number): boolean {
    return this.hyp.onCodeSite(v, pc, word);
  }
  // A guest hypervisor's routing of physical interrupts (HCR_EL2.IMO/FMO, Arm ARM D1.3.6): without
  // it an observed nested-irq never took its IRQ at virtual EL2 (it ran until the instruction limit).
  interruptMasked(v: Vcpu, kind: 'irq' | 'fiq'): boolean | null {
    return this.hyp.interruptMasked(v, kind);
  }

  handleExit(v: Vcpu, exit: Exit): ExitAction {
    const instructions = v.currentInstructions;
    const virtualTimeNs = v.virtualTimeNs;
    const el = v.el;
    const cost = this.hyp.stats.cost;
    const ns0 = cost.hostNs;
    const cycles0 = cost.modelCycles;
    // A hypercall's x0 is overwritten by its result; a write's Xt is what was written.
    const x0 = exit.reason === 'hvc' || exit.reason === 'smc' ? v.x(0) : 0n;
    const seq0 = v.exceptionSeq;
    const action = this.hyp.handleExit(v, exit);
    const s = this.hyp.stats.exits;
    const path: ExitPath = s.userspace !== this.user ? 'userspace' : s.fastPath !== this.fast ? 'fastPath' : 'worldSwitch';
    this.fast = s.fastPath;
    this.user = s.userspace;
    // One object literal per reason, all fields in one order (no spread): one allocation, stable shapes.
    const esr = exit.esr >>> 0;
    const pc = vaToBigint(exit.pc);
    const kind = action.kind;
    const hostNs = cost.hostNs - ns0;
    const cycles = cost.modelCycles - cycles0;
    let e: ExitEvent;
    switch (exit.reason) {
      case 'sysreg': {
        const name = exit.row?.name ?? genericName(exit);
        const value = exit.read ? (exit.rt === 31 ? 0n : v.x(exit.rt)) : exit.value;
        e = { type: 'exit', vcpu: this.vcpu, reason: 'sysreg', esr, pc, el, instructions, path, action: kind, virtualTimeNs, hostNs, cycles, sysreg: { name, value, write: !exit.read } };
        break;
      }
      case 'dabt_s2':
      case 'iabt_s2': {
        const a = exit.access;
        if ((path === 'userspace' || path === 'fastPath') && a !== null) {
          const value = a.rt === 31 ? 0n : v.x(a.rt);
          e = { type: 'exit', vcpu: this.vcpu, reason: exit.reason, esr, pc, el, instructions, path, action: kind, virtualTimeNs, hostNs, cycles, ipa: exit.ipa, mmio: { ipa: exit.ipa, size: a.size, write: a.write, value } };
        } else e = { type: 'exit', vcpu: this.vcpu, reason: exit.reason, esr, pc, el, instructions, path, action: kind, virtualTimeNs, hostNs, cycles, ipa: exit.ipa };
        break;
      }
      case 'hvc':
      case 'smc':
        e = { type: 'exit', vcpu: this.vcpu, reason: exit.reason, esr, pc, el, instructions, path, action: kind, virtualTimeNs, hostNs, cycles, imm: exit.imm, function: x0 };
        break;
      case 'wfx':
        e = { type: 'exit', vcpu: this.vcpu, reason: 'wfx', esr, pc, el, instructions, path, action: kind, virtualTimeNs, hostNs, cycles, wfe: exit.wfe };
        break;
      case 'irq':
        e = { type: 'exit', vcpu: this.vcpu, reason: 'irq', esr, pc, el, instructions, path, action: kind, virtualTimeNs, hostNs, cycles };
        break;
      case 'debug':
        e = { type: 'exit', vcpu: this.vcpu, reason: 'debug', esr, pc, el, instructions, path, action: kind, virtualTimeNs, hostNs, cycles, far: exit.far, reflected: v.exceptionSeq !== seq0 };
        break;
    }
    this.emit(e);
    return action;
  }
}

export type { ExitReason };
