// The sanitised feature set (hyp/idregs.ts). Field layouts: Arm ARM DDI0487 D19.2, the
// register description of each ID register (field names as the Arm ARM spells them);
// "ID register space": op0=3 op1=0 CRn=0 CRm=1..7, unallocated encodings RAZ.
import { describe, expect, it } from 'vitest';
import { defaultFeatureSet, ID_FIELDS, QEMU_72_MAX, UNICORN_211_MAX, fieldOf, lowerSafe, sanitise, withPointerAuth } from '../../hyp/idregs.js';
import { SYSREG_TABLE, sysregByName, ID_SPACE_NAMES } from '../../hyp/sysreg-table.js';

const fs = defaultFeatureSet();
const F = (p: string) => fs.field(p);

describe('sanitised ID_AA64* fields', () => {
  it('ID_AA64PFR0_EL1: EL0/EL1 AArch64 only, no EL2/EL3, FP/AdvSIMD, GICv3 sysregs, no RAS/SVE/AMU/MPAM', () => {
    expect(F('ID_AA64PFR0_EL1.EL0')).toBe(1); // 0b0001: EL0 AArch64 only
    expect(F('ID_AA64PFR0_EL1.EL1')).toBe(1);
    expect(F('ID_AA64PFR0_EL1.EL2')).toBe(0);
    expect(F('ID_AA64PFR0_EL1.EL3')).toBe(0);
    expect(F('ID_AA64PFR0_EL1.FP')).toBe(1); // 0b0001: FP incl. half precision
    expect(F('ID_AA64PFR0_EL1.AdvSIMD')).toBe(1);
    expect(F('ID_AA64PFR0_EL1.GIC')).toBe(1); // 0b0001: GICv3/v4 system-register interface
    expect(F('ID_AA64PFR0_EL1.RAS')).toBe(0);
    expect(F('ID_AA64PFR0_EL1.SVE')).toBe(0);
    expect(F('ID_AA64PFR0_EL1.SEL2')).toBe(0);
    expect(F('ID_AA64PFR0_EL1.MPAM')).toBe(0);
    expect(F('ID_AA64PFR0_EL1.AMU')).toBe(0);
    expect(F('ID_AA64PFR0_EL1.DIT')).toBe(0); // the core has no DIT
    expect(F('ID_AA64PFR0_EL1.CSV2')).toBe(1);
    expect(F('ID_AA64PFR0_EL1.CSV3')).toBe(1);
    expect(fs.value('ID_AA64PFR0_EL1')).toBe(0x1100_0000_0111_0011n);
  });

  it('ID_AA64PFR1_EL1: no BTI, SSBS, MTE, SME', () => {
    for (const n of ['BT', 'SSBS', 'MTE', 'SME', 'NMI']) expect(F(`ID_AA64PFR1_EL1.${n}`), n).toBe(0);
    expect(fs.value('ID_AA64PFR1_EL1')).toBe(0n);
  });

  it('ID_AA64ZFR0_EL1 and ID_AA64SMFR0_EL1 are zero (no SVE, no SME)', () => {
    expect(fs.value('ID_AA64ZFR0_EL1')).toBe(0n);
    expect(fs.value('ID_AA64SMFR0_EL1')).toBe(0n);
  });

  it('ID_AA64DFR0_EL1: Armv8.0 debug, no trace, PMUv3p5, 6 breakpoints, 4 watchpoints, 2 context comparators', () => {
    expect(F('ID_AA64DFR0_EL1.DebugVer')).toBe(6);
    expect(F('ID_AA64DFR0_EL1.TraceVer')).toBe(0);
    expect(F('ID_AA64DFR0_EL1.PMUVer')).toBe(6); // FEAT_PMUv3p5 (emulator/devices/pmu.ts)
    expect(F('ID_AA64DFR0_EL1.BRPs')).toBe(5); // number of breakpoints minus 1
    expect(F('ID_AA64DFR0_EL1.WRPs')).toBe(3);
    expect(F('ID_AA64DFR0_EL1.CTX_CMPs')).toBe(1);
    expect(F('ID_AA64DFR0_EL1.PMSVer')).toBe(0);
    expect(F('ID_AA64DFR0_EL1.DoubleLock')).toBe(0); // 0b0000: OS double lock implemented
  });

  it('ID_AA64MMFR0_EL1: 40-bit PA, 16-bit ASID, 4K/16K/64K granules, little-endian only', () => {
    expect(F('ID_AA64MMFR0_EL1.PARange')).toBe(2); // 0b0010: 40 bits, 1 TB
    expect(F('ID_AA64MMFR0_EL1.ASIDBits')).toBe(2); // 0b0010: 16 bits
    expect(F('ID_AA64MMFR0_EL1.BigEnd')).toBe(0);
    expect(F('ID_AA64MMFR0_EL1.BigEndEL0')).toBe(0);
    expect(F('ID_AA64MMFR0_EL1.SNSMem')).toBe(0);
    expect(F('ID_AA64MMFR0_EL1.TGran4')).toBe(0); // 0b0000: 4 KB supported (0b1111 = not)
    expect(F('ID_AA64MMFR0_EL1.TGran16')).toBe(1); // 0b0001: 16 KB supported (0b0000 = not)
    expect(F('ID_AA64MMFR0_EL1.TGran64')).toBe(0); // 0b0000: 64 KB supported
    expect(F('ID_AA64MMFR0_EL1.FGT')).toBe(0);
    expect(F('ID_AA64MMFR0_EL1.ECV')).toBe(0);
    expect(fs.value('ID_AA64MMFR0_EL1')).toBe(0x0010_0022n);
  });

  it('ID_AA64MMFR1_EL1: no HW AF/dirty, no VHE/LOR/PAN, HPD supported', () => {
    expect(F('ID_AA64MMFR1_EL1.HAFDBS')).toBe(0);
    expect(F('ID_AA64MMFR1_EL1.VH')).toBe(0);
    expect(F('ID_AA64MMFR1_EL1.LO')).toBe(0);
    expect(F('ID_AA64MMFR1_EL1.PAN')).toBe(0);
    expect(F('ID_AA64MMFR1_EL1.HPDS')).toBe(1);
    expect(F('ID_AA64MMFR1_EL1.XNX')).toBe(0);
  });

  it('ID_AA64MMFR2_EL1: CnP only; no UAO, 52-bit VA, CCIDX, NV, FWB, E0PD', () => {
    expect(F('ID_AA64MMFR2_EL1.CnP')).toBe(1);
    for (const n of ['UAO', 'VARange', 'CCIDX', 'NV', 'FWB', 'TTL', 'EVT', 'E0PD', 'IDS']) expect(F(`ID_AA64MMFR2_EL1.${n}`), n).toBe(0);
  });

  it('ID_AA64ISAR0/1/2_EL1: instruction-set features the core runs; FEAT_RNG offered (seeded, emulator/devices/rng.ts)', () => {
    expect(F('ID_AA64ISAR0_EL1.AES')).toBe(2); // AES + PMULL
    expect(F('ID_AA64ISAR0_EL1.Atomic')).toBe(2); // FEAT_LSE
    expect(F('ID_AA64ISAR0_EL1.CRC32')).toBe(1);
    expect(F('ID_AA64ISAR0_EL1.RNDR')).toBe(1); // 0b0001: RNDR and RNDRRS
    expect(F('ID_AA64ISAR0_EL1.TME')).toBe(0);
    expect(F('ID_AA64ISAR0_EL1.TLB')).toBe(0); // the core lacks TLBI range/OS
    // PAuth (QARMA, in both QEMU and the core) only with --pauth: withPointerAuth
    for (const n of ['APA', 'API', 'GPA', 'GPI']) expect(F(`ID_AA64ISAR1_EL1.${n}`), n).toBe(0);
    const pa = withPointerAuth(fs);
    expect(pa.field('ID_AA64ISAR1_EL1.APA')).toBe(1); // QARMA, address and generic
    expect(pa.field('ID_AA64ISAR1_EL1.GPA')).toBe(1);
    expect(pa.field('ID_AA64ISAR1_EL1.API')).toBe(0); // no IMPLEMENTATION DEFINED algorithm in either
    expect(pa.value('ID_AA64ISAR1_EL1') & ~0xff00_0ff0n).toBe(fs.value('ID_AA64ISAR1_EL1'));
    expect(F('ID_AA64ISAR1_EL1.LRCPC')).toBe(2);
    expect(F('ID_AA64ISAR1_EL1.SPECRES')).toBe(0);
    expect(F('ID_AA64ISAR1_EL1.BF16')).toBe(0); // QEMU 7.2 has it, the core does not
    expect(F('ID_AA64ISAR2_EL1.WFxT')).toBe(0);
    expect(fs.value('ID_AA64ISAR2_EL1')).toBe(0n);
  });

  it('every "min" field is at most both measurements; every fixed field has its policy value', () => {
    for (const [reg, fields] of Object.entries(ID_FIELDS)) {
      const v = fs.value(reg);
      for (const fld of fields) {
        const got = fieldOf(v, fld.shift);
        if (fld.policy === 'min') {
          const q = fieldOf(QEMU_72_MAX[reg] ?? 0n, fld.shift);
          const c = fieldOf(UNICORN_211_MAX[reg] ?? 0n, fld.shift);
          expect(got, `${reg}.${fld.name}`).toBe(lowerSafe(q, c, fld));
          if (!fld.signed) expect(got <= q && got <= c, `${reg}.${fld.name}`).toBe(true);
        } else {
          expect(got, `${reg}.${fld.name}`).toBe(fld.policy);
        }
      }
    }
  });

  it('fields do not overlap within a register', () => {
    for (const [reg, fields] of Object.entries(ID_FIELDS)) {
      let used = 0n;
      for (const fld of fields) {
        const mask = ((1n << BigInt(fld.width)) - 1n) << BigInt(fld.shift);
        expect(used & mask, `${reg}.${fld.name}`).toBe(0n);
        used |= mask;
      }
    }
  });

  it('signed fields compare signed (0xF = not implemented is the lowest)', () => {
    expect(lowerSafe(0xf, 1, { width: 4, signed: true })).toBe(0xf);
    expect(lowerSafe(0, 1, { width: 4, signed: true })).toBe(0);
    expect(lowerSafe(0xf, 1, { width: 4 })).toBe(1);
    expect(sanitise('ID_AA64PFR0_EL1', 0xf_0000n, 0x1_0000n) & 0xf_0000n).toBe(0xf_0000n); // FP not implemented wins
  });
});

describe('other ID registers', () => {
  it('MIDR_EL1 is QEMU max\'s; MPIDR_EL1 = 0x8000_0000 (RES1 bit 31, U = 0, Aff0 = 0: DT cpu@0)', () => {
    expect(fs.value('MIDR_EL1')).toBe(0x000f_0510n);
    expect(fs.value('MPIDR_EL1')).toBe(0x8000_0000n);
    expect(fs.read(sysregByName('MPIDR_EL1')!)).toBe(0x8000_0000n);
  });

  it('CTR_EL0, DCZID_EL0 (64-byte DC ZVA), CLIDR_EL1 and CCSIDR_EL1 per CSSELR_EL1', () => {
    expect(fs.read(sysregByName('CTR_EL0')!)).toBe(0x8444_c004n);
    expect(fs.read(sysregByName('DCZID_EL0')!)).toBe(0x4n); // BS = 4: 2^4 words
    expect(fs.read(sysregByName('CLIDR_EL1')!)).toBe(0x0200_0023n); // L1 separate I+D, L2 unified, LoC = 2
    const ccsidr = sysregByName('CCSIDR_EL1')!;
    expect(fs.read(ccsidr, 0)).toBe(0x701f_e00an); // level 1 data
    expect(fs.read(ccsidr, 1)).toBe(0x201f_e012n); // level 1 instruction
    expect(fs.read(ccsidr, 2)).toBe(0x70ff_e07an); // level 2
    expect(fs.read(ccsidr, 5)).toBe(0n); // no such cache: UNKNOWN, we return 0
  });

  it('CCSIDR2_EL1 is UNDEFINED without FEAT_CCIDX (read returns null)', () => {
    expect(fs.read(sysregByName('CCSIDR2_EL1')!)).toBeNull();
  });

  it('AArch32 ID registers read as zero (no AArch32 at EL0/EL1)', () => {
    for (const n of ['ID_PFR0_EL1', 'ID_DFR0_EL1', 'ID_ISAR0_EL1', 'ID_MMFR0_EL1', 'MVFR0_EL1', 'MVFR2_EL1', 'ID_PFR2_EL1', 'ID_MMFR5_EL1'])
      expect(fs.read(sysregByName(n)!), n).toBe(0n);
  });

  it('unallocated encodings of the ID space read as zero (D19.2 "ID register space")', () => {
    let unallocated = 0;
    for (let crm = 1; crm <= 7; crm++)
      for (let op2 = 0; op2 <= 7; op2++) {
        const v = fs.read({ op0: 3, op1: 0, crn: 0, crm, op2 });
        expect(v, `CRm=${crm} op2=${op2}`).not.toBeNull();
        if (ID_SPACE_NAMES[crm]![op2] === null) {
          unallocated++;
          expect(v).toBe(0n);
        }
      }
    expect(unallocated).toBe(20);
  });

  it('answers every row whose storage is "id"', () => {
    for (const r of SYSREG_TABLE.filter((x) => x.storage === 'id' && x.name !== 'CCSIDR2_EL1')) expect(fs.read(r), r.name).not.toBeNull();
  });
});

describe('overrides', () => {
  it('by field', () => {
    const g = fs.withOverrides({ 'ID_AA64MMFR0_EL1.TGran16': 0, 'ID_AA64MMFR0_EL1.PARange': 5 });
    expect(g.field('ID_AA64MMFR0_EL1.TGran16')).toBe(0);
    expect(g.field('ID_AA64MMFR0_EL1.PARange')).toBe(5);
    expect(g.field('ID_AA64MMFR0_EL1.ASIDBits')).toBe(2); // untouched
    expect(fs.field('ID_AA64MMFR0_EL1.TGran16')).toBe(1); // the original is immutable
  });

  it('by whole register, with fields applied on top', () => {
    const g = fs.withOverrides({ MIDR_EL1: 0x410f_d083n, ID_AA64ISAR0_EL1: 0n, 'ID_AA64ISAR0_EL1.CRC32': 1, 'CCSIDR_EL1[0]': 0x1234n });
    expect(g.value('MIDR_EL1')).toBe(0x410f_d083n);
    expect(g.value('ID_AA64ISAR0_EL1')).toBe(0x1_0000n);
    expect(g.read(sysregByName('MIDR_EL1')!)).toBe(0x410f_d083n);
    expect(g.read(sysregByName('CCSIDR_EL1')!, 0)).toBe(0x1234n);
  });

  it('rejects unknown registers, fields and values that do not fit', () => {
    expect(() => fs.withOverrides({ NOPE_EL1: 1 })).toThrow(/unknown ID register/);
    expect(() => fs.withOverrides({ 'ID_AA64MMFR0_EL1.Nope': 1 })).toThrow(/unknown field 'Nope'/);
    expect(() => fs.withOverrides({ 'ID_AA64MMFR0_EL1.PARange': 16 })).toThrow(/does not fit/);
  });
});
