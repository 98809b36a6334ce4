/**
 * Encodings of the system registers the machine itself names in code
 * (exception entry, the translation regime, the world switch), taken from the
 * catalogue's rows (emulator/cpu/sysreg-rows.ts) so an encoding is written once.
 */
import { ARCH_SYSREGS } from './sysreg-rows.js';
import { sysregKey, type SysregEncoding } from './sysreg-catalogue.js';

export { sysregKey };

const NAMES = [
  'SCTLR_EL1', 'CPACR_EL1', 'TTBR0_EL1', 'TTBR1_EL1', 'TCR_EL1', 'SPSR_EL1', 'ELR_EL1', 'SP_EL0',
  'AFSR0_EL1', 'AFSR1_EL1', 'ESR_EL1', 'FAR_EL1', 'PAR_EL1', 'MAIR_EL1', 'AMAIR_EL1', 'VBAR_EL1',
  'CONTEXTIDR_EL1', 'TPIDR_EL1', 'CSSELR_EL1', 'TPIDR_EL0', 'TPIDRRO_EL0',
  'CNTFRQ_EL0', 'CNTPCT_EL0', 'CNTVCT_EL0', 'CNTPCTSS_EL0', 'CNTVCTSS_EL0', 'FPCR', 'FPSR',
] as const;
type SrName = (typeof NAMES)[number];

function build(): Record<SrName, SysregEncoding> {
  const out = {} as Record<SrName, SysregEncoding>;
  for (const n of NAMES) {
    const d = ARCH_SYSREGS.find((r) => r.name === n);
    if (!d) throw new Error(`SR: no catalogue row ${n}`);
    out[n] = Object.freeze({ op0: d.op0, op1: d.op1, crn: d.crn, crm: d.crm, op2: d.op2 });
  }
  return Object.freeze(out);
}

export const SR: Readonly<Record<SrName, SysregEncoding>> = build();
