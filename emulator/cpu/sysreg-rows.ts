/**
 * The architectural rows of the system-register catalogue
 * (emulator/cpu/sysreg-catalogue.ts): one row per AArch64 system register or
 * system instruction (TLBI/DC/IC/AT) the machine knows, in the spirit of KVM's
 * arch/arm64/kvm/sys_regs.c and QEMU's cpregs (our own rows). Rows that a
 * device answers are registered by the device (emulator/devices/icc.ts, the
 * generic timer); the EL2 model's trap conditions are attached by hyp/.
 *
 * This file is a data table, and longer than the ~450-line guideline for that
 * reason: one row per register reads better than any generator.
 *
 * Register descriptions cited by title are in Arm ARM D19 ("AArch64 System
 * Register Descriptions"; D17 in older issues); TLBI/DC/IC/AT encodings in
 * C5 "A64 System instructions for cache maintenance / address translation /
 * TLB maintenance".
 */
import { tlbiOperation } from '../mmu/tlbi-op.js';
import { defineSysreg, SR_FLAG, genericName, type SysregDef, type SysregSpec } from './sysreg-catalogue.js';

const reg = (name: string, op0: number, op1: number, crn: number, crm: number, op2: number, s: SysregSpec) =>
  defineSysreg('reg', name, op0, op1, crn, crm, op2, s);
const op = (name: string, op0: number, op1: number, crn: number, crm: number, op2: number, s: SysregSpec) =>
  defineSysreg('op', name, op0, op1, crn, crm, op2, s);

const { TRANSLATION, MMU_INPUT, EL1_CONTEXT, DEBUGGER } = SR_FLAG;
/** Switched by the world switch and shown to the debugger. */
const CTXD = EL1_CONTEXT | DEBUGGER;
/** ... and a new value changes what translations mean. */
const XLAT = CTXD | TRANSLATION | MMU_INPUT;

// ---------------------------------------------------------------- row groups

/** The VM group of HCR_EL2.TVM/TRVM (D19.2.48, TVM and TRVM field descriptions); seed 000's fast-path set. */
const VM: SysregSpec = { storage: 'el1', group: 'VM' };
const EL1: SysregSpec = { storage: 'el1', group: 'CTX' };
const PSTATE: SysregSpec = { storage: 'pstate', group: 'PSTATE' };

function vmRegs(): SysregDef[] {
  return [
    // SCTLR_EL1 reset: the RES1 bits of an implementation without FEAT_ExS, FEAT_CSV2_2, FEAT_PAN,
    // FEAT_LSMAOC (bits 11, 20, 22, 23, 28, 29) and everything else 0 (MMU, caches off).
    // KVM resets to 0x00C50078 (an older RES1 set); we follow the register description.
    reg('SCTLR_EL1', 3, 0, 1, 0, 0, { ...VM, flags: XLAT, reset: 0x30d0_0800n }),
    reg('TTBR0_EL1', 3, 0, 2, 0, 0, { ...VM, flags: XLAT }),
    reg('TTBR1_EL1', 3, 0, 2, 0, 1, { ...VM, flags: XLAT }),
    reg('TCR_EL1', 3, 0, 2, 0, 2, { ...VM, flags: XLAT }),
    reg('AFSR0_EL1', 3, 0, 5, 1, 0, { ...VM, flags: CTXD, reset: 0n }),
    reg('AFSR1_EL1', 3, 0, 5, 1, 1, { ...VM, flags: CTXD, reset: 0n }),
    reg('ESR_EL1', 3, 0, 5, 2, 0, { ...VM, flags: CTXD }),
    reg('FAR_EL1', 3, 0, 6, 0, 0, { ...VM, flags: CTXD }),
    reg('MAIR_EL1', 3, 0, 10, 2, 0, { ...VM, flags: CTXD | MMU_INPUT }),
    reg('AMAIR_EL1', 3, 0, 10, 3, 0, { ...VM, flags: CTXD, reset: 0n }),
    reg('CONTEXTIDR_EL1', 3, 0, 13, 0, 1, { ...VM, flags: CTXD, reset: 0n }),
  ];
}

function el1Context(): SysregDef[] {
  return [
    reg('ACTLR_EL1', 3, 0, 1, 0, 1, { storage: 'el1', group: 'ACTLR', reset: 0n }),
    reg('CPACR_EL1', 3, 0, 1, 0, 2, { ...EL1, flags: CTXD, reset: 0n, note: 'trapped by CPTR_EL2.TCPAC, not HCR_EL2' }),
    reg('SPSR_EL1', 3, 0, 4, 0, 0, { ...EL1, flags: DEBUGGER, note: 'moved with the run context' }),
    reg('ELR_EL1', 3, 0, 4, 0, 1, { ...EL1, flags: DEBUGGER, note: 'moved with the run context' }),
    reg('SP_EL0', 3, 0, 4, 1, 0, { ...EL1, flags: DEBUGGER, note: 'moved with the run context' }),
    reg('PAR_EL1', 3, 0, 7, 4, 0, { ...EL1, flags: CTXD }),
    reg('VBAR_EL1', 3, 0, 12, 0, 0, { ...EL1, flags: CTXD, reset: 0n }),
    reg('ISR_EL1', 3, 0, 12, 1, 0, { ...EL1, access: 'ro', note: 'pending IRQ/FIQ/SError: the vGIC model answers in emulation' }),
    reg('DISR_EL1', 3, 0, 12, 1, 1, { storage: 'el1', group: 'RAS', reset: 0n, cpu: 'emulate', note: 'FEAT_RAS (hidden; absent from the core): RAZ/WI' }),
    reg('TPIDR_EL1', 3, 0, 13, 0, 4, { ...EL1, flags: CTXD }),
    // EL0 context (switched too).
    reg('TPIDR_EL0', 3, 3, 13, 0, 2, { storage: 'el0', group: 'CTX', flags: CTXD, el0: 'always' }),
    reg('TPIDRRO_EL0', 3, 3, 13, 0, 3, { storage: 'el0', group: 'CTX', flags: CTXD, el0: 'always', note: 'read-only at EL0' }),
    // Floating point.
    reg('FPCR', 3, 3, 4, 4, 0, { storage: 'fp', group: 'FP', el0: 'always' }),
    reg('FPSR', 3, 3, 4, 4, 1, { storage: 'fp', group: 'FP', el0: 'always' }),
    // PSTATE as registers (C5 "Special-purpose registers").
    reg('NZCV', 3, 3, 4, 2, 0, { ...PSTATE, el0: 'always' }),
    reg('DAIF', 3, 3, 4, 2, 1, { ...PSTATE, el0: 'always', note: 'EL0 access needs SCTLR_EL1.UMA' }),
    reg('SPSel', 3, 0, 4, 2, 0, PSTATE),
    reg('CurrentEL', 3, 0, 4, 2, 2, { ...PSTATE, flags: DEBUGGER, access: 'ro' }),
    reg('PAN', 3, 0, 4, 2, 3, PSTATE),
    reg('UAO', 3, 0, 4, 2, 4, PSTATE),
    // FEAT_DIT / FEAT_SSBS: absent from the core and hidden in the feature set, so UNDEFINED natively.
    reg('DIT', 3, 3, 4, 2, 5, { ...PSTATE, el0: 'always', note: 'FEAT_DIT (hidden): UNDEFINED' }),
    reg('SSBS', 3, 3, 4, 2, 6, { ...PSTATE, el0: 'always', note: 'FEAT_SSBS (hidden): UNDEFINED' }),
  ];
}

/** Pointer authentication keys (FEAT_PAuth): trapped while HCR_EL2.APK == 0 (D19.2.48, APK). */
function pauthKeys(): SysregDef[] {
  const P: SysregSpec = { storage: 'el1', group: 'PAUTH' };
  return [
    reg('APIAKEYLO_EL1', 3, 0, 2, 1, 0, P),
    reg('APIAKEYHI_EL1', 3, 0, 2, 1, 1, P),
    reg('APIBKEYLO_EL1', 3, 0, 2, 1, 2, P),
    reg('APIBKEYHI_EL1', 3, 0, 2, 1, 3, P),
    reg('APDAKEYLO_EL1', 3, 0, 2, 2, 0, P),
    reg('APDAKEYHI_EL1', 3, 0, 2, 2, 1, P),
    reg('APDBKEYLO_EL1', 3, 0, 2, 2, 2, P),
    reg('APDBKEYHI_EL1', 3, 0, 2, 2, 3, P),
    reg('APGAKEYLO_EL1', 3, 0, 2, 3, 0, P),
    reg('APGAKEYHI_EL1', 3, 0, 2, 3, 1, P),
  ];
}

/** LORegions (FEAT_LOR), trapped by HCR_EL2.TLOR; hidden from the guest as KVM does (ID_AA64MMFR1_EL1.LO = 0). */
function lorRegs(): SysregDef[] {
  const L: SysregSpec = { storage: 'emulated', group: 'LOR', reset: 0n, cpu: 'emulate' };
  return [
    reg('LORSA_EL1', 3, 0, 10, 4, 0, L),
    reg('LOREA_EL1', 3, 0, 10, 4, 1, L),
    reg('LORN_EL1', 3, 0, 10, 4, 2, L),
    reg('LORC_EL1', 3, 0, 10, 4, 3, L),
    reg('LORID_EL1', 3, 0, 10, 4, 7, { ...L, access: 'ro' }),
  ];
}

/** RAS error records (FEAT_RAS), trapped by HCR_EL2.TERR; RAZ/WI (ID_AA64PFR0_EL1.RAS = 0). */
function rasRegs(): SysregDef[] {
  const R: SysregSpec = { storage: 'emulated', group: 'RAS', reset: 0n, cpu: 'emulate' };
  return [
    reg('ERRIDR_EL1', 3, 0, 5, 3, 0, { ...R, access: 'ro' }),
    reg('ERRSELR_EL1', 3, 0, 5, 3, 1, R),
    reg('ERXFR_EL1', 3, 0, 5, 4, 0, { ...R, access: 'ro' }),
    reg('ERXCTLR_EL1', 3, 0, 5, 4, 1, R),
    reg('ERXSTATUS_EL1', 3, 0, 5, 4, 2, R),
    reg('ERXADDR_EL1', 3, 0, 5, 4, 3, R),
    reg('ERXMISC0_EL1', 3, 0, 5, 5, 0, R),
    reg('ERXMISC1_EL1', 3, 0, 5, 5, 1, R),
  ];
}

/** Names in the ID space op0=3 op1=0 CRn=0 CRm=1..7 (D19.2 "ID register space"); missing op2 = unallocated (RAZ). */
export const ID_SPACE_NAMES: Readonly<Record<number, readonly (string | null)[]>> = {
  1: ['ID_PFR0_EL1', 'ID_PFR1_EL1', 'ID_DFR0_EL1', 'ID_AFR0_EL1', 'ID_MMFR0_EL1', 'ID_MMFR1_EL1', 'ID_MMFR2_EL1', 'ID_MMFR3_EL1'],
  2: ['ID_ISAR0_EL1', 'ID_ISAR1_EL1', 'ID_ISAR2_EL1', 'ID_ISAR3_EL1', 'ID_ISAR4_EL1', 'ID_ISAR5_EL1', 'ID_MMFR4_EL1', 'ID_ISAR6_EL1'],
  3: ['MVFR0_EL1', 'MVFR1_EL1', 'MVFR2_EL1', null, 'ID_PFR2_EL1', 'ID_DFR1_EL1', 'ID_MMFR5_EL1', null],
  4: ['ID_AA64PFR0_EL1', 'ID_AA64PFR1_EL1', null, null, 'ID_AA64ZFR0_EL1', 'ID_AA64SMFR0_EL1', null, null],
  5: ['ID_AA64DFR0_EL1', 'ID_AA64DFR1_EL1', null, null, 'ID_AA64AFR0_EL1', 'ID_AA64AFR1_EL1', null, null],
  6: ['ID_AA64ISAR0_EL1', 'ID_AA64ISAR1_EL1', 'ID_AA64ISAR2_EL1', null, null, null, null, null],
  7: ['ID_AA64MMFR0_EL1', 'ID_AA64MMFR1_EL1', 'ID_AA64MMFR2_EL1', null, null, null, null, null],
};


function idRegs(): SysregDef[] {
  const rows: SysregDef[] = [];
  // ID group 3 (D19.2.48, TID3): every encoding op0=3 op1=0 CRn=0 CRm=1..7, allocated or not.
  for (let crm = 1; crm <= 7; crm++) {
    for (let op2 = 0; op2 <= 7; op2++) {
      const named = ID_SPACE_NAMES[crm]![op2] ?? null;
      const name = named ?? genericName({ op0: 3, op1: 0, crn: 0, crm, op2 });
      rows.push(
        reg(name, 3, 0, 0, crm, op2, {
          storage: 'id',
          group: 'ID3',
          access: 'ro',
          ...(named ? {} : { reset: 0n, note: 'unallocated in the ID space: RAZ (D19.2 "ID register space")' }),
        }),
      );
    }
  }
  const ID: SysregSpec = { storage: 'id', group: 'ID0', access: 'ro' };
  rows.push(
    // MIDR_EL1/MPIDR_EL1 reads at EL1 return VPIDR_EL2/VMPIDR_EL2 (D19.2 "MIDR_EL1", "MPIDR_EL1"): no HCR trap.
    reg('MIDR_EL1', 3, 0, 0, 0, 0, { ...ID, flags: DEBUGGER, note: 'EL1 reads return VPIDR_EL2: answered from the feature set' }),
    reg('MPIDR_EL1', 3, 0, 0, 0, 5, { ...ID, flags: DEBUGGER, note: 'EL1 reads return VMPIDR_EL2: answered from the feature set' }),
    // ID group 1 (D19.2.48, TID1).
    reg('REVIDR_EL1', 3, 0, 0, 0, 6, { storage: 'id', group: 'ID1', access: 'ro' }),
    reg('AIDR_EL1', 3, 1, 0, 0, 7, { storage: 'id', group: 'ID1', access: 'ro' }),
    // ID group 2 (D19.2.48, TID2): CTR_EL0 (also at EL0), CCSIDR_EL1, CCSIDR2_EL1, CLIDR_EL1, CSSELR_EL1.
    reg('CCSIDR_EL1', 3, 1, 0, 0, 0, { storage: 'id', group: 'ID2', access: 'ro' }),
    reg('CLIDR_EL1', 3, 1, 0, 0, 1, { storage: 'id', group: 'ID2', access: 'ro' }),
    // FEAT_CCIDX is hidden (and absent from the core): UNDEFINED. It is still in ID group 2, so under
    // TID2 it traps and the runtime must inject the UNDEF itself (IdRegs.read returns null for it).
    reg('CCSIDR2_EL1', 3, 1, 0, 0, 2, { storage: 'id', group: 'ID2', access: 'ro', note: 'FEAT_CCIDX (hidden): UNDEFINED' }),
    reg('CSSELR_EL1', 3, 2, 0, 0, 0, { storage: 'el1', group: 'ID2', flags: EL1_CONTEXT, reset: 0n }),
    reg('CTR_EL0', 3, 3, 0, 0, 1, { storage: 'id', group: 'ID2', access: 'ro', el0: 'UCT' }),
    reg('DCZID_EL0', 3, 3, 0, 0, 7, { ...ID, el0: 'always', note: 'no HCR trap; DZP reflects SCTLR_EL1.DZE / HCR_EL2.TDZ' }),
  );
  return rows;
}



function pmuRegs(): SysregDef[] {
  // PMUv3 (Arm ARM "Performance Monitors registers" descriptions): emulated RAZ/WI here; a board with a PMU
  // model replaces these rows with its own (the virt board: emulator/devices/pmu.ts, PMUVer = 6).
  const P: SysregSpec = { storage: 'emulated', group: 'PMU', el0: 'PMUSERENR', cpu: 'emulate' };
  const rows: SysregDef[] = [
    reg('PMCR_EL0', 3, 3, 9, 12, 0, { ...P, note: 'also MDCR_EL2.TPMCR' }),
    reg('PMCNTENSET_EL0', 3, 3, 9, 12, 1, { ...P, reset: 0n }),
    reg('PMCNTENCLR_EL0', 3, 3, 9, 12, 2, { ...P, reset: 0n }),
    reg('PMOVSCLR_EL0', 3, 3, 9, 12, 3, { ...P, reset: 0n }),
    reg('PMSWINC_EL0', 3, 3, 9, 12, 4, { ...P, access: 'wo' }),
    reg('PMSELR_EL0', 3, 3, 9, 12, 5, P),
    reg('PMCEID0_EL0', 3, 3, 9, 12, 6, { ...P, access: 'ro' }),
    reg('PMCEID1_EL0', 3, 3, 9, 12, 7, { ...P, access: 'ro' }),
    reg('PMCCNTR_EL0', 3, 3, 9, 13, 0, P),
    reg('PMXEVTYPER_EL0', 3, 3, 9, 13, 1, P),
    reg('PMXEVCNTR_EL0', 3, 3, 9, 13, 2, P),
    reg('PMUSERENR_EL0', 3, 3, 9, 14, 0, { ...P, el0: 'always', reset: 0n, note: 'read-only at EL0' }),
    reg('PMOVSSET_EL0', 3, 3, 9, 14, 3, { ...P, reset: 0n }),
    reg('PMINTENSET_EL1', 3, 0, 9, 14, 1, { ...P, el0: 'none', reset: 0n }),
    reg('PMINTENCLR_EL1', 3, 0, 9, 14, 2, { ...P, el0: 'none', reset: 0n }),
    reg('PMMIR_EL1', 3, 0, 9, 14, 6, { ...P, el0: 'none', access: 'ro' }),
    reg('PMCCFILTR_EL0', 3, 3, 14, 15, 7, { ...P, reset: 0n }),
  ];
  for (let n = 0; n < 31; n++) {
    rows.push(reg(`PMEVCNTR${n}_EL0`, 3, 3, 14, 8 + (n >> 3), n & 7, P));
    rows.push(reg(`PMEVTYPER${n}_EL0`, 3, 3, 14, 12 + (n >> 3), n & 7, P));
  }
  rows.push(
    reg('AMUSERENR_EL0', 3, 3, 13, 2, 3, {
      storage: 'emulated',
      group: 'CTX',
      el0: 'always',
      reset: 0n,
      cpu: 'emulate',
      note: 'FEAT_AMUv1 (hidden): RAZ/WI',
    }),
  );
  return rows;
}

function debugRegs(): SysregDef[] {
  // Debug registers (Arm ARM D19 "Debug registers"; op0 = 2). MDCR_EL2.TDA traps the breakpoint,
  // watchpoint and control registers, TDOSA the OS lock/double lock, TDRA the ROM address.
  // The core (Unicorn 2.1.1 max) has the breakpoint/watchpoint pairs the feature set advertises
  // (6 and 4: DBG[BW]{V,C}R n >= that are UNDEFINED natively, as the architecture says), MDSCR,
  // MDCCINT, MDRAR, OSLAR, OSLSR, OSDLR; it lacks the DCC transfer registers, OSECCR, DBGPRCR and
  // the claim/authentication registers, which are therefore emulated (measured with CP_REG reads).
  const D: SysregSpec = { storage: 'debug', group: 'DEBUG' };
  const OS: SysregSpec = { storage: 'debug', group: 'OSLOCK' };
  const DE: SysregSpec = { ...D, cpu: 'emulate' };
  const DCC: SysregSpec = { ...DE, group: 'DCC', reset: 0n, el0: 'TDCC' };
  const rows: SysregDef[] = [
    reg('OSDTRRX_EL1', 2, 0, 0, 0, 2, { ...DE, reset: 0n }),
    reg('MDCCINT_EL1', 2, 0, 0, 2, 0, { ...D, reset: 0n }),
    reg('MDSCR_EL1', 2, 0, 0, 2, 2, { ...D, storage: 'el1', reset: 0n }),
    reg('OSDTRTX_EL1', 2, 0, 0, 3, 2, { ...DE, reset: 0n }),
    reg('OSECCR_EL1', 2, 0, 0, 6, 2, { ...OS, cpu: 'emulate', reset: 0n }),
    reg('MDRAR_EL1', 2, 0, 1, 0, 0, { storage: 'debug', group: 'DEBUGROM', access: 'ro', reset: 0n }),
    reg('OSLAR_EL1', 2, 0, 1, 0, 4, { ...OS, access: 'wo' }),
    // OSLSR_EL1: OSLM = 0b10 (OS lock implemented), OSLK = 1 at cold reset (Arm ARM D19 "OSLSR_EL1").
    // KVM resets it to 0x8 (unlocked); Linux clears the lock at boot either way.
    reg('OSLSR_EL1', 2, 0, 1, 1, 4, { ...OS, access: 'ro', reset: 0xan }),
    reg('OSDLR_EL1', 2, 0, 1, 3, 4, { ...OS, reset: 0n }),
    reg('DBGPRCR_EL1', 2, 0, 1, 4, 4, { ...OS, cpu: 'emulate', reset: 0n }),
    reg('DBGCLAIMSET_EL1', 2, 0, 7, 8, 6, { ...DE, reset: 0n }),
    reg('DBGCLAIMCLR_EL1', 2, 0, 7, 9, 6, { ...DE, reset: 0n }),
    reg('DBGAUTHSTATUS_EL1', 2, 0, 7, 14, 6, { ...DE, access: 'ro', reset: 0n }),
    // The Debug Communications Channel (Arm ARM D19 "MDCCSR_EL0", "DBGDTR_EL0", "DBGDTRRX_EL0",
    // "DBGDTRTX_EL0"): no external debugger is ever attached, so the status reads 0 (TXfull and
    // RXfull clear) and the data registers read as zero and ignore writes, as QEMU 7.2 (ARM_CP_CONST
    // 0) and KVM (trap_raz_wi) give them. Accessible at EL0 unless MDSCR_EL1.TDCC (the registers'
    // access pseudocode: AArch64.SystemAccessTrap(EL1, 0x18)); MDCR_EL2.TDA traps them to EL2.
    // DBGDTRRX_EL0 (read) and DBGDTRTX_EL0 (write) share one encoding.
    reg('MDCCSR_EL0', 2, 3, 0, 1, 0, { ...DCC, access: 'ro' }),
    reg('DBGDTR_EL0', 2, 3, 0, 4, 0, DCC),
    reg('DBGDTRRX_EL0', 2, 3, 0, 5, 0, { ...DCC, note: 'DBGDTRTX_EL0 when written' }),
  ];
  // Registers of breakpoints/watchpoints beyond the implemented 6/4 (ID_AA64DFR0_EL1.BRPs = 5,
  // WRPs = 3) are UNDEFINED at every EL, before any MDCR_EL2.TDA trap (the DBGBVR<n>_EL1 access
  // pseudocode tests n against the number implemented first): minEl 4, above every EL.
  const none = { minEl: 4 };
  for (let n = 0; n < 16; n++) {
    const b = n < 6 ? {} : none;
    const w = n < 4 ? {} : none;
    rows.push(reg(`DBGBVR${n}_EL1`, 2, 0, 0, n, 4, { ...D, ...b }));
    rows.push(reg(`DBGBCR${n}_EL1`, 2, 0, 0, n, 5, { ...D, reset: 0n, ...b }));
    rows.push(reg(`DBGWVR${n}_EL1`, 2, 0, 0, n, 6, { ...D, ...w }));
    rows.push(reg(`DBGWCR${n}_EL1`, 2, 0, 0, n, 7, { ...D, reset: 0n, ...w }));
  }
  return rows;
}

function tlbiOps(): SysregDef[] {
  // TLBI at EL1 (C5 "A64 System instructions for TLB maintenance"; op0=1 op1=0 CRn=8, nXS CRn=9).
  // All trapped by HCR_EL2.TTLB (D19.2.48, TTLB). With TTLB clear the CPU runs them natively and the
  // vCPU tells the TypeScript TLB model what each one names (Vcpu.nativeTlbi): no world switch.
  const rows: SysregDef[] = [];
  const T: SysregSpec = { storage: 'none', group: 'TLB' };
  const basic: [string, number][] = [['VMALLE1', 0], ['VAE1', 1], ['ASIDE1', 2], ['VAAE1', 3], ['VALE1', 5], ['VAALE1', 7]];
  const range: [string, number][] = [['RVAE1', 1], ['RVAAE1', 3], ['RVALE1', 5], ['RVAALE1', 7]];
  // CRm: 1 = OS, 3 = IS, 7 = non-shareable; range forms 5 = OS, 2 = IS, 6 = non-shareable.
  const shares: ['OS' | 'IS' | 'NSH', number, number][] = [['OS', 1, 5], ['IS', 3, 2], ['NSH', 7, 6]];
  for (const crn of [8, 9]) {
    const nxs = crn === 9;
    for (const [sh, crm, rcrm] of shares) {
      const name = (base: string) => `TLBI_${base}${sh === 'NSH' ? '' : sh}${nxs ? 'NXS' : ''}`;
      for (const [base, op2] of basic) rows.push(op(name(base), 1, 0, crn, crm, op2, { ...T, tlbi: tlbiOperation(base, sh, nxs) }));
      for (const [base, op2] of range) rows.push(op(name(base), 1, 0, crn, rcrm, op2, { ...T, tlbi: tlbiOperation(base, sh, nxs) }));
    }
  }
  return rows;
}

function cacheOps(): SysregDef[] {
  // C5 "A64 System instructions for cache maintenance"; traps per D19.2.48 TSW/TPCP/TPU/TDZ.
  const SW: SysregSpec = { storage: 'none', group: 'SW' };
  const POC: SysregSpec = { storage: 'none', group: 'POC' };
  const POU: SysregSpec = { storage: 'none', group: 'POU' };
  return [
    op('IC_IALLUIS', 1, 0, 7, 1, 0, POU),
    op('IC_IALLU', 1, 0, 7, 5, 0, POU),
    op('IC_IVAU', 1, 3, 7, 5, 1, { ...POU, el0: 'UCI' }),
    op('DC_IVAC', 1, 0, 7, 6, 1, POC),
    op('DC_ISW', 1, 0, 7, 6, 2, SW),
    op('DC_CSW', 1, 0, 7, 10, 2, SW),
    op('DC_CISW', 1, 0, 7, 14, 2, SW),
    op('DC_ZVA', 1, 3, 7, 4, 1, { storage: 'none', group: 'ZVA', el0: 'DZE' }),
    op('DC_CVAC', 1, 3, 7, 10, 1, { ...POC, el0: 'UCI' }),
    op('DC_CVAU', 1, 3, 7, 11, 1, { ...POU, el0: 'UCI' }),
    op('DC_CVAP', 1, 3, 7, 12, 1, { ...POC, el0: 'UCI' }),
    op('DC_CVADP', 1, 3, 7, 13, 1, { ...POC, el0: 'UCI' }),
    op('DC_CIVAC', 1, 3, 7, 14, 1, { ...POC, el0: 'UCI' }),
  ];
}

function atOps(): SysregDef[] {
  // C5 "A64 System instructions for address translation". No HCR_EL2 trap without NV
  // (HCR_EL2.AT); 'emulate' because the core's walker does not know our stage 2: the MMU
  // model answers and writes PAR_EL1.
  const A: SysregSpec = { storage: 'none', group: 'AT', cpu: 'emulate' };
  return [
    op('AT_S1E1R', 1, 0, 7, 8, 0, A),
    op('AT_S1E1W', 1, 0, 7, 8, 1, A),
    op('AT_S1E0R', 1, 0, 7, 8, 2, A),
    op('AT_S1E0W', 1, 0, 7, 8, 3, A),
    op('AT_S1E1RP', 1, 0, 7, 9, 0, { ...A, note: 'FEAT_PAN2' }),
    op('AT_S1E1WP', 1, 0, 7, 9, 1, { ...A, note: 'FEAT_PAN2' }),
  ];
}

function miscRegs(): SysregDef[] {
  // FEAT_RNG: the core draws from the host's entropy, which breaks determinism (DESIGN.md): never
  // run natively; the board's seeded generator answers both (emulator/devices/rng.ts, --seed).
  const R: SysregSpec = { storage: 'device', group: 'RNDR', access: 'ro', el0: 'always', cpu: 'emulate' };
  return [reg('RNDR', 3, 3, 2, 4, 0, R), reg('RNDRRS', 3, 3, 2, 4, 1, R)];
}


function counterRegs(): SysregDef[] {
  // The generic timer's counters (D11 "The Generic Timer in AArch64 state"): answered from virtual
  // time by the vCPU, which registers itself as their device (never the host clock).
  const C: SysregSpec = { storage: 'device', group: 'TIMER', el0: 'CNTKCTL', access: 'ro' };
  return [
    reg('CNTFRQ_EL0', 3, 3, 14, 0, 0, { ...C, note: 'writable only at the highest EL' }),
    reg('CNTPCT_EL0', 3, 3, 14, 0, 1, C),
    reg('CNTVCT_EL0', 3, 3, 14, 0, 2, { ...C, flags: DEBUGGER }),
    // FEAT_ECV self-synchronised views: absent from the core; answered from virtual time too.
    reg('CNTPCTSS_EL0', 3, 3, 14, 0, 5, { ...C, cpu: 'emulate' }),
    reg('CNTVCTSS_EL0', 3, 3, 14, 0, 6, { ...C, cpu: 'emulate' }),
  ];
}

function el2Regs(): SysregDef[] {
  // The EL2 model's registers (D19.2, EL2 registers): UNDEFINED below EL2 (minEl from op1), shown to
  // the debugger as the hypervisor model's register file. SP_EL1 is EL1's stack pointer as EL2 sees it.
  const E: SysregSpec = { storage: 'el2', group: 'EL2', flags: DEBUGGER };
  return [
    reg('SP_EL1', 3, 4, 4, 1, 0, { storage: 'el1', group: 'CTX', flags: DEBUGGER, note: 'moved with the run context' }),
    reg('HCR_EL2', 3, 4, 1, 1, 0, E),
    reg('MDCR_EL2', 3, 4, 1, 1, 1, E),
    reg('CPTR_EL2', 3, 4, 1, 1, 2, E),
    reg('HSTR_EL2', 3, 4, 1, 1, 3, E),
    reg('SCTLR_EL2', 3, 4, 1, 0, 0, E),
    reg('TTBR0_EL2', 3, 4, 2, 0, 0, E),
    reg('TCR_EL2', 3, 4, 2, 0, 2, E),
    reg('MAIR_EL2', 3, 4, 10, 2, 0, E),
    reg('VTTBR_EL2', 3, 4, 2, 1, 0, E),
    reg('VTCR_EL2', 3, 4, 2, 1, 2, E),
    reg('VPIDR_EL2', 3, 4, 0, 0, 0, E),
    reg('VMPIDR_EL2', 3, 4, 0, 0, 5, E),
    reg('ESR_EL2', 3, 4, 5, 2, 0, E),
    reg('FAR_EL2', 3, 4, 6, 0, 0, E),
    reg('HPFAR_EL2', 3, 4, 6, 0, 4, E),
    reg('ELR_EL2', 3, 4, 4, 0, 1, E),
    reg('SPSR_EL2', 3, 4, 4, 0, 0, E),
    reg('SP_EL2', 3, 6, 4, 1, 0, E),
    reg('VBAR_EL2', 3, 4, 12, 0, 0, E),
    reg('TPIDR_EL2', 3, 4, 13, 0, 2, E),
    reg('CNTHCTL_EL2', 3, 4, 14, 1, 0, E),
    reg('CNTVOFF_EL2', 3, 4, 14, 0, 3, E),
  ];
}

/** The architectural rows, in the order derived lists (EL1 context, debugger registers) keep. */
export const ARCH_SYSREGS: readonly SysregDef[] = Object.freeze([
  ...vmRegs(),
  ...el1Context(),
  ...pauthKeys(),
  ...lorRegs(),
  ...rasRegs(),
  ...idRegs(),
  ...counterRegs(),
  ...pmuRegs(),
  ...debugRegs(),
  ...tlbiOps(),
  ...cacheOps(),
  ...atOps(),
  ...miscRegs(),
  ...el2Regs(),
]);
