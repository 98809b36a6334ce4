// The system-register descriptor table (hyp/sysreg-table.ts) and HCR_EL2 helpers (hyp/hcr.ts).
// Encodings: Arm ARM DDI0487, D19.2 register descriptions ("Accessing <register>": op0 op1 CRn CRm op2),
// C5 "The A64 System Instruction Class" (encoding overview; "A64 System instructions for cache
// maintenance / address translation / TLB maintenance". HCR_EL2 bits: D19.2.48.
import { describe, expect, it } from 'vitest';
import {
  SYSREG_TABLE,
  findSysreg,
  findSysregByKey,
  sysregByName,
  formatUnknown,
  formatEncoding,
  genericName,
} from '../../hyp/sysreg-table.js';
import { HCR, describeHcr, parseHcr, hcrTest, hcrLoTest, hcrHiTest, splitHcr, joinHcr, hcrOf, hcrHas, storeHcr } from '../../hyp/hcr.js';
import { SR, sysregKey } from '../../emulator/cpu/sysregs.js';

describe('sysreg table: shape', () => {
  it('has no duplicate encodings or names', () => {
    const keys = new Set<number>();
    const names = new Set<string>();
    for (const r of SYSREG_TABLE) {
      expect(keys.has(r.key), `${r.name} ${formatEncoding(r)}`).toBe(false);
      expect(names.has(r.name), r.name).toBe(false);
      keys.add(r.key);
      names.add(r.name);
      expect(r.key).toBe(sysregKey(r));
    }
    expect(SYSREG_TABLE.length).toBeGreaterThan(300);
  });

  it('encodes fields within their widths (op0 2 bits, op1 3, CRn 4, CRm 4, op2 3)', () => {
    for (const r of SYSREG_TABLE) {
      expect(r.op0 >= 1 && r.op0 <= 3, r.name).toBe(true);
      expect(r.op1 >= 0 && r.op1 <= 7 && r.crn <= 15 && r.crm <= 15 && r.op2 <= 7, r.name).toBe(true);
      // C5 encoding overview: op0 = 1 is the SYS instruction space (operations), op0 = 2/3 registers.
      expect(r.kind === 'op', r.name).toBe(r.op0 === 1);
    }
  });

  it('every VM-group row is trapped by TVM (writes) and TRVM (reads) and is on the write fast path (D19.2.48, TVM/TRVM)', () => {
    const vm = SYSREG_TABLE.filter((r) => r.group === 'VM');
    expect(vm.map((r) => r.name).sort()).toEqual(
      ['SCTLR_EL1', 'TTBR0_EL1', 'TTBR1_EL1', 'TCR_EL1', 'ESR_EL1', 'FAR_EL1', 'AFSR0_EL1', 'AFSR1_EL1', 'MAIR_EL1', 'AMAIR_EL1', 'CONTEXTIDR_EL1'].sort(),
    );
    for (const r of vm) {
      expect(r.trapWrite, r.name).toBe('TVM');
      expect(r.trapRead, r.name).toBe('TRVM');
      expect(r.fastPath, r.name).toBe('vm-write');
      expect(r.storage, r.name).toBe('el1');
    }
    expect(SYSREG_TABLE.filter((r) => r.fastPath === 'vm-write')).toHaveLength(11);
  });

  it('every ID group 3 row is trapped by TID3, read-only, and the group covers op0=3 op1=0 CRn=0 CRm=1..7 (D19.2.48, TID3)', () => {
    const id3 = SYSREG_TABLE.filter((r) => r.group === 'ID3');
    expect(id3).toHaveLength(7 * 8);
    for (const r of id3) {
      expect(r.trapRead, r.name).toBe('TID3');
      expect(r.trapWrite, r.name).toBeNull();
      expect(r.access).toBe('ro');
      expect(r.storage).toBe('id');
      expect(r.op0 === 3 && r.op1 === 0 && r.crn === 0 && r.crm >= 1 && r.crm <= 7, r.name).toBe(true);
    }
    for (let crm = 1; crm <= 7; crm++)
      for (let op2 = 0; op2 <= 7; op2++) expect(findSysreg({ op0: 3, op1: 0, crn: 0, crm, op2 })?.group).toBe('ID3');
    // Unallocated encodings are named generically and reset to 0 (RAZ).
    expect(sysregByName('S3_0_C0_C3_3')?.reset).toBe(0n);
  });

  it('ID groups 1 and 2 (D19.2.48, TID1: REVIDR_EL1, AIDR_EL1; TID2: CTR_EL0, CCSIDR_EL1, CCSIDR2_EL1, CLIDR_EL1, CSSELR_EL1)', () => {
    expect(SYSREG_TABLE.filter((r) => r.trapRead === 'TID1').map((r) => r.name).sort()).toEqual(['AIDR_EL1', 'REVIDR_EL1']);
    expect(SYSREG_TABLE.filter((r) => r.trapRead === 'TID2').map((r) => r.name).sort()).toEqual(
      ['CCSIDR2_EL1', 'CCSIDR_EL1', 'CLIDR_EL1', 'CSSELR_EL1', 'CTR_EL0'],
    );
    expect(sysregByName('CSSELR_EL1')?.trapWrite).toBe('TID2');
  });

  it('TID4 (FEAT_EVT) is the second condition of the cache-geometry rows, not of CTR_EL0 (D19.2.48 TID4)', () => {
    expect(SYSREG_TABLE.filter((r) => r.trapAlso === 'TID4').map((r) => r.name).sort()).toEqual(
      ['CCSIDR2_EL1', 'CCSIDR_EL1', 'CLIDR_EL1', 'CSSELR_EL1'],
    );
    expect(SYSREG_TABLE.filter((r) => r.trapAlso !== null && r.trapAlso !== 'TID4')).toEqual([]);
  });

  it('cache and TLB maintenance rows carry their HCR_EL2 bit (D19.2.48 TSW, TPCP, TPU, TTLB, TDZ)', () => {
    const bit = (n: string) => sysregByName(n)?.trapWrite;
    for (const n of ['DC_ISW', 'DC_CSW', 'DC_CISW']) expect(bit(n)).toBe('TSW');
    for (const n of ['DC_IVAC', 'DC_CVAC', 'DC_CIVAC', 'DC_CVAP', 'DC_CVADP']) expect(bit(n)).toBe('TPCP');
    for (const n of ['IC_IALLUIS', 'IC_IALLU', 'IC_IVAU', 'DC_CVAU']) expect(bit(n)).toBe('TPU');
    expect(bit('DC_ZVA')).toBe('TDZ');
    const tlbi = SYSREG_TABLE.filter((r) => r.group === 'TLB');
    expect(tlbi).toHaveLength(2 * 3 * 10); // {plain, nXS} x {OS, IS, non-shareable} x (6 basic + 4 range)
    for (const r of tlbi) expect(r.trapWrite, r.name).toBe('TTLB');
  });

  it('GIC CPU interface, PMU basics, debug 0-15 and pointer-auth keys are present', () => {
    for (const n of ['ICC_PMR_EL1', 'ICC_IAR1_EL1', 'ICC_EOIR1_EL1', 'ICC_DIR_EL1', 'ICC_CTLR_EL1', 'ICC_SRE_EL1', 'ICC_IGRPEN1_EL1', 'ICC_BPR1_EL1', 'ICC_RPR_EL1', 'ICC_SGI1R_EL1', 'ICC_HPPIR1_EL1', 'ICC_AP1R0_EL1'])
      expect(sysregByName(n)?.group, n).toBe('GIC');
    for (const n of ['PMCR_EL0', 'PMUSERENR_EL0', 'PMCCFILTR_EL0', 'PMSELR_EL0', 'PMXEVTYPER_EL0', 'PMEVCNTR30_EL0', 'PMEVTYPER30_EL0'])
      expect(sysregByName(n)?.group, n).toBe('PMU');
    for (let i = 0; i < 16; i++) for (const p of ['DBGBCR', 'DBGBVR', 'DBGWCR', 'DBGWVR']) expect(sysregByName(`${p}${i}_EL1`)).toBeDefined();
    for (const n of ['APIAKEYLO_EL1', 'APIBKEYHI_EL1', 'APDAKEYLO_EL1', 'APDBKEYHI_EL1', 'APGAKEYLO_EL1']) expect(sysregByName(n)?.trapRead).toBe('!APK');
  });

  it('agrees with the machine\'s own encodings (emulator/cpu/sysregs.ts SR)', () => {
    for (const [name, e] of Object.entries(SR)) expect(findSysreg(e)?.name, name).toBe(name);
  });
});

describe('sysreg table: encodings of well-known registers (Arm ARM)', () => {
  // [name, op0, op1, CRn, CRm, op2, where in the Arm ARM]
  const known: [string, number, number, number, number, number, string][] = [
    ['SCTLR_EL1', 3, 0, 1, 0, 0, 'D19.2 SCTLR_EL1, Accessing SCTLR_EL1'],
    ['ACTLR_EL1', 3, 0, 1, 0, 1, 'D19.2 ACTLR_EL1'],
    ['TTBR0_EL1', 3, 0, 2, 0, 0, 'D19.2 TTBR0_EL1'],
    ['TCR_EL1', 3, 0, 2, 0, 2, 'D19.2 TCR_EL1'],
    ['ESR_EL1', 3, 0, 5, 2, 0, 'D19.2 ESR_EL1'],
    ['FAR_EL1', 3, 0, 6, 0, 0, 'D19.2 FAR_EL1'],
    ['PAR_EL1', 3, 0, 7, 4, 0, 'D19.2 PAR_EL1'],
    ['MAIR_EL1', 3, 0, 10, 2, 0, 'D19.2 MAIR_EL1'],
    ['VBAR_EL1', 3, 0, 12, 0, 0, 'D19.2 VBAR_EL1'],
    ['CONTEXTIDR_EL1', 3, 0, 13, 0, 1, 'D19.2 CONTEXTIDR_EL1'],
    ['TPIDR_EL0', 3, 3, 13, 0, 2, 'D19.2 TPIDR_EL0'],
    ['MIDR_EL1', 3, 0, 0, 0, 0, 'D19.2 MIDR_EL1'],
    ['MPIDR_EL1', 3, 0, 0, 0, 5, 'D19.2 MPIDR_EL1'],
    ['ID_AA64PFR0_EL1', 3, 0, 0, 4, 0, 'D19.2 ID_AA64PFR0_EL1'],
    ['ID_AA64ISAR0_EL1', 3, 0, 0, 6, 0, 'D19.2 ID_AA64ISAR0_EL1'],
    ['ID_AA64MMFR0_EL1', 3, 0, 0, 7, 0, 'D19.2 ID_AA64MMFR0_EL1'],
    ['CTR_EL0', 3, 3, 0, 0, 1, 'D19.2 CTR_EL0'],
    ['CLIDR_EL1', 3, 1, 0, 0, 1, 'D19.2 CLIDR_EL1'],
    ['CSSELR_EL1', 3, 2, 0, 0, 0, 'D19.2 CSSELR_EL1'],
    ['DCZID_EL0', 3, 3, 0, 0, 7, 'D19.2 DCZID_EL0'],
    ['CNTV_CTL_EL0', 3, 3, 14, 3, 1, 'D19 Generic Timer registers, CNTV_CTL_EL0'],
    ['CNTKCTL_EL1', 3, 0, 14, 1, 0, 'D19 Generic Timer registers, CNTKCTL_EL1'],
    ['MDSCR_EL1', 2, 0, 0, 2, 2, 'D19 debug registers, MDSCR_EL1'],
    ['OSLAR_EL1', 2, 0, 1, 0, 4, 'D19 debug registers, OSLAR_EL1'],
    ['PMCR_EL0', 3, 3, 9, 12, 0, 'Performance Monitors registers, PMCR_EL0'],
    ['APIAKEYLO_EL1', 3, 0, 2, 1, 0, 'D19.2 APIAKeyLo_EL1'],
    ['ICC_IAR1_EL1', 3, 0, 12, 12, 0, 'GIC IHI0069 CPU interface System registers, ICC_IAR1_EL1'],
    ['ICC_SRE_EL1', 3, 0, 12, 12, 5, 'GIC IHI0069 CPU interface System registers, ICC_SRE_EL1'],
    ['ICC_PMR_EL1', 3, 0, 4, 6, 0, 'GIC IHI0069 CPU interface System registers, ICC_PMR_EL1'],
    ['TLBI_VMALLE1IS', 1, 0, 8, 3, 0, 'C5 A64 System instructions, TLBI VMALLE1IS'],
    ['TLBI_VAE1', 1, 0, 8, 7, 1, 'C5 A64 System instructions, TLBI VAE1'],
    ['TLBI_RVAE1IS', 1, 0, 8, 2, 1, 'C5 A64 System instructions, TLBI RVAE1IS'],
    ['TLBI_VAE1OSNXS', 1, 0, 9, 1, 1, 'C5 A64 System instructions, TLBI VAE1OSNXS (FEAT_XS: CRn = 9)'],
    ['DC_ZVA', 1, 3, 7, 4, 1, 'C5 A64 System instructions, DC ZVA'],
    ['DC_CIVAC', 1, 3, 7, 14, 1, 'C5 A64 System instructions, DC CIVAC'],
    ['DC_ISW', 1, 0, 7, 6, 2, 'C5 A64 System instructions, DC ISW'],
    ['IC_IVAU', 1, 3, 7, 5, 1, 'C5 A64 System instructions, IC IVAU'],
    ['IC_IALLUIS', 1, 0, 7, 1, 0, 'C5 A64 System instructions, IC IALLUIS'],
    ['AT_S1E1R', 1, 0, 7, 8, 0, 'C5 A64 System instructions, AT S1E1R'],
    ['AT_S1E0W', 1, 0, 7, 8, 3, 'C5 A64 System instructions, AT S1E0W'],
  ];
  it.each(known)('%s = {%i, %i, C%i, C%i, %i} (%s)', (name, op0, op1, crn, crm, op2) => {
    const r = sysregByName(name);
    expect(r).toBeDefined();
    expect([r!.op0, r!.op1, r!.crn, r!.crm, r!.op2]).toEqual([op0, op1, crn, crm, op2]);
    expect(findSysreg({ op0, op1, crn, crm, op2 })).toBe(r);
    expect(findSysregByKey(sysregKey({ op0, op1, crn, crm, op2 }))).toBe(r);
  });
});

describe('sysreg table: unknown encodings', () => {
  it('formats an unknown encoding ready to paste into the table, as KVM print_sys_reg_msg does', () => {
    const e = { op0: 3, op1: 0, crn: 10, crm: 2, op2: 7 };
    expect(findSysreg(e)).toBeUndefined();
    const text = formatUnknown(e, { read: true, el: 1 });
    expect(text).toBe(
      "reg('S3_0_C10_C2_7', 3, 0, 10, 2, 7, { storage: 'emulated', group: 'CTX' }), // MRS at EL1, Op0(3) Op1(0) CRn(10) CRm(2) Op2(7)",
    );
    expect(formatUnknown({ op0: 1, op1: 4, crn: 8, crm: 7, op2: 4 })).toMatch(/^op\('S1_4_C8_C7_4', 1, 4, 8, 7, 4, \{ storage: 'none'/);
    expect(formatUnknown({ op0: 3, op1: 1, crn: 15, crm: 2, op2: 0 }, { read: false, el: 1 })).toContain("group: 'IMPDEF' }), // MSR at EL1");
    expect(genericName(e)).toBe('S3_0_C10_C2_7');
  });
});

describe('HCR_EL2 (D19.2.48)', () => {
  it('bit positions', () => {
    const expected: Record<string, number> = {
      VM: 0, SWIO: 1, PTW: 2, FMO: 3, IMO: 4, AMO: 5, VF: 6, VI: 7, VSE: 8, FB: 9, DC: 12, TWI: 13, TWE: 14,
      TID0: 15, TID1: 16, TID2: 17, TID3: 18, TSC: 19, TIDCP: 20, TACR: 21, TSW: 22, TPCP: 23, TPU: 24,
      TTLB: 25, TVM: 26, TGE: 27, TDZ: 28, HCD: 29, TRVM: 30, RW: 31, CD: 32, ID: 33, E2H: 34, TLOR: 35,
      TERR: 36, TEA: 37, APK: 40, API: 41, NV: 42, NV1: 43, AT: 44, NV2: 45, FWB: 46, TID5: 58,
    };
    for (const [n, b] of Object.entries(expected)) expect(HCR[n as keyof typeof HCR], n).toBe(b);
    expect(new Set(Object.values(HCR)).size).toBe(Object.keys(HCR).length);
  });

  it('tests bits on a bigint and on 32-bit halves alike', () => {
    const v = hcrOf('VM', 'TVM', 'RW', 'E2H', 'FWB');
    const { lo, hi } = splitHcr(v);
    expect(lo).toBe(((1 << 0) | (1 << 26) | 2 ** 31) >>> 0);
    expect(hi).toBe((1 << 2) | (1 << 14));
    expect(joinHcr(lo, hi)).toBe(v);
    for (const [n, b] of Object.entries(HCR)) {
      const want = hcrHas(v, n as keyof typeof HCR);
      expect(hcrTest(lo, hi, b), n).toBe(want);
      expect(b < 32 ? hcrLoTest(lo, b) : hcrHiTest(hi, b), n).toBe(want);
    }
    const w = { lo: 0, hi: 0 };
    storeHcr(w, v);
    expect(w).toEqual({ lo, hi });
  });

  it('describes and parses values for humans', () => {
    const v = hcrOf('VM', 'TSC', 'TVM', 'RW');
    expect(describeHcr(v)).toBe('VM|TSC|TVM|RW');
    expect(describeHcr(splitHcr(v))).toBe('VM|TSC|TVM|RW');
    expect(describeHcr(0n)).toBe('0');
    expect(describeHcr((3n << 10n) | (1n << 62n) | hcrOf('E2H'))).toBe('BSU=3|E2H|TWEDEL=4');
    expect(parseHcr('VM|TSC|TVM|RW')).toBe(v);
    expect(parseHcr('BSU=1, DC')).toBe((1n << 10n) | (1n << 12n));
    expect(() => parseHcr('VM|NOPE')).toThrow(/unknown HCR_EL2 bit 'NOPE'/);
  });
});
