/**
 * The register table hypemu exposes to GDB: one row per register, regnum = row index.
 *
 * Both the real target (over the vCPU) and the fake test target return this table, and the
 * stub derives target.xml, the `g` packet layout and the T-reply PC regnum from it, so the
 * list exists exactly once. Core and FPU names/order are what GDB's aarch64 tdesc validation
 * expects (gdb/features/aarch64-core.xml, aarch64-fpu.xml); the system-register feature is
 * ours and comes after them, consecutively numbered.
 */
import type { RegisterDescriptor } from './target.js';

export const FEATURE_CORE = 'org.gnu.gdb.aarch64.core';
export const FEATURE_FPU = 'org.gnu.gdb.aarch64.fpu';
export const FEATURE_SYSREGS = 'org.hypemu.sysregs';

type Enc = [op0: number, op1: number, crn: number, crm: number, op2: number];

/**
 * System registers shown to the debugger. EL1/EL0 ones are the guest's state; the EL2 ones are
 * the *virtual* EL2 registers of the hypervisor model (what the TypeScript EL2 sees/sets).
 * Encodings: Arm ARM DDI0487, D19 / "System register encoding" (op0, op1, CRn, CRm, op2).
 */
const SYSREGS: ReadonlyArray<readonly [name: string, enc: Enc]> = [
  // EL1/EL0 (guest) state
  ['sctlr_el1', [3, 0, 1, 0, 0]],
  ['cpacr_el1', [3, 0, 1, 0, 2]],
  ['ttbr0_el1', [3, 0, 2, 0, 0]],
  ['ttbr1_el1', [3, 0, 2, 0, 1]],
  ['tcr_el1', [3, 0, 2, 0, 2]],
  ['mair_el1', [3, 0, 10, 2, 0]],
  ['amair_el1', [3, 0, 10, 3, 0]],
  ['vbar_el1', [3, 0, 12, 0, 0]],
  ['esr_el1', [3, 0, 5, 2, 0]],
  ['afsr0_el1', [3, 0, 5, 1, 0]],
  ['afsr1_el1', [3, 0, 5, 1, 1]],
  ['far_el1', [3, 0, 6, 0, 0]],
  ['par_el1', [3, 0, 7, 4, 0]],
  ['elr_el1', [3, 0, 4, 0, 1]],
  ['spsr_el1', [3, 0, 4, 0, 0]],
  ['sp_el0', [3, 0, 4, 1, 0]],
  ['sp_el1', [3, 4, 4, 1, 0]],
  ['contextidr_el1', [3, 0, 13, 0, 1]],
  ['tpidr_el1', [3, 0, 13, 0, 4]],
  ['tpidr_el0', [3, 3, 13, 0, 2]],
  ['tpidrro_el0', [3, 3, 13, 0, 3]],
  ['cntkctl_el1', [3, 0, 14, 1, 0]],
  ['cntv_ctl_el0', [3, 3, 14, 3, 1]],
  ['cntv_cval_el0', [3, 3, 14, 3, 2]],
  ['cntvct_el0', [3, 3, 14, 0, 2]],
  ['currentel', [3, 0, 4, 2, 2]],
  ['midr_el1', [3, 0, 0, 0, 0]],
  ['mpidr_el1', [3, 0, 0, 0, 5]],
  // virtual EL2 (the hypervisor model's registers)
  ['hcr_el2', [3, 4, 1, 1, 0]],
  ['mdcr_el2', [3, 4, 1, 1, 1]],
  ['cptr_el2', [3, 4, 1, 1, 2]],
  ['hstr_el2', [3, 4, 1, 1, 3]],
  ['sctlr_el2', [3, 4, 1, 0, 0]],
  ['ttbr0_el2', [3, 4, 2, 0, 0]],
  ['tcr_el2', [3, 4, 2, 0, 2]],
  ['mair_el2', [3, 4, 10, 2, 0]],
  ['vttbr_el2', [3, 4, 2, 1, 0]],
  ['vtcr_el2', [3, 4, 2, 1, 2]],
  ['vpidr_el2', [3, 4, 0, 0, 0]],
  ['vmpidr_el2', [3, 4, 0, 0, 5]],
  ['esr_el2', [3, 4, 5, 2, 0]],
  ['far_el2', [3, 4, 6, 0, 0]],
  ['hpfar_el2', [3, 4, 6, 0, 4]],
  ['elr_el2', [3, 4, 4, 0, 1]],
  ['spsr_el2', [3, 4, 4, 0, 0]],
  ['sp_el2', [3, 6, 4, 1, 0]],
  ['vbar_el2', [3, 4, 12, 0, 0]],
  ['tpidr_el2', [3, 4, 13, 0, 2]],
  ['cnthctl_el2', [3, 4, 14, 1, 0]],
  ['cntvoff_el2', [3, 4, 14, 0, 3]],
];

function buildTable(): readonly RegisterDescriptor[] {
  const regs: RegisterDescriptor[] = [];
  for (let i = 0; i <= 30; i++) regs.push({ name: `x${i}`, bitsize: 64, type: 'int', feature: FEATURE_CORE, group: 'general' });
  regs.push({ name: 'sp', bitsize: 64, type: 'data_ptr', feature: FEATURE_CORE, group: 'general' });
  regs.push({ name: 'pc', bitsize: 64, type: 'code_ptr', feature: FEATURE_CORE, group: 'general' });
  // GDB's aarch64 core feature has a 32-bit cpsr (PSTATE as SPSR-formatted bits).
  regs.push({ name: 'cpsr', bitsize: 32, type: 'cpsr_flags', feature: FEATURE_CORE, group: 'general' });
  for (let i = 0; i <= 31; i++) regs.push({ name: `v${i}`, bitsize: 128, type: 'aarch64v', feature: FEATURE_FPU, group: 'vector' });
  regs.push({ name: 'fpsr', bitsize: 32, type: 'int', feature: FEATURE_FPU, group: 'float' });
  regs.push({ name: 'fpcr', bitsize: 32, type: 'int', feature: FEATURE_FPU, group: 'float' });
  for (const [name, [op0, op1, crn, crm, op2]] of SYSREGS) {
    regs.push({ name, bitsize: 64, type: 'uint64', feature: FEATURE_SYSREGS, group: 'system', sysreg: { op0, op1, crn, crm, op2 } });
  }
  return Object.freeze(regs);
}

/** The aarch64 register table (frozen). x0..x30 = 0..30, sp = 31, pc = 32, cpsr = 33, v0..v31 = 34..65, fpsr = 66, fpcr = 67, sysregs from 68. */
export const AARCH64_REGISTERS: readonly RegisterDescriptor[] = buildTable();

/** Register number by name in a table (-1 if absent). */
export function regnumOf(table: readonly RegisterDescriptor[], name: string): number {
  return table.findIndex((r) => r.name === name);
}
