/**
 * The guest hypervisor's virtual EL2 register file and the EL1 context it keeps for L2
 * while it runs (non-VHE: HCR_EL2.E2H reads as 0, so *_EL12 / *_EL02 do not exist).
 *
 * Encodings: Arm ARM D19.2 / D23.2 register descriptions (op0 3, op1 4 for EL2). While L1
 * runs at virtual EL2 the CPU runs it at EL1 with its EL2 translation regime loaded into
 * the EL1 registers (KVM's translate_*_el2_to_*_el1 for a non-VHE guest hypervisor), so
 * every EL1 register L1 touches is in fact L2's and lives here, in memory.
 */
import { sysregKey, SR } from '../../emulator/cpu/sysregs.js';
import type { SysregEncoding } from '../../emulator/cpu/sysreg-catalogue.js';

/** [name, op1, CRn, CRm, op2] of the EL2 registers (op0 = 3, op1 = 4). */
const EL2_ROWS: ReadonlyArray<readonly [string, number, number, number, number]> = [
  ['VPIDR_EL2', 4, 0, 0, 0], ['VMPIDR_EL2', 4, 0, 0, 5],
  ['SCTLR_EL2', 4, 1, 0, 0], ['ACTLR_EL2', 4, 1, 0, 1],
  ['HCR_EL2', 4, 1, 1, 0], ['MDCR_EL2', 4, 1, 1, 1], ['CPTR_EL2', 4, 1, 1, 2], ['HSTR_EL2', 4, 1, 1, 3], ['HFGRTR_EL2', 4, 1, 1, 4],
  ['HFGWTR_EL2', 4, 1, 1, 5], ['HFGITR_EL2', 4, 1, 1, 6], ['HACR_EL2', 4, 1, 1, 7],
  ['TTBR0_EL2', 4, 2, 0, 0], ['TTBR1_EL2', 4, 2, 0, 1], ['TCR_EL2', 4, 2, 0, 2],
  ['VTTBR_EL2', 4, 2, 1, 0], ['VTCR_EL2', 4, 2, 1, 2],
  ['SPSR_EL2', 4, 4, 0, 0], ['ELR_EL2', 4, 4, 0, 1],
  ['AFSR0_EL2', 4, 5, 1, 0], ['AFSR1_EL2', 4, 5, 1, 1], ['ESR_EL2', 4, 5, 2, 0],
  ['FAR_EL2', 4, 6, 0, 0], ['HPFAR_EL2', 4, 6, 0, 4],
  ['MAIR_EL2', 4, 10, 2, 0], ['AMAIR_EL2', 4, 10, 3, 0],
  ['VBAR_EL2', 4, 12, 0, 0],
  ['CONTEXTIDR_EL2', 4, 13, 0, 1], ['TPIDR_EL2', 4, 13, 0, 2],
  ['CNTVOFF_EL2', 4, 14, 0, 3], ['CNTHCTL_EL2', 4, 14, 1, 0],
  ['CNTHP_TVAL_EL2', 4, 14, 2, 0], ['CNTHP_CTL_EL2', 4, 14, 2, 1], ['CNTHP_CVAL_EL2', 4, 14, 2, 2],
];

/** SP_EL1, accessible from EL2 only (op1 4, CRn 4, CRm 1, op2 0): L2's EL1 stack pointer. */
export const KEY_SP_EL1 = sysregKey({ op0: 3, op1: 4, crn: 4, crm: 1, op2: 0 });
/** CurrentEL (op1 0, CRn 4, CRm 2, op2 2): reads EL << 2. */
export const KEY_CURRENT_EL = sysregKey({ op0: 3, op1: 0, crn: 4, crm: 2, op2: 2 });

const EL2_BY_KEY = new Map<number, string>();
for (const [n, op1, crn, crm, op2] of EL2_ROWS) EL2_BY_KEY.set(sysregKey({ op0: 3, op1, crn, crm, op2 }), n);

export function el2RegName(key: number): string | undefined {
  return EL2_BY_KEY.get(key);
}
export const VEL2_REG_NAMES: readonly string[] = EL2_ROWS.map((r) => r[0]);

/**
 * SCTLR_EL2 reset value with E2H = 0 (RES1 bits 29:28, 23:22, 18, 16, 11, 5:4) and
 * HCR_EL2.RW reading as 1 (AArch64-only EL1, as on a CPU without AArch32 at EL1).
 */
const RESET: Record<string, bigint> = { SCTLR_EL2: 0x30c5_0830n };

export class VirtualEl2 {
  private readonly values = new Map<string, bigint>();
  constructor() {
    for (const n of VEL2_REG_NAMES) this.values.set(n, RESET[n] ?? 0n);
  }
  get(name: string): bigint {
    return this.values.get(name) ?? 0n;
  }
  set(name: string, v: bigint): void {
    this.values.set(name, BigInt.asUintN(64, v));
  }
  /** HCR_EL2 bit test */
  hcr(bit: number): boolean {
    return ((this.get('HCR_EL2') >> BigInt(bit)) & 1n) === 1n;
  }
  toJSON(): Record<string, string> {
    const o: Record<string, string> = {};
    for (const [k, v] of this.values) o[k] = '0x' + v.toString(16);
    return o;
  }
}

/**
 * L2's EL1 context: what L1 programs at virtual EL2 (trapped and stored here) and what
 * the CPU holds while L2 runs. Timer registers and EL0 registers stay on the CPU
 * (shared, as the hardware would share them without FEAT_ECV / with E2H = 0).
 */
export const L2_EL1_CONTEXT: ReadonlyArray<readonly [string, SysregEncoding]> = [
  ['SCTLR_EL1', SR.SCTLR_EL1],
  ['CPACR_EL1', SR.CPACR_EL1],
  ['TTBR0_EL1', SR.TTBR0_EL1],
  ['TTBR1_EL1', SR.TTBR1_EL1],
  ['TCR_EL1', SR.TCR_EL1],
  ['ESR_EL1', SR.ESR_EL1],
  ['AFSR0_EL1', SR.AFSR0_EL1],
  ['AFSR1_EL1', SR.AFSR1_EL1],
  ['FAR_EL1', SR.FAR_EL1],
  ['MAIR_EL1', SR.MAIR_EL1],
  ['AMAIR_EL1', SR.AMAIR_EL1],
  ['VBAR_EL1', SR.VBAR_EL1],
  ['CONTEXTIDR_EL1', SR.CONTEXTIDR_EL1],
  ['TPIDR_EL1', SR.TPIDR_EL1],
  ['PAR_EL1', SR.PAR_EL1],
  ['ELR_EL1', SR.ELR_EL1],
  ['SPSR_EL1', SR.SPSR_EL1],
];
const L2_EL1_BY_KEY = new Map<number, number>();
L2_EL1_CONTEXT.forEach(([, e], i) => L2_EL1_BY_KEY.set(sysregKey(e), i));

/** Index of an EL1 context register in L2_EL1_CONTEXT, or -1. */
export function l2El1Index(key: number): number {
  return L2_EL1_BY_KEY.get(key) ?? -1;
}

/**
 * TCR_EL2 (E2H = 0) to TCR_EL1 for running L1's EL2 regime at EL1: T0SZ [5:0], IRGN0,
 * ORGN0, SH0, TG0 [15:8] and TBI [20] keep their places (TBI -> TBI0 [37]); PS [18:16]
 * becomes IPS [34:32]; EPD1 [23] is set so TTBR1 is never walked (the EL2 regime has one
 * VA range). Arm ARM D19.2 TCR_EL2 / TCR_EL1.
 */
export function tcrEl2ToEl1(tcr: bigint): bigint {
  let v = tcr & 0xffffn; // T0SZ, EPD0 (RES0 at EL2), IRGN0, ORGN0, SH0, TG0
  v |= ((tcr >> 16n) & 7n) << 32n; // PS -> IPS
  if ((tcr >> 20n) & 1n) v |= 1n << 37n; // TBI -> TBI0
  v |= 1n << 23n; // EPD1
  return v;
}

/**
 * SCTLR_EL2 (E2H = 0) to SCTLR_EL1: M, A, C, SA, I, WXN, EE keep their places; EL0
 * controls are irrelevant to an EL2 regime. SPAN is set so exception entry to (virtual)
 * EL2 never sets PAN (EL2 with E2H = 0 has no PAN). Arm ARM D19.2 SCTLR_EL2 / SCTLR_EL1.
 */
export function sctlrEl2ToEl1(sctlr: bigint): bigint {
  const keep = (1n << 0n) | (1n << 1n) | (1n << 2n) | (1n << 3n) | (1n << 12n) | (1n << 19n) | (1n << 25n);
  return (sctlr & keep) | (1n << 23n) | 0x30d0_0800n; // RES1 of SCTLR_EL1 (29:28, 23:22, 20, 11)
}
