/**
 * System-register encodings the machine itself needs (exception entry, the
 * generic timer, the translation regime). The hypervisor's full descriptor
 * table lives in hyp/; these are the architectural encodings (Arm ARM D17,
 * "AArch64 System Register Descriptions"), written as {op0, op1, crn, crm, op2}.
 */
import type { SysregEncoding } from '../unicorn/uc.js';

const enc = (op0: number, op1: number, crn: number, crm: number, op2: number): SysregEncoding =>
  Object.freeze({ op0, op1, crn, crm, op2 });

export const SR = {
  SCTLR_EL1: enc(3, 0, 1, 0, 0),
  CPACR_EL1: enc(3, 0, 1, 0, 2),
  TTBR0_EL1: enc(3, 0, 2, 0, 0),
  TTBR1_EL1: enc(3, 0, 2, 0, 1),
  TCR_EL1: enc(3, 0, 2, 0, 2),
  SPSR_EL1: enc(3, 0, 4, 0, 0),
  ELR_EL1: enc(3, 0, 4, 0, 1),
  SP_EL0: enc(3, 0, 4, 1, 0),
  AFSR0_EL1: enc(3, 0, 5, 1, 0),
  AFSR1_EL1: enc(3, 0, 5, 1, 1),
  ESR_EL1: enc(3, 0, 5, 2, 0),
  FAR_EL1: enc(3, 0, 6, 0, 0),
  PAR_EL1: enc(3, 0, 7, 4, 0),
  MAIR_EL1: enc(3, 0, 10, 2, 0),
  AMAIR_EL1: enc(3, 0, 10, 3, 0),
  VBAR_EL1: enc(3, 0, 12, 0, 0),
  CONTEXTIDR_EL1: enc(3, 0, 13, 0, 1),
  TPIDR_EL1: enc(3, 0, 13, 0, 4),
  CNTKCTL_EL1: enc(3, 0, 14, 1, 0),
  CSSELR_EL1: enc(3, 2, 0, 0, 0),
  TPIDR_EL0: enc(3, 3, 13, 0, 2),
  TPIDRRO_EL0: enc(3, 3, 13, 0, 3),
  CNTFRQ_EL0: enc(3, 3, 14, 0, 0),
  CNTPCT_EL0: enc(3, 3, 14, 0, 1),
  CNTVCT_EL0: enc(3, 3, 14, 0, 2),
  CNTPCTSS_EL0: enc(3, 3, 14, 0, 5),
  CNTVCTSS_EL0: enc(3, 3, 14, 0, 6),
  CNTP_TVAL_EL0: enc(3, 3, 14, 2, 0),
  CNTP_CTL_EL0: enc(3, 3, 14, 2, 1),
  CNTP_CVAL_EL0: enc(3, 3, 14, 2, 2),
  CNTV_TVAL_EL0: enc(3, 3, 14, 3, 0),
  CNTV_CTL_EL0: enc(3, 3, 14, 3, 1),
  CNTV_CVAL_EL0: enc(3, 3, 14, 3, 2),
  FPCR: enc(3, 3, 4, 4, 0),
  FPSR: enc(3, 3, 4, 4, 1),
} as const;

/** Pack an encoding into one integer key: op0:op1:crn:crm:op2 (2+3+4+4+3 bits), as KVM's sys_reg() macro. */
export function sysregKey(e: { op0: number; op1: number; crn: number; crm: number; op2: number }): number {
  return (e.op0 << 14) | (e.op1 << 11) | (e.crn << 7) | (e.crm << 3) | e.op2;
}

export const KEY = {
  CNTFRQ_EL0: sysregKey(SR.CNTFRQ_EL0),
  CNTPCT_EL0: sysregKey(SR.CNTPCT_EL0),
  CNTVCT_EL0: sysregKey(SR.CNTVCT_EL0),
  CNTPCTSS_EL0: sysregKey(SR.CNTPCTSS_EL0),
  CNTVCTSS_EL0: sysregKey(SR.CNTVCTSS_EL0),
} as const;
