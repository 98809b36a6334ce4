/**
 * Registers of the PE named architecturally, for the batch moves of the EL2 model (the world
 * switch's run and EL1 contexts, the nested model's SP banking): what a hypervisor names on
 * hardware (X0-X30, V0-V31, PC, PSTATE, SP, SP_EL0, SP_EL1, FPCR, FPSR, system registers by
 * encoding), not a CPU core's register ids. The vCPU maps them to Unicorn's once, when a
 * batch is created (`unicornBatchReg`), so `hyp/` never sees a Unicorn id.
 */
import { Reg, xreg, type BatchReg } from '../unicorn/uc.js';
import type { SysregEncoding } from './sysreg-catalogue.js';

/** Special-purpose and FP control registers (Arm ARM C5.2, D1.4, C5.3 FPCR/FPSR). */
export type CoreRegName = 'pc' | 'pstate' | 'sp' | 'sp_el0' | 'sp_el1' | 'fpcr' | 'fpsr';

/**
 * One register of a batch: Xn (n = 0..30), Vn as its 128 bits (n = 0..31), a special-purpose
 * register, or a system register by encoding. `sp` is the SP of the current PSTATE.SP selection.
 */
export type CpuReg =
  | { readonly x: number }
  | { readonly v: number }
  | { readonly core: CoreRegName }
  | { readonly sysreg: SysregEncoding };

/** A set of registers moved in one call each way; values by position in the list it was made from. */
export interface RegisterBatch {
  /** Read every register of the batch from the CPU. */
  read(): void;
  /** Write every register of the batch to the CPU. */
  write(): void;
  /** The 64-bit value of register i (the low half of a V register). */
  get(i: number): bigint;
  set(i: number, v: bigint): void;
  /** 16 bytes of register i (V registers), a live view: copy what you keep. */
  bytesOf(i: number): Uint8Array;
}

const CORE: Record<CoreRegName, number> = {
  pc: Reg.PC,
  pstate: Reg.PSTATE,
  sp: Reg.SP,
  sp_el0: Reg.SP_EL0,
  sp_el1: Reg.SP_EL1,
  fpcr: Reg.FPCR,
  fpsr: Reg.FPSR,
};

/** The Unicorn batch entry for a named register. */
export function unicornBatchReg(r: CpuReg): BatchReg {
  if ('sysreg' in r) return { sysreg: r.sysreg };
  if ('core' in r) return { id: CORE[r.core] };
  if ('x' in r) {
    if (!Number.isInteger(r.x) || r.x < 0 || r.x > 30) throw new RangeError(`X${r.x} is not a general-purpose register`);
    return { id: xreg(r.x) };
  }
  if (!Number.isInteger(r.v) || r.v < 0 || r.v > 31) throw new RangeError(`V${r.v} is not a SIMD&FP register`);
  return { id: Reg.Q0 + r.v };
}
