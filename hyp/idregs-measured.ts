/**
 * The two measurements hyp/idregs.ts sanitises (raw register values, recorded once; see the
 * header of idregs.ts for how each was taken). Data, kept apart from the policy that uses it:
 * one row per register, one column per measurement.
 *  - QEMU: QEMU 7.2 `-M virt,gic-version=3 -cpu max`, read by guest-images/src/idregs.c at EL1.
 *  - core: Unicorn 2.1.1 UC_CPU_ARM64_MAX, read with UC_ARM64_REG_CP_REG (0: the core has no value
 *    for that register and reads it as zero).
 */
type Measured = readonly [name: string, qemu: bigint, core: bigint];

const MEASURED: readonly Measured[] = [
  // name              QEMU 7.2                 Unicorn 2.1.1
  ['MIDR_EL1',         0x000f_0510n,            0x000f_0510n], // implementer 0, architecture 0xf, part 0x051 ('Q'), revision 0
  ['MPIDR_EL1',        0x8000_0000n,            0x8000_0000n],
  ['REVIDR_EL1',       0n,                      0n],
  ['AIDR_EL1',         0n,                      0n],
  ['CTR_EL0',          0x8444_c004n,            0x8444_c004n],
  ['DCZID_EL0',        0x4n,                    0x4n],
  ['CLIDR_EL1',        0x0200_0023n,            0x0a20_0023n],
  ['CCSIDR_EL1[0]',    0x701f_e00an,            0x701f_e00an], // L1 data
  ['CCSIDR_EL1[1]',    0x201f_e012n,            0n], // L1 instruction
  ['CCSIDR_EL1[2]',    0x70ff_e07an,            0n], // L2 unified
  ['ID_PFR0_EL1',      0x1102_0131n,            0x131n],
  ['ID_PFR1_EL1',      0x1001_0001n,            0x1_1011n],
  ['ID_DFR0_EL1',      0x0601_0009n,            0x0501_0066n],
  ['ID_AFR0_EL1',      0n,                      0n],
  ['ID_MMFR0_EL1',     0x1010_1105n,            0x1010_1105n],
  ['ID_MMFR1_EL1',     0x4000_0000n,            0x4000_0000n],
  ['ID_MMFR2_EL1',     0x0126_0000n,            0x0126_0000n],
  ['ID_MMFR3_EL1',     0x0212_2211n,            0x0212_2211n],
  ['ID_ISAR0_EL1',     0x0210_1110n,            0x0210_1110n],
  ['ID_ISAR1_EL1',     0x1311_2111n,            0x1311_2111n],
  ['ID_ISAR2_EL1',     0x2123_2042n,            0x2123_2042n],
  ['ID_ISAR3_EL1',     0x0111_2131n,            0x0111_2131n],
  ['ID_ISAR4_EL1',     0x0001_1142n,            0x0001_1142n],
  ['ID_ISAR5_EL1',     0x1101_1121n,            0x1101_1121n],
  ['ID_MMFR4_EL1',     0x0001_1110n,            0x0001_1010n],
  ['ID_ISAR6_EL1',     0x0111_1111n,            0x0001_1111n],
  ['MVFR0_EL1',        0x1011_0222n,            0x1011_0222n],
  ['MVFR1_EL1',        0x1321_1111n,            0x1211_1111n],
  ['MVFR2_EL1',        0x43n,                   0x43n],
  ['ID_PFR2_EL1',      0x11n,                   0n],
  ['ID_DFR1_EL1',      0n,                      0n],
  ['ID_MMFR5_EL1',     0x1n,                    0n],
  ['ID_AA64PFR0_EL1',  0x1201_0011_2111_0022n,  0x0000_0001_0011_2222n],
  ['ID_AA64PFR1_EL1',  0x0100_0021n,            0x1n],
  ['ID_AA64ZFR0_EL1',  0x0110_1101_0011_0021n,  0n],
  ['ID_AA64SMFR0_EL1', 0x80f1_00fd_0000_0000n,  0n],
  ['ID_AA64DFR0_EL1',  0x1030_5609n,            0x1030_5506n],
  ['ID_AA64DFR1_EL1',  0n,                      0n],
  ['ID_AA64AFR0_EL1',  0n,                      0n],
  ['ID_AA64AFR1_EL1',  0n,                      0n],
  ['ID_AA64ISAR0_EL1', 0x1221_1111_1021_2120n,  0x1021_1111_1021_2120n],
  ['ID_AA64ISAR1_EL1', 0x0011_1111_0121_1012n,  0x0000_0111_0121_1012n],
  ['ID_AA64ISAR2_EL1', 0n,                      0n],
  ['ID_AA64MMFR0_EL1', 0x0000_0323_1020_1126n,  0x1124n],
  ['ID_AA64MMFR1_EL1', 0x0000_0110_1021_1122n,  0x0021_1120n],
  ['ID_AA64MMFR2_EL1', 0x1021_0110_1001_1011n,  0x11n],
];

const column = (pick: (m: Measured) => bigint): Readonly<Record<string, bigint>> => Object.freeze(Object.fromEntries(MEASURED.map((m) => [m[0], pick(m)])));

/** QEMU 7.2 `-M virt,gic-version=3 -cpu max`, read by guest-images/src/idregs.c at EL1. */
export const QEMU_72_MAX = column((m) => m[1]);

/** Unicorn 2.1.1 UC_CPU_ARM64_MAX, read with UC_ARM64_REG_CP_REG. */
export const UNICORN_211_MAX = column((m) => m[2]);
