/**
 * The system-register descriptor table: one row per AArch64 system register
 * or system instruction (TLBI/DC/IC/AT) an EL1/EL0 guest can execute, in the
 * spirit of KVM's arch/arm64/kvm/sys_regs.c and QEMU's cpregs (our own rows).
 *
 * A row says: the encoding (Arm ARM DDI0487 C5 "The A64 System Instruction
 * Class", encoding overview: op0 op1 CRn CRm op2), who owns the state (the world
 * switch, the timer, the feature set, an emulation in the vCPU structure),
 * which HCR_EL2 bit traps a read/write (D19.2.48 "HCR_EL2"), the trap group,
 * the reset value, and whether the CPU core (Unicorn 2.1.1, UC_CPU_ARM64_MAX)
 * can run it at all.
 *
 * Lookup is O(1) in a Map keyed by sysregKey() (emulator/cpu/sysregs.ts).
 * Rows are data; hyp/traps.ts holds the routing rules that read them.
 *
 * Register descriptions cited by title are in Arm ARM D19 ("AArch64 System
 * Register Descriptions"; D17 in older issues); TLBI/DC/IC/AT encodings in
 * C5 "A64 System instructions for cache maintenance / address translation /
 * TLB maintenance".
 */
import { sysregKey } from '../emulator/cpu/sysregs.js';
import { HCR, type HcrBitName } from './hcr.js';

/** Who owns a register's state. */
export type Storage =
  /** EL1 context: saved/restored by the world switch; "loaded on the CPU" in VHE mode (seed 004) */
  | 'el1'
  /** EL0 context, also switched (TPIDR_EL0, TPIDRRO_EL0) */
  | 'el0'
  /** generic timer (counter, CNTP_*, CNTV_*): virtual time, never the host clock */
  | 'timer'
  /** answered from the sanitised feature set (hyp/idregs.ts) */
  | 'id'
  /** lives only in the vCPU structure (GIC CPU interface, PMU, RAS records, LOR) */
  | 'emulated'
  /** debug registers: switched lazily (as KVM's debug state) */
  | 'debug'
  /** floating-point control/status (part of the FP/SIMD context) */
  | 'fp'
  /** PSTATE fields accessed as registers (NZCV, DAIF, SPSel, CurrentEL, PAN, UAO, DIT, SSBS) */
  | 'pstate'
  /** operations: TLBI, DC, IC, AT, RNDR (no stored state) */
  | 'none';

/** Trap groups (the HCR_EL2/MDCR_EL2 field names say which bit owns each group). */
export type Group =
  | 'VM' // HCR_EL2.TVM (writes) / TRVM (reads)
  | 'ID0' // no HCR trap: MIDR/MPIDR read VPIDR_EL2/VMPIDR_EL2 at EL1; DCZID_EL0
  | 'ID1' // HCR_EL2.TID1
  | 'ID2' // HCR_EL2.TID2
  | 'ID3' // HCR_EL2.TID3
  | 'ACTLR' // HCR_EL2.TACR
  | 'SW' // HCR_EL2.TSW: DC by set/way
  | 'POC' // HCR_EL2.TPCP: DC by VA to the PoC / PoP
  | 'POU' // HCR_EL2.TPU: IC and DC to the PoU
  | 'TLB' // HCR_EL2.TTLB
  | 'ZVA' // HCR_EL2.TDZ
  | 'IMPDEF' // HCR_EL2.TIDCP: op0=3 CRn=11/15 (no rows: routed by encoding)
  | 'LOR' // HCR_EL2.TLOR
  | 'RAS' // HCR_EL2.TERR
  | 'PAUTH' // HCR_EL2.APK (traps when CLEAR)
  | 'AT' // address translation (HCR_EL2.AT only with NV)
  | 'DEBUG' // MDCR_EL2.TDA
  | 'OSLOCK' // MDCR_EL2.TDOSA
  | 'DEBUGROM' // MDCR_EL2.TDRA
  | 'PMU' // MDCR_EL2.TPM (PMCR_EL0 also TPMCR)
  | 'TIMER' // CNTHCTL_EL2 (not modelled in traps.ts)
  | 'GIC' // ICH_HCR_EL2 (not modelled in traps.ts)
  | 'CTX' // plain EL1/EL0 context, no HCR trap
  | 'FP' // CPTR_EL2.TFP (EC 0x07, not a sysreg trap)
  | 'PSTATE'
  | 'RNDR';

/** A trap condition: an HCR_EL2 bit that traps when set, or "!BIT" when it traps while clear (APK). */
export type TrapCond = HcrBitName | `!${HcrBitName}`;

/** MDCR_EL2 trap bits (D19.2 "MDCR_EL2, Monitor Debug Configuration Register (EL2)"). */
export const MDCR = { TPMCR: 5, TPM: 6, TDE: 8, TDA: 9, TDOSA: 10, TDRA: 11 } as const;
export type MdcrBitName = keyof typeof MDCR;

/**
 * Which EL1 control lets EL0 use the register. 'none': UNDEFINED at EL0 (the
 * exception goes to EL1 and has priority over any EL2 trap). 'always': no EL1
 * control. UCT/DZE/UCI: SCTLR_EL1 bits (D19.2 "SCTLR_EL1"). CNTKCTL/PMUSERENR:
 * controlled by those EL1 registers (not evaluated by traps.ts).
 */
export type El0Access = 'none' | 'always' | 'UCT' | 'DZE' | 'UCI' | 'CNTKCTL' | 'PMUSERENR';

/** SCTLR_EL1 bits that enable EL0 access (D19.2 "SCTLR_EL1"): UCI 26, UCT 15, DZE 14. */
export const SCTLR_EL0_ENABLE = { UCT: 1 << 15, DZE: 1 << 14, UCI: 1 << 26 } as const;

export interface SysregRow {
  readonly name: string;
  readonly op0: number;
  readonly op1: number;
  readonly crn: number;
  readonly crm: number;
  readonly op2: number;
  /** sysregKey() of the encoding */
  readonly key: number;
  /** 'op' for TLBI/DC/IC/AT and other SYS operations */
  readonly kind: 'reg' | 'op';
  readonly storage: Storage;
  readonly group: Group;
  /** HCR_EL2 bit trapping MRS (reads) */
  readonly trapRead: TrapCond | null;
  /** HCR_EL2 bit trapping MSR/SYS (writes and operations) */
  readonly trapWrite: TrapCond | null;
  /** MDCR_EL2 bit trapping both directions */
  readonly mdcrTrap: MdcrBitName | null;
  /** Reset value; null = architecturally UNKNOWN (or computed: ID registers, PMCR) */
  readonly reset: bigint | null;
  readonly access: 'rw' | 'ro' | 'wo';
  readonly el0: El0Access;
  /** Handled on the EL2 fast path without a world switch (seed 000). */
  readonly fastPath?: 'vm-write';
  /**
   * 'native': the CPU core runs it correctly when no trap applies.
   * 'emulate': hypemu must handle it even with no trap bit set (the core lacks
   * the register, or running it natively would bypass a model: the TLB model,
   * the MMU model for AT, determinism for RNDR).
   */
  readonly cpu: 'native' | 'emulate';
  readonly note?: string;

  // Compiled trap masks for the allocation-free hot path (hyp/traps.ts).
  /** 0: bit in HCR lo, 1: in hi; -1: no trap */
  readonly rdWord: number;
  readonly rdMask: number;
  /** 1 when the trap fires while the bit is clear */
  readonly rdInv: number;
  readonly wrWord: number;
  readonly wrMask: number;
  readonly wrInv: number;
  /** MDCR_EL2 mask (0: none) */
  readonly mdcrMask: number;
  /** SCTLR_EL1 mask enabling EL0 (0: no SCTLR control), -1 when UNDEFINED at EL0 */
  readonly el0Ctl: number;
}

interface Spec {
  storage: Storage;
  group: Group;
  trapRead?: TrapCond | null;
  trapWrite?: TrapCond | null;
  mdcr?: MdcrBitName;
  reset?: bigint | null;
  access?: 'rw' | 'ro' | 'wo';
  el0?: El0Access;
  fastPath?: 'vm-write';
  cpu?: 'native' | 'emulate';
  note?: string;
}

function compileCond(c: TrapCond | null): [number, number, number] {
  if (c === null) return [-1, 0, 0];
  const inv = c.startsWith('!');
  const bit = HCR[(inv ? c.slice(1) : c) as HcrBitName];
  return [bit < 32 ? 0 : 1, (1 << (bit & 31)) >>> 0, inv ? 1 : 0];
}

function row(kind: 'reg' | 'op', name: string, op0: number, op1: number, crn: number, crm: number, op2: number, s: Spec): SysregRow {
  const trapRead = s.trapRead ?? null;
  const trapWrite = s.trapWrite ?? null;
  const [rdWord, rdMask, rdInv] = compileCond(trapRead);
  const [wrWord, wrMask, wrInv] = compileCond(trapWrite);
  const el0: El0Access = s.el0 ?? 'none';
  const el0Ctl = el0 === 'none' ? -1 : el0 === 'UCT' || el0 === 'DZE' || el0 === 'UCI' ? SCTLR_EL0_ENABLE[el0] : 0;
  const r: SysregRow = {
    name,
    op0,
    op1,
    crn,
    crm,
    op2,
    key: sysregKey({ op0, op1, crn, crm, op2 }),
    kind,
    storage: s.storage,
    group: s.group,
    trapRead,
    trapWrite,
    mdcrTrap: s.mdcr ?? null,
    reset: s.reset === undefined ? null : s.reset,
    access: s.access ?? (kind === 'op' ? 'wo' : 'rw'),
    el0,
    cpu: s.cpu ?? 'native',
    rdWord,
    rdMask,
    rdInv,
    wrWord,
    wrMask,
    wrInv,
    mdcrMask: s.mdcr ? 1 << MDCR[s.mdcr] : 0,
    el0Ctl,
    ...(s.fastPath ? { fastPath: s.fastPath } : {}),
    ...(s.note ? { note: s.note } : {}),
  };
  return Object.freeze(r);
}

const reg = (name: string, op0: number, op1: number, crn: number, crm: number, op2: number, s: Spec) =>
  row('reg', name, op0, op1, crn, crm, op2, s);
const op = (name: string, op0: number, op1: number, crn: number, crm: number, op2: number, s: Spec) =>
  row('op', name, op0, op1, crn, crm, op2, s);

// ---------------------------------------------------------------- row groups

/** The VM group of HCR_EL2.TVM/TRVM (D19.2.48, TVM and TRVM field descriptions); seed 000's fast-path set. */
const VM: Spec = { storage: 'el1', group: 'VM', trapRead: 'TRVM', trapWrite: 'TVM', fastPath: 'vm-write' };
const EL1: Spec = { storage: 'el1', group: 'CTX' };
const PSTATE: Spec = { storage: 'pstate', group: 'PSTATE' };

function vmRegs(): SysregRow[] {
  return [
    // SCTLR_EL1 reset: the RES1 bits of an implementation without FEAT_ExS, FEAT_CSV2_2, FEAT_PAN,
    // FEAT_LSMAOC (bits 11, 20, 22, 23, 28, 29) and everything else 0 (MMU, caches off).
    // KVM resets to 0x00C50078 (an older RES1 set); we follow the register description.
    reg('SCTLR_EL1', 3, 0, 1, 0, 0, { ...VM, reset: 0x30d0_0800n }),
    reg('TTBR0_EL1', 3, 0, 2, 0, 0, VM),
    reg('TTBR1_EL1', 3, 0, 2, 0, 1, VM),
    reg('TCR_EL1', 3, 0, 2, 0, 2, VM),
    reg('AFSR0_EL1', 3, 0, 5, 1, 0, { ...VM, reset: 0n }),
    reg('AFSR1_EL1', 3, 0, 5, 1, 1, { ...VM, reset: 0n }),
    reg('ESR_EL1', 3, 0, 5, 2, 0, VM),
    reg('FAR_EL1', 3, 0, 6, 0, 0, VM),
    reg('MAIR_EL1', 3, 0, 10, 2, 0, VM),
    reg('AMAIR_EL1', 3, 0, 10, 3, 0, { ...VM, reset: 0n }),
    reg('CONTEXTIDR_EL1', 3, 0, 13, 0, 1, { ...VM, reset: 0n }),
  ];
}

function el1Context(): SysregRow[] {
  return [
    reg('ACTLR_EL1', 3, 0, 1, 0, 1, { storage: 'el1', group: 'ACTLR', trapRead: 'TACR', trapWrite: 'TACR', reset: 0n }),
    reg('CPACR_EL1', 3, 0, 1, 0, 2, { ...EL1, reset: 0n, note: 'trapped by CPTR_EL2.TCPAC, not HCR_EL2' }),
    reg('SPSR_EL1', 3, 0, 4, 0, 0, EL1),
    reg('ELR_EL1', 3, 0, 4, 0, 1, EL1),
    reg('SP_EL0', 3, 0, 4, 1, 0, EL1),
    reg('PAR_EL1', 3, 0, 7, 4, 0, EL1),
    reg('VBAR_EL1', 3, 0, 12, 0, 0, { ...EL1, reset: 0n }),
    reg('ISR_EL1', 3, 0, 12, 1, 0, { ...EL1, access: 'ro', note: 'pending IRQ/FIQ/SError: the vGIC model answers in emulation' }),
    reg('DISR_EL1', 3, 0, 12, 1, 1, { storage: 'el1', group: 'RAS', reset: 0n, cpu: 'emulate', note: 'FEAT_RAS (hidden; absent from the core): RAZ/WI' }),
    reg('TPIDR_EL1', 3, 0, 13, 0, 4, EL1),
    reg('CNTKCTL_EL1', 3, 0, 14, 1, 0, { ...EL1, reset: 0n }),
    // EL0 context (switched too).
    reg('TPIDR_EL0', 3, 3, 13, 0, 2, { storage: 'el0', group: 'CTX', el0: 'always' }),
    reg('TPIDRRO_EL0', 3, 3, 13, 0, 3, { storage: 'el0', group: 'CTX', el0: 'always', note: 'read-only at EL0' }),
    // Floating point.
    reg('FPCR', 3, 3, 4, 4, 0, { storage: 'fp', group: 'FP', el0: 'always' }),
    reg('FPSR', 3, 3, 4, 4, 1, { storage: 'fp', group: 'FP', el0: 'always' }),
    // PSTATE as registers (C5 "Special-purpose registers").
    reg('NZCV', 3, 3, 4, 2, 0, { ...PSTATE, el0: 'always' }),
    reg('DAIF', 3, 3, 4, 2, 1, { ...PSTATE, el0: 'always', note: 'EL0 access needs SCTLR_EL1.UMA' }),
    reg('SPSel', 3, 0, 4, 2, 0, PSTATE),
    reg('CurrentEL', 3, 0, 4, 2, 2, { ...PSTATE, access: 'ro' }),
    reg('PAN', 3, 0, 4, 2, 3, PSTATE),
    reg('UAO', 3, 0, 4, 2, 4, PSTATE),
    // FEAT_DIT / FEAT_SSBS: absent from the core and hidden in the feature set, so UNDEFINED natively.
    reg('DIT', 3, 3, 4, 2, 5, { ...PSTATE, el0: 'always', note: 'FEAT_DIT (hidden): UNDEFINED' }),
    reg('SSBS', 3, 3, 4, 2, 6, { ...PSTATE, el0: 'always', note: 'FEAT_SSBS (hidden): UNDEFINED' }),
  ];
}

/** Pointer authentication keys (FEAT_PAuth): trapped while HCR_EL2.APK == 0 (D19.2.48, APK). */
function pauthKeys(): SysregRow[] {
  const P: Spec = { storage: 'el1', group: 'PAUTH', trapRead: '!APK', trapWrite: '!APK' };
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
function lorRegs(): SysregRow[] {
  const L: Spec = { storage: 'emulated', group: 'LOR', trapRead: 'TLOR', trapWrite: 'TLOR', reset: 0n, cpu: 'emulate' };
  return [
    reg('LORSA_EL1', 3, 0, 10, 4, 0, L),
    reg('LOREA_EL1', 3, 0, 10, 4, 1, L),
    reg('LORN_EL1', 3, 0, 10, 4, 2, L),
    reg('LORC_EL1', 3, 0, 10, 4, 3, L),
    reg('LORID_EL1', 3, 0, 10, 4, 7, { ...L, access: 'ro' }),
  ];
}

/** RAS error records (FEAT_RAS), trapped by HCR_EL2.TERR; RAZ/WI (ID_AA64PFR0_EL1.RAS = 0). */
function rasRegs(): SysregRow[] {
  const R: Spec = { storage: 'emulated', group: 'RAS', trapRead: 'TERR', trapWrite: 'TERR', reset: 0n, cpu: 'emulate' };
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

/** The assembler's generic name of an encoding: S<op0>_<op1>_C<n>_C<m>_<op2>. */
export function genericName(e: { op0: number; op1: number; crn: number; crm: number; op2: number }): string {
  return `S${e.op0}_${e.op1}_C${e.crn}_C${e.crm}_${e.op2}`;
}

function idRegs(): SysregRow[] {
  const rows: SysregRow[] = [];
  // ID group 3 (D19.2.48, TID3): every encoding op0=3 op1=0 CRn=0 CRm=1..7, allocated or not.
  for (let crm = 1; crm <= 7; crm++) {
    for (let op2 = 0; op2 <= 7; op2++) {
      const named = ID_SPACE_NAMES[crm]![op2] ?? null;
      const name = named ?? genericName({ op0: 3, op1: 0, crn: 0, crm, op2 });
      rows.push(
        reg(name, 3, 0, 0, crm, op2, {
          storage: 'id',
          group: 'ID3',
          trapRead: 'TID3',
          access: 'ro',
          ...(named ? {} : { reset: 0n, note: 'unallocated in the ID space: RAZ (D19.2 "ID register space")' }),
        }),
      );
    }
  }
  const ID: Spec = { storage: 'id', group: 'ID0', access: 'ro' };
  rows.push(
    // MIDR_EL1/MPIDR_EL1 reads at EL1 return VPIDR_EL2/VMPIDR_EL2 (D19.2 "MIDR_EL1", "MPIDR_EL1"): no HCR trap.
    reg('MIDR_EL1', 3, 0, 0, 0, 0, { ...ID, note: 'EL1 reads return VPIDR_EL2: answered from the feature set' }),
    reg('MPIDR_EL1', 3, 0, 0, 0, 5, { ...ID, note: 'EL1 reads return VMPIDR_EL2: answered from the feature set' }),
    // ID group 1 (D19.2.48, TID1).
    reg('REVIDR_EL1', 3, 0, 0, 0, 6, { storage: 'id', group: 'ID1', trapRead: 'TID1', access: 'ro' }),
    reg('AIDR_EL1', 3, 1, 0, 0, 7, { storage: 'id', group: 'ID1', trapRead: 'TID1', access: 'ro' }),
    // ID group 2 (D19.2.48, TID2): CTR_EL0 (also at EL0), CCSIDR_EL1, CCSIDR2_EL1, CLIDR_EL1, CSSELR_EL1.
    reg('CCSIDR_EL1', 3, 1, 0, 0, 0, { storage: 'id', group: 'ID2', trapRead: 'TID2', access: 'ro' }),
    reg('CLIDR_EL1', 3, 1, 0, 0, 1, { storage: 'id', group: 'ID2', trapRead: 'TID2', access: 'ro' }),
    // FEAT_CCIDX is hidden (and absent from the core): UNDEFINED. It is still in ID group 2, so under
    // TID2 it traps and the runtime must inject the UNDEF itself (IdRegs.read returns null for it).
    reg('CCSIDR2_EL1', 3, 1, 0, 0, 2, { storage: 'id', group: 'ID2', trapRead: 'TID2', access: 'ro', note: 'FEAT_CCIDX (hidden): UNDEFINED' }),
    reg('CSSELR_EL1', 3, 2, 0, 0, 0, { storage: 'el1', group: 'ID2', trapRead: 'TID2', trapWrite: 'TID2', reset: 0n }),
    reg('CTR_EL0', 3, 3, 0, 0, 1, { storage: 'id', group: 'ID2', trapRead: 'TID2', access: 'ro', el0: 'UCT' }),
    reg('DCZID_EL0', 3, 3, 0, 0, 7, { ...ID, el0: 'always', note: 'no HCR trap; DZP reflects SCTLR_EL1.DZE / HCR_EL2.TDZ' }),
  );
  return rows;
}

function gicRegs(): SysregRow[] {
  // GICv3 CPU interface system registers (Arm IHI0069 "GIC architecture specification", AArch64 CPU interface System register descriptions).
  // The GIC is a TypeScript model: the core has no CPU interface, so these are always emulated.
  const G: Spec = { storage: 'emulated', group: 'GIC', cpu: 'emulate' };
  const rows: SysregRow[] = [
    reg('ICC_PMR_EL1', 3, 0, 4, 6, 0, { ...G, reset: 0n }),
    reg('ICC_IAR0_EL1', 3, 0, 12, 8, 0, { ...G, access: 'ro' }),
    reg('ICC_EOIR0_EL1', 3, 0, 12, 8, 1, { ...G, access: 'wo' }),
    reg('ICC_HPPIR0_EL1', 3, 0, 12, 8, 2, { ...G, access: 'ro' }),
    reg('ICC_BPR0_EL1', 3, 0, 12, 8, 3, G),
  ];
  for (let n = 0; n < 4; n++) rows.push(reg(`ICC_AP0R${n}_EL1`, 3, 0, 12, 8, 4 + n, { ...G, reset: 0n }));
  for (let n = 0; n < 4; n++) rows.push(reg(`ICC_AP1R${n}_EL1`, 3, 0, 12, 9, n, { ...G, reset: 0n }));
  rows.push(
    reg('ICC_DIR_EL1', 3, 0, 12, 11, 1, { ...G, access: 'wo' }),
    reg('ICC_RPR_EL1', 3, 0, 12, 11, 3, { ...G, access: 'ro' }),
    reg('ICC_SGI1R_EL1', 3, 0, 12, 11, 5, { ...G, access: 'wo' }),
    reg('ICC_ASGI1R_EL1', 3, 0, 12, 11, 6, { ...G, access: 'wo' }),
    reg('ICC_SGI0R_EL1', 3, 0, 12, 11, 7, { ...G, access: 'wo' }),
    reg('ICC_IAR1_EL1', 3, 0, 12, 12, 0, { ...G, access: 'ro' }),
    reg('ICC_EOIR1_EL1', 3, 0, 12, 12, 1, { ...G, access: 'wo' }),
    reg('ICC_HPPIR1_EL1', 3, 0, 12, 12, 2, { ...G, access: 'ro' }),
    reg('ICC_BPR1_EL1', 3, 0, 12, 12, 3, G),
    reg('ICC_CTLR_EL1', 3, 0, 12, 12, 4, G),
    // SRE, DFB, DIB = 1: system-register interface only, as KVM's virtual CPU interface (RAO/WI).
    reg('ICC_SRE_EL1', 3, 0, 12, 12, 5, { ...G, reset: 0x7n }),
    reg('ICC_IGRPEN0_EL1', 3, 0, 12, 12, 6, { ...G, reset: 0n }),
    reg('ICC_IGRPEN1_EL1', 3, 0, 12, 12, 7, { ...G, reset: 0n }),
  );
  return rows;
}

function timerRegs(): SysregRow[] {
  // Generic timer (D11 "The Generic Timer in AArch64 state"; register descriptions CNT*_EL0).
  const T: Spec = { storage: 'timer', group: 'TIMER', el0: 'CNTKCTL' };
  return [
    reg('CNTFRQ_EL0', 3, 3, 14, 0, 0, { ...T, access: 'ro', note: 'writable only at the highest EL' }),
    reg('CNTPCT_EL0', 3, 3, 14, 0, 1, { ...T, access: 'ro' }),
    reg('CNTVCT_EL0', 3, 3, 14, 0, 2, { ...T, access: 'ro' }),
    // FEAT_ECV self-synchronised views: absent from the core; the machine answers them from virtual time.
    reg('CNTPCTSS_EL0', 3, 3, 14, 0, 5, { ...T, access: 'ro', cpu: 'emulate' }),
    reg('CNTVCTSS_EL0', 3, 3, 14, 0, 6, { ...T, access: 'ro', cpu: 'emulate' }),
    reg('CNTP_TVAL_EL0', 3, 3, 14, 2, 0, T),
    reg('CNTP_CTL_EL0', 3, 3, 14, 2, 1, { ...T, reset: 0n }),
    reg('CNTP_CVAL_EL0', 3, 3, 14, 2, 2, T),
    reg('CNTV_TVAL_EL0', 3, 3, 14, 3, 0, T),
    reg('CNTV_CTL_EL0', 3, 3, 14, 3, 1, { ...T, reset: 0n }),
    reg('CNTV_CVAL_EL0', 3, 3, 14, 3, 2, T),
  ];
}

function pmuRegs(): SysregRow[] {
  // PMUv3 (Arm ARM "Performance Monitors registers" descriptions). ID_AA64DFR0_EL1.PMUVer = 0 in the default
  // feature set: these are emulated RAZ/WI (or a minimal PMU with PMCR_EL0.N = 0).
  const P: Spec = { storage: 'emulated', group: 'PMU', mdcr: 'TPM', el0: 'PMUSERENR', cpu: 'emulate' };
  const rows: SysregRow[] = [
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

function debugRegs(): SysregRow[] {
  // Debug registers (Arm ARM D19 "Debug registers"; op0 = 2). MDCR_EL2.TDA traps the breakpoint,
  // watchpoint and control registers, TDOSA the OS lock/double lock, TDRA the ROM address.
  // The core (Unicorn 2.1.1 max) has the breakpoint/watchpoint pairs the feature set advertises
  // (6 and 4: DBG[BW]{V,C}R n >= that are UNDEFINED natively, as the architecture says), MDSCR,
  // MDCCINT, MDRAR, OSLAR, OSLSR, OSDLR; it lacks the DCC transfer registers, OSECCR, DBGPRCR and
  // the claim/authentication registers, which are therefore emulated (measured with CP_REG reads).
  const D: Spec = { storage: 'debug', group: 'DEBUG', mdcr: 'TDA' };
  const OS: Spec = { storage: 'debug', group: 'OSLOCK', mdcr: 'TDOSA' };
  const DE: Spec = { ...D, cpu: 'emulate' };
  const rows: SysregRow[] = [
    reg('OSDTRRX_EL1', 2, 0, 0, 0, 2, { ...DE, reset: 0n }),
    reg('MDCCINT_EL1', 2, 0, 0, 2, 0, { ...D, reset: 0n }),
    reg('MDSCR_EL1', 2, 0, 0, 2, 2, { ...D, storage: 'el1', reset: 0n }),
    reg('OSDTRTX_EL1', 2, 0, 0, 3, 2, { ...DE, reset: 0n }),
    reg('OSECCR_EL1', 2, 0, 0, 6, 2, { ...OS, cpu: 'emulate', reset: 0n }),
    reg('MDRAR_EL1', 2, 0, 1, 0, 0, { storage: 'debug', group: 'DEBUGROM', mdcr: 'TDRA', access: 'ro', reset: 0n }),
    reg('OSLAR_EL1', 2, 0, 1, 0, 4, { ...OS, access: 'wo' }),
    // OSLSR_EL1: OSLM = 0b10 (OS lock implemented), OSLK = 1 at cold reset (Arm ARM D19 "OSLSR_EL1").
    // KVM resets it to 0x8 (unlocked); Linux clears the lock at boot either way.
    reg('OSLSR_EL1', 2, 0, 1, 1, 4, { ...OS, access: 'ro', reset: 0xan }),
    reg('OSDLR_EL1', 2, 0, 1, 3, 4, { ...OS, reset: 0n }),
    reg('DBGPRCR_EL1', 2, 0, 1, 4, 4, { ...OS, cpu: 'emulate', reset: 0n }),
    reg('DBGCLAIMSET_EL1', 2, 0, 7, 8, 6, { ...DE, reset: 0n }),
    reg('DBGCLAIMCLR_EL1', 2, 0, 7, 9, 6, { ...DE, reset: 0n }),
    reg('DBGAUTHSTATUS_EL1', 2, 0, 7, 14, 6, { ...DE, access: 'ro', reset: 0n }),
    reg('MDCCSR_EL0', 2, 3, 0, 1, 0, { ...DE, access: 'ro', reset: 0n }),
  ];
  for (let n = 0; n < 16; n++) {
    rows.push(reg(`DBGBVR${n}_EL1`, 2, 0, 0, n, 4, D));
    rows.push(reg(`DBGBCR${n}_EL1`, 2, 0, 0, n, 5, { ...D, reset: 0n }));
    rows.push(reg(`DBGWVR${n}_EL1`, 2, 0, 0, n, 6, D));
    rows.push(reg(`DBGWCR${n}_EL1`, 2, 0, 0, n, 7, { ...D, reset: 0n }));
  }
  return rows;
}

function tlbiOps(): SysregRow[] {
  // TLBI at EL1 (C5 "A64 System instructions for TLB maintenance"; op0=1 op1=0 CRn=8, nXS CRn=9).
  // All trapped by HCR_EL2.TTLB (D19.2.48, TTLB). 'emulate': the TypeScript TLB model must see them.
  const rows: SysregRow[] = [];
  const T: Spec = { storage: 'none', group: 'TLB', trapWrite: 'TTLB', cpu: 'emulate' };
  const basic: [string, number][] = [['VMALLE1', 0], ['VAE1', 1], ['ASIDE1', 2], ['VAAE1', 3], ['VALE1', 5], ['VAALE1', 7]];
  const range: [string, number][] = [['RVAE1', 1], ['RVAAE1', 3], ['RVALE1', 5], ['RVAALE1', 7]];
  // CRm: 1 = OS, 3 = IS, 7 = non-shareable; range forms 5 = OS, 2 = IS, 6 = non-shareable.
  const shares: [string, number, number][] = [['OS', 1, 5], ['IS', 3, 2], ['', 7, 6]];
  for (const crn of [8, 9]) {
    const nxs = crn === 9 ? 'NXS' : '';
    for (const [suffix, crm, rcrm] of shares) {
      for (const [name, op2] of basic) rows.push(op(`TLBI_${name}${suffix}${nxs}`, 1, 0, crn, crm, op2, T));
      for (const [name, op2] of range) rows.push(op(`TLBI_${name}${suffix}${nxs}`, 1, 0, crn, rcrm, op2, T));
    }
  }
  return rows;
}

function cacheOps(): SysregRow[] {
  // C5 "A64 System instructions for cache maintenance"; traps per D19.2.48 TSW/TPCP/TPU/TDZ.
  const SW: Spec = { storage: 'none', group: 'SW', trapWrite: 'TSW' };
  const POC: Spec = { storage: 'none', group: 'POC', trapWrite: 'TPCP' };
  const POU: Spec = { storage: 'none', group: 'POU', trapWrite: 'TPU' };
  return [
    op('IC_IALLUIS', 1, 0, 7, 1, 0, POU),
    op('IC_IALLU', 1, 0, 7, 5, 0, POU),
    op('IC_IVAU', 1, 3, 7, 5, 1, { ...POU, el0: 'UCI' }),
    op('DC_IVAC', 1, 0, 7, 6, 1, POC),
    op('DC_ISW', 1, 0, 7, 6, 2, SW),
    op('DC_CSW', 1, 0, 7, 10, 2, SW),
    op('DC_CISW', 1, 0, 7, 14, 2, SW),
    op('DC_ZVA', 1, 3, 7, 4, 1, { storage: 'none', group: 'ZVA', trapWrite: 'TDZ', el0: 'DZE' }),
    op('DC_CVAC', 1, 3, 7, 10, 1, { ...POC, el0: 'UCI' }),
    op('DC_CVAU', 1, 3, 7, 11, 1, { ...POU, el0: 'UCI' }),
    op('DC_CVAP', 1, 3, 7, 12, 1, { ...POC, el0: 'UCI' }),
    op('DC_CVADP', 1, 3, 7, 13, 1, { ...POC, el0: 'UCI' }),
    op('DC_CIVAC', 1, 3, 7, 14, 1, { ...POC, el0: 'UCI' }),
  ];
}

function atOps(): SysregRow[] {
  // C5 "A64 System instructions for address translation". No HCR_EL2 trap without NV
  // (HCR_EL2.AT); 'emulate' because the core's walker does not know our stage 2: the MMU
  // model answers and writes PAR_EL1.
  const A: Spec = { storage: 'none', group: 'AT', cpu: 'emulate' };
  return [
    op('AT_S1E1R', 1, 0, 7, 8, 0, A),
    op('AT_S1E1W', 1, 0, 7, 8, 1, A),
    op('AT_S1E0R', 1, 0, 7, 8, 2, A),
    op('AT_S1E0W', 1, 0, 7, 8, 3, A),
    op('AT_S1E1RP', 1, 0, 7, 9, 0, { ...A, note: 'FEAT_PAN2' }),
    op('AT_S1E1WP', 1, 0, 7, 9, 1, { ...A, note: 'FEAT_PAN2' }),
  ];
}

function miscRegs(): SysregRow[] {
  // FEAT_RNG: the core draws from the host's entropy, which breaks determinism (DESIGN.md):
  // hidden (ID_AA64ISAR0_EL1.RNDR = 0) and emulated if executed anyway.
  const R: Spec = { storage: 'none', group: 'RNDR', access: 'ro', el0: 'always', cpu: 'emulate' };
  return [reg('RNDR', 3, 3, 2, 4, 0, R), reg('RNDRRS', 3, 3, 2, 4, 1, R)];
}

// ---------------------------------------------------------------- the table

export const SYSREG_TABLE: readonly SysregRow[] = Object.freeze([
  ...vmRegs(),
  ...el1Context(),
  ...pauthKeys(),
  ...lorRegs(),
  ...rasRegs(),
  ...idRegs(),
  ...gicRegs(),
  ...timerRegs(),
  ...pmuRegs(),
  ...debugRegs(),
  ...tlbiOps(),
  ...cacheOps(),
  ...atOps(),
  ...miscRegs(),
]);

function buildMaps(): { byKey: Map<number, SysregRow>; byName: Map<string, SysregRow> } {
  const byKey = new Map<number, SysregRow>();
  const byName = new Map<string, SysregRow>();
  for (const r of SYSREG_TABLE) {
    const dupKey = byKey.get(r.key);
    if (dupKey) throw new Error(`sysreg table: ${r.name} and ${dupKey.name} share ${formatEncoding(r)}`);
    const dupName = byName.get(r.name);
    if (dupName) throw new Error(`sysreg table: duplicate name ${r.name}`);
    byKey.set(r.key, r);
    byName.set(r.name, r);
  }
  return { byKey, byName };
}

const { byKey: BY_KEY, byName: BY_NAME } = buildMaps();

/** Row for a packed key (sysregKey), or undefined. O(1), no allocation. */
export function findSysregByKey(key: number): SysregRow | undefined {
  return BY_KEY.get(key);
}

/** Row for an encoding, or undefined. O(1), no allocation. */
export function findSysreg(e: { op0: number; op1: number; crn: number; crm: number; op2: number }): SysregRow | undefined {
  return BY_KEY.get((e.op0 << 14) | (e.op1 << 11) | (e.crn << 7) | (e.crm << 3) | e.op2);
}

/** Row by name ('MAIR_EL1', 'TLBI_VAE1IS', 'DC_ZVA', 'S3_0_C0_C3_3'), or undefined. */
export function sysregByName(name: string): SysregRow | undefined {
  return BY_NAME.get(name);
}

/** "Op0(3) Op1(0) CRn(10) CRm(2) Op2(0)", as KVM prints a register. */
export function formatEncoding(e: { op0: number; op1: number; crn: number; crm: number; op2: number }): string {
  return `Op0(${e.op0}) Op1(${e.op1}) CRn(${e.crn}) CRm(${e.crm}) Op2(${e.op2})`;
}

/**
 * An encoding with no row, formatted ready to paste into this table (as KVM's
 * print_sys_reg_msg does for sys_regs.c):
 *   reg('S3_0_C10_C2_7', 3, 0, 10, 2, 7, { storage: 'emulated', group: 'CTX' }), // MRS at EL1, Op0(3) Op1(0) CRn(10) CRm(2) Op2(7)
 * op0 = 1 encodings are SYS operations and come out as op(...).
 */
export function formatUnknown(
  e: { op0: number; op1: number; crn: number; crm: number; op2: number },
  how?: { read: boolean; el: number },
): string {
  const kind = e.op0 === 1 ? 'op' : 'reg';
  const group = e.op0 === 3 && (e.crn === 11 || e.crn === 15) ? 'IMPDEF' : 'CTX';
  const storage = kind === 'op' ? 'none' : 'emulated';
  const what = how ? `${how.read ? (e.op0 === 1 ? 'SYSL' : 'MRS') : e.op0 === 1 ? 'SYS' : 'MSR'} at EL${how.el}, ` : '';
  return (
    `${kind}('${genericName(e)}', ${e.op0}, ${e.op1}, ${e.crn}, ${e.crm}, ${e.op2}, ` +
    `{ storage: '${storage}', group: '${group}' }), // ${what}${formatEncoding(e)}`
  );
}
