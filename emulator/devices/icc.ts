/**
 * The GICv3 CPU interface's system registers (GIC Architecture Specification
 * IHI0069, 12.2 "AArch64 System register descriptions of the CPU interface"):
 * encoding → name, so the board can hand an MRS/MSR to the GIC model.
 */
import { sysregKey } from '../cpu/sysregs.js';

const rows: Array<[string, number, number, number, number, number]> = [
  ['ICC_PMR_EL1', 3, 0, 4, 6, 0],
  ['ICC_IAR0_EL1', 3, 0, 12, 8, 0],
  ['ICC_EOIR0_EL1', 3, 0, 12, 8, 1],
  ['ICC_HPPIR0_EL1', 3, 0, 12, 8, 2],
  ['ICC_BPR0_EL1', 3, 0, 12, 8, 3],
  ['ICC_AP0R0_EL1', 3, 0, 12, 8, 4],
  ['ICC_AP0R1_EL1', 3, 0, 12, 8, 5],
  ['ICC_AP0R2_EL1', 3, 0, 12, 8, 6],
  ['ICC_AP0R3_EL1', 3, 0, 12, 8, 7],
  ['ICC_AP1R0_EL1', 3, 0, 12, 9, 0],
  ['ICC_AP1R1_EL1', 3, 0, 12, 9, 1],
  ['ICC_AP1R2_EL1', 3, 0, 12, 9, 2],
  ['ICC_AP1R3_EL1', 3, 0, 12, 9, 3],
  ['ICC_DIR_EL1', 3, 0, 12, 11, 1],
  ['ICC_RPR_EL1', 3, 0, 12, 11, 3],
  ['ICC_SGI1R_EL1', 3, 0, 12, 11, 5],
  ['ICC_ASGI1R_EL1', 3, 0, 12, 11, 6],
  ['ICC_SGI0R_EL1', 3, 0, 12, 11, 7],
  ['ICC_IAR1_EL1', 3, 0, 12, 12, 0],
  ['ICC_EOIR1_EL1', 3, 0, 12, 12, 1],
  ['ICC_HPPIR1_EL1', 3, 0, 12, 12, 2],
  ['ICC_BPR1_EL1', 3, 0, 12, 12, 3],
  ['ICC_CTLR_EL1', 3, 0, 12, 12, 4],
  ['ICC_SRE_EL1', 3, 0, 12, 12, 5],
  ['ICC_IGRPEN0_EL1', 3, 0, 12, 12, 6],
  ['ICC_IGRPEN1_EL1', 3, 0, 12, 12, 7],
];

const BY_KEY = new Map<number, string>(rows.map(([n, op0, op1, crn, crm, op2]) => [sysregKey({ op0, op1, crn, crm, op2 }), n]));

/** The ICC register an encoding names, or null. */
export function iccRegByEncoding(e: { op0: number; op1: number; crn: number; crm: number; op2: number }): string | null {
  return BY_KEY.get(sysregKey(e)) ?? null;
}
