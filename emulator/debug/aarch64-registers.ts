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
import { SR_FLAG, type SysregDef } from '../cpu/sysreg-catalogue.js';
import { ARCH_SYSREGS } from '../cpu/sysreg-rows.js';
import { TIMER_SYSREGS } from '../devices/generic-timer.js';
import { ICC_SYSREGS } from '../devices/icc.js';

export const FEATURE_CORE = 'org.gnu.gdb.aarch64.core';
export const FEATURE_FPU = 'org.gnu.gdb.aarch64.fpu';
export const FEATURE_SYSREGS = 'org.hypemu.sysregs';

/**
 * The register table for a machine whose catalogue holds `sysregs`: core and FPU registers, then
 * every catalogue row flagged DEBUGGER (EL1/EL0 guest state, then the EL2 model's registers), in
 * catalogue order, named in lower case as GDB users type them.
 */
export function buildRegisterTable(sysregs: readonly SysregDef[]): readonly RegisterDescriptor[] {
  const regs: RegisterDescriptor[] = [];
  for (let i = 0; i <= 30; i++) regs.push({ name: `x${i}`, bitsize: 64, type: 'int', feature: FEATURE_CORE, group: 'general' });
  regs.push({ name: 'sp', bitsize: 64, type: 'data_ptr', feature: FEATURE_CORE, group: 'general' });
  regs.push({ name: 'pc', bitsize: 64, type: 'code_ptr', feature: FEATURE_CORE, group: 'general' });
  // GDB's aarch64 core feature has a 32-bit cpsr (PSTATE as SPSR-formatted bits).
  regs.push({ name: 'cpsr', bitsize: 32, type: 'cpsr_flags', feature: FEATURE_CORE, group: 'general' });
  for (let i = 0; i <= 31; i++) regs.push({ name: `v${i}`, bitsize: 128, type: 'aarch64v', feature: FEATURE_FPU, group: 'vector' });
  regs.push({ name: 'fpsr', bitsize: 32, type: 'int', feature: FEATURE_FPU, group: 'float' });
  regs.push({ name: 'fpcr', bitsize: 32, type: 'int', feature: FEATURE_FPU, group: 'float' });
  for (const d of sysregs) {
    if ((d.flags & SR_FLAG.DEBUGGER) === 0) continue;
    const { op0, op1, crn, crm, op2 } = d;
    regs.push({ name: d.name.toLowerCase(), bitsize: 64, type: 'uint64', feature: FEATURE_SYSREGS, group: 'system', sysreg: { op0, op1, crn, crm, op2 } });
  }
  return Object.freeze(regs);
}

/** The virt board's aarch64 register table (frozen). x0..x30 = 0..30, sp = 31, pc = 32, cpsr = 33, v0..v31 = 34..65, fpsr = 66, fpcr = 67, sysregs from 68. */
export const AARCH64_REGISTERS: readonly RegisterDescriptor[] = buildRegisterTable([...ARCH_SYSREGS, ...TIMER_SYSREGS, ...ICC_SYSREGS]);

/** Register number by name in a table (-1 if absent). */
export function regnumOf(table: readonly RegisterDescriptor[], name: string): number {
  return table.findIndex((r) => r.name === name);
}
