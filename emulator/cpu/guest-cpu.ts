/**
 * The CPU as the EL2 model (hyp/) sees it: what a hypervisor at EL2 can do to
 * the guest's PE on hardware (read and write its registers, PC and PSTATE and
 * system registers; inject an exception; maintain its TLBs; reach the memory
 * bus and the translation regime it installs), and nothing of how the machine
 * implements it (no Unicorn, no vCPU internals). The vCPU implements it.
 */
import type { MmioBus } from '../memory/bus.js';
import type { DescriptorMemory, RamBlock } from '../mmu/memory.js';
import type { Stage2Registers } from '../mmu/config.js';
import type { TranslateOutcome } from '../mmu/translate.js';
import type { TlbiOperation } from '../mmu/tlbi-op.js';
import type { CpuReg, RegisterBatch } from './cpu-regs.js';
import type { SysregCatalogue, SysregEncoding } from './sysreg-catalogue.js';
import type { AccessKind } from './translator.js';
import type { SysregAccessFields } from './esr.js';

export type ExceptionKind = 'sync' | 'irq' | 'fiq' | 'serror';

export type { CpuReg, RegisterBatch, CoreRegName } from './cpu-regs.js';

export interface GuestCpu {
  // ------------------------------------------------------------ registers
  pc: number;
  readonly pstate: number;
  /** The EL the guest is at (0 or 1). */
  readonly el: number;
  /** Xn (31 reads as XZR). */
  x(n: number): bigint;
  setX(n: number, v: bigint | number): void;
  /** Advance PC past the instruction that exited (KVM's kvm_incr_pc). */
  skipInstruction(): void;
  sysreg(e: SysregEncoding): bigint;
  setSysreg(e: SysregEncoding, v: bigint): boolean;
  /** Registers moved together (run context, EL1 context) in one call each way, named architecturally. */
  createBatch(regs: readonly CpuReg[]): RegisterBatch;
  /** The machine's system-register catalogue (what each encoding is, where it lives). */
  readonly sysregs: SysregCatalogue;

  // ----------------------------------------------------------- exceptions
  /** Exception entry to EL1 (Arm ARM D1.10.2), as an injection from EL2. */
  takeException(kind: ExceptionKind, esr: number, preferredReturn: number, far?: number): void;
  /**
   * A system-instruction trap found by the EL2 model itself (a guest hypervisor's code hook,
   * before the instruction runs): raised as an EC 0x18 exit at `pc`, gated by the debugger's
   * trap-break like any other exit, then handed to the handler.
   */
  raiseSysregExit(a: SysregAccessFields & { readonly pc: number; readonly value: bigint; readonly trap: string }): void;
  /** WFI: block until an interrupt is pending (virtual time moves to the next timer deadline). */
  waitForInterrupt(): void;

  // ------------------------------------------------------------------ TLB
  /** Perform a TLB maintenance operation for the current VMID: the model TLB by its scope, and the CPU's. */
  tlbi(op: TlbiOperation, xt: bigint, vmid: number): void;
  /** Invalidate every cached translation (model and CPU). */
  flushTlb(): void;

  // ----------------------------------------------- memory and translation
  /** The MMIO bus (user-space device models). */
  readonly bus: MmioBus;
  /** Install the stage-2 regime (VTTBR_EL2, VTCR_EL2, HCR_EL2) and drop translations made under the old one. */
  setStage2(r: Stage2Registers): void;
  /** Memory the walker may read stage-2 descriptors from besides guest RAM (the hypervisor's table pool). */
  addDescriptorMemory(block: RamBlock): void;
  /** Walk a VA in the current regime without side effects (AT, the debugger); `stage1Only`: the IPA is the output (AT S1E*). */
  inspect(va: number, access: AccessKind, el: number, opts?: { stage1Only?: boolean }): TranslateOutcome;
  /** What the walkers read descriptors from, by PA: guest RAM and every added pool (a guest hypervisor's tables). */
  descriptorMemory(): DescriptorMemory;
}
