/**
 * The guest's CPU feature set: the values of the ID registers it reads under
 * HCR_EL2.TID1/TID2/TID3 (and MIDR/MPIDR, which EL1 reads from VPIDR_EL2 /
 * VMPIDR_EL2). As KVM "sanitises" the host's ID registers, we start from a
 * real CPU's values and advertise only what hypemu implements.
 *
 * Two measurements (both recorded below, raw):
 *  - QEMU_72_MAX: QEMU 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18), `qemu-system-aarch64
 *    -M virt,gic-version=3 -cpu max -m 256M -nographic -kernel idregs.elf`: the
 *    guest guest-images/src/idregs.c runs at EL1 and prints every ID register
 *    (whole ID space, CLIDR, every CCSIDR). This is the starting point.
 *    (With the default gic-version=2, ID_AA64PFR0_EL1.GIC = 0 and ID_PFR1_EL1 = 0x10001.)
 *  - UNICORN_211_MAX: the CPU core that actually executes the guest, Unicorn
 *    2.1.1 with UC_CPU_ARM64_MAX (QEMU 5.0-era "max"), read through
 *    UC_ARM64_REG_CP_REG. An ISA feature the core does not execute cannot be
 *    advertised, so instruction-set fields take the lower of the two.
 *
 * Sanitising (ID_FIELDS): each field of a described register is either 'min'
 * (the lower-safe value of QEMU's and the core's, KVM's FTR_LOWER_SAFE; signed
 * fields compare signed) or a fixed hypemu policy value. Fields not described
 * read as zero. AArch32 ID registers read as zero: AArch32 is not implemented
 * at EL0/EL1 (ID_AA64PFR0_EL1.EL0/EL1 = 1), as KVM makes them RAZ when the
 * guest cannot run 32-bit code. Unallocated encodings of the ID space read as
 * zero (Arm ARM D19.2 "ID register space": op0=3 op1=0 CRn=0 CRm=1..7).
 *
 * Field layouts: Arm ARM DDI0487 D19.2, the register description of each
 * ID_AA64*_EL1 register ("ID_AA64PFR0_EL1, AArch64 Processor Feature Register 0", ...).
 */
import { sysregKey } from '../emulator/cpu/sysregs.js';
import { ID_SPACE_NAMES, genericName } from './sysreg-table.js';
import { QEMU_72_MAX, UNICORN_211_MAX } from './idregs-measured.js';

// The measurements (QEMU_72_MAX, UNICORN_211_MAX) live in idregs-measured.ts.
export { QEMU_72_MAX, UNICORN_211_MAX };

// ---------------------------------------------------------------- field descriptions

export interface IdField {
  readonly name: string;
  readonly shift: number;
  readonly width: number;
  /** signed fields: 0xF means "not implemented" (D19.2, "Principles of the ID scheme for fields in ID registers") */
  readonly signed?: boolean;
  /** 'min': lower of QEMU's and the core's value; a number: hypemu's fixed value */
  readonly policy: 'min' | number;
  readonly why?: string;
}

const f = (name: string, shift: number, policy: 'min' | number, why?: string, signed?: boolean): IdField =>
  Object.freeze({ name, shift, width: 4, policy, ...(why ? { why } : {}), ...(signed ? { signed } : {}) });

/** Why the FEAT_PAuth fields read 0 by default (see withPointerAuth). */
const PAUTH_WHY =
  'pointer authentication only with --pauth: QARMA computed in software costs ~45% of a Linux boot (Unicorn and QEMU alike), and KVM offers it only when the VMM asks (KVM_ARM_VCPU_PTRAUTH_*)';

/** Described AArch64 ID registers and their sanitising policy, field by field. */
export const ID_FIELDS: Readonly<Record<string, readonly IdField[]>> = Object.freeze({
  // D19.2 "ID_AA64PFR0_EL1, AArch64 Processor Feature Register 0"
  ID_AA64PFR0_EL1: [
    f('EL0', 0, 1, 'AArch64 only: no AArch32 at EL0'),
    f('EL1', 4, 1, 'AArch64 only'),
    f('EL2', 8, 0, 'the guest has no EL2 unless run with --nested (then 1: hyp/nested)'),
    f('EL3', 12, 0, 'no EL3'),
    f('FP', 16, 'min', undefined, true),
    f('AdvSIMD', 20, 'min', undefined, true),
    f('GIC', 24, 1, 'GICv3 system-register interface (the vGIC model)'),
    f('RAS', 28, 0, 'no RAS error records'),
    f('SVE', 32, 0, 'no SVE (not verified on the core)'),
    f('SEL2', 36, 0),
    f('MPAM', 40, 0),
    f('AMU', 44, 0),
    f('DIT', 48, 'min'),
    f('RME', 52, 0),
    f('CSV2', 56, 1, 'an emulator does not speculate across contexts (CSV2 = 1, no SCXTNUM)'),
    f('CSV3', 60, 1, 'no speculative reads of faulting data'),
  ],
  // D19.2 "ID_AA64PFR1_EL1, AArch64 Processor Feature Register 1"
  ID_AA64PFR1_EL1: [
    f('BT', 0, 0, 'guarded pages need the GP attribute, which the TLB-fill path cannot carry'),
    f('SSBS', 4, 'min'),
    f('MTE', 8, 0, 'no MTE'),
    f('RAS_frac', 12, 0),
    f('MPAM_frac', 16, 0),
    f('SME', 24, 0, 'no SME'),
    f('RNDR_trap', 28, 0),
    f('CSV2_frac', 32, 0),
    f('NMI', 36, 0),
  ],
  // D19.2 "ID_AA64DFR0_EL1, AArch64 Debug Feature Register 0"
  ID_AA64DFR0_EL1: [
    f('DebugVer', 0, 6, 'Armv8.0 debug architecture'),
    f('TraceVer', 4, 0, 'no trace unit'),
    f('PMUVer', 8, 6, 'FEAT_PMUv3p5: the board\'s PMU (emulator/devices/pmu.ts)'),
    f('BRPs', 12, 'min'),
    f('WRPs', 20, 'min'),
    f('CTX_CMPs', 28, 'min'),
    f('PMSVer', 32, 0, 'no SPE'),
    f('DoubleLock', 36, 'min', undefined, true),
    f('TraceFilt', 40, 0),
    f('TraceBuffer', 44, 0),
    f('MTPMU', 48, 0, undefined, true),
    f('BRBE', 52, 0),
    f('HPMN0', 60, 0),
  ],
  // D19.2 "ID_AA64ISAR0_EL1, AArch64 Instruction Set Attribute Register 0"
  ID_AA64ISAR0_EL1: [
    f('AES', 4, 'min'),
    f('SHA1', 8, 'min'),
    f('SHA2', 12, 'min'),
    f('CRC32', 16, 'min'),
    f('Atomic', 20, 'min'),
    f('TME', 24, 0),
    f('RDM', 28, 'min'),
    f('SHA3', 32, 'min'),
    f('SM3', 36, 'min'),
    f('SM4', 40, 'min'),
    f('DP', 44, 'min'),
    f('FHM', 48, 'min'),
    f('TS', 52, 'min'),
    f('TLB', 56, 'min'),
    f('RNDR', 60, 'min', 'FEAT_RNG: answered from the seeded generator (emulator/devices/rng.ts), never the core\'s host entropy'),
  ],
  // D19.2 "ID_AA64ISAR1_EL1, AArch64 Instruction Set Attribute Register 1"
  ID_AA64ISAR1_EL1: [
    f('DPB', 0, 'min'),
    f('APA', 4, 0, PAUTH_WHY),
    f('API', 8, 0),
    f('JSCVT', 12, 'min'),
    f('FCMA', 16, 'min'),
    f('LRCPC', 20, 'min'),
    f('GPA', 24, 0),
    f('GPI', 28, 0),
    f('FRINTTS', 32, 'min'),
    f('SB', 36, 'min'),
    f('SPECRES', 40, 0, 'no rows for CFP/DVP/CPP RCTX'),
    f('BF16', 44, 'min'),
    f('DGH', 48, 'min'),
    f('I8MM', 52, 'min'),
    f('XS', 56, 'min'),
    f('LS64', 60, 0),
  ],
  // D19.2 "ID_AA64ISAR2_EL1, AArch64 Instruction Set Attribute Register 2"
  ID_AA64ISAR2_EL1: [
    f('WFxT', 0, 0, 'WFIT/WFET not modelled'),
    f('RPRES', 4, 'min'),
    f('GPA3', 8, 'min'),
    f('APA3', 12, 'min'),
    f('MOPS', 16, 0),
    f('BC', 20, 'min'),
    f('PAC_frac', 24, 'min'),
  ],
  // D19.2 "ID_AA64MMFR0_EL1, AArch64 Memory Model Feature Register 0"
  ID_AA64MMFR0_EL1: [
    f('PARange', 0, 2, '40-bit PA, the board\'s 40-bit IPA space'),
    f('ASIDBits', 4, 'min'),
    f('BigEnd', 8, 0, 'no big-endian data (SCTLR_EL1.EE not modelled)'),
    f('SNSMem', 12, 0, 'no Secure state'),
    f('BigEndEL0', 16, 0),
    f('TGran16', 20, 1, 'the MMU model walks 16 KB granules (48-bit; no FEAT_LPA2)'),
    f('TGran64', 24, 0, '0 = 64 KB granule supported (signed field)', true),
    f('TGran4', 28, 0, '0 = 4 KB granule supported, no FEAT_LPA2 (signed field)', true),
    f('TGran16_2', 32, 0, 'stage 2 (EL2 only): "as TGran16"'),
    f('TGran64_2', 36, 0),
    f('TGran4_2', 40, 0),
    f('ExS', 44, 0),
    f('FGT', 56, 0),
    f('ECV', 60, 0),
  ],
  // D19.2 "ID_AA64MMFR1_EL1, AArch64 Memory Model Feature Register 1"
  ID_AA64MMFR1_EL1: [
    f('HAFDBS', 0, 0, 'no hardware Access flag / dirty state update in the MMU model'),
    f('VMIDBits', 4, 0, 'EL2 only'),
    f('VH', 8, 0, 'EL2 only'),
    f('HPDS', 12, 'min'),
    f('LO', 16, 0, 'LORegions hidden (TLOR), as KVM does'),
    f('PAN', 20, 0, 'PSTATE.PAN is not enforced by the MMU model'),
    f('SpecSEI', 24, 0),
    f('XNX', 28, 0, 'EL2 only'),
    f('TWED', 32, 0),
    f('ETS', 36, 0),
    f('HCX', 40, 0),
    f('AFP', 44, 'min'),
  ],
  // D19.2 "ID_AA64MMFR2_EL1, AArch64 Memory Model Feature Register 2"
  ID_AA64MMFR2_EL1: [
    f('CnP', 0, 'min'),
    f('UAO', 4, 0, 'PSTATE.UAO is not modelled for LDTR/STTR'),
    f('LSM', 8, 0),
    f('IESB', 12, 0),
    f('VARange', 16, 0, '48-bit VAs (no 52-bit)'),
    f('CCIDX', 20, 0),
    f('NV', 24, 0),
    f('ST', 28, 0),
    f('AT', 32, 'min'),
    f('IDS', 36, 0),
    f('FWB', 40, 0, 'EL2 only'),
    f('TTL', 48, 0, 'EL2 only'),
    f('BBM', 52, 0),
    f('EVT', 56, 0),
    f('E0PD', 60, 0),
  ],
});

/** Registers whose whole value is taken from QEMU 7.2 (or set) rather than composed from fields. */
const WHOLE: Readonly<Record<string, bigint>> = Object.freeze({
  MIDR_EL1: QEMU_72_MAX.MIDR_EL1!,
  // MPIDR_EL1 (D19.2 "MPIDR_EL1"): bit 31 RES1, U (bit 30) = 0 (part of a multiprocessor system),
  // MT = 0, Aff0 = 0: the device tree's cpu@0 (reg = <0x0>).
  MPIDR_EL1: 0x8000_0000n,
  REVIDR_EL1: 0n,
  AIDR_EL1: 0n,
  CTR_EL0: QEMU_72_MAX.CTR_EL0!,
  DCZID_EL0: QEMU_72_MAX.DCZID_EL0!,
  CLIDR_EL1: QEMU_72_MAX.CLIDR_EL1!,
  'CCSIDR_EL1[0]': QEMU_72_MAX['CCSIDR_EL1[0]']!,
  'CCSIDR_EL1[1]': QEMU_72_MAX['CCSIDR_EL1[1]']!,
  'CCSIDR_EL1[2]': QEMU_72_MAX['CCSIDR_EL1[2]']!,
});

// ---------------------------------------------------------------- sanitising

export function fieldOf(value: bigint, shift: number, width = 4): number {
  return Number((value >> BigInt(shift)) & ((1n << BigInt(width)) - 1n));
}

function signedField(v: number, width: number): number {
  return v >= 1 << (width - 1) ? v - (1 << width) : v;
}

/** The lower-safe value of one field (KVM FTR_LOWER_SAFE): min, signed-aware. */
export function lowerSafe(a: number, b: number, fld: { width: number; signed?: boolean }): number {
  if (!fld.signed) return Math.min(a, b);
  return signedField(a, fld.width) <= signedField(b, fld.width) ? a : b;
}

/** Compose one described register from the two measurements by its field policies. */
export function sanitise(name: string, reference: bigint, core: bigint): bigint {
  const fields = ID_FIELDS[name];
  if (!fields) throw new Error(`no field description for ${name}`);
  let v = 0n;
  for (const fld of fields) {
    const val = fld.policy === 'min' ? lowerSafe(fieldOf(reference, fld.shift), fieldOf(core, fld.shift), fld) : fld.policy;
    v |= BigInt(val) << BigInt(fld.shift);
  }
  return v;
}

// ---------------------------------------------------------------- the feature set

/** Names of every ID-space encoding (CRm 1..7) as the table names them (generic name when unallocated). */
function idSpaceNames(): string[] {
  const out: string[] = [];
  for (let crm = 1; crm <= 7; crm++)
    for (let op2 = 0; op2 <= 7; op2++) out.push(ID_SPACE_NAMES[crm]![op2] ?? genericName({ op0: 3, op1: 0, crn: 0, crm, op2 }));
  return out;
}

/** Encodings of the non-ID-space registers the feature set answers. */
const OTHER_ENC: Readonly<Record<string, [number, number, number, number, number]>> = {
  MIDR_EL1: [3, 0, 0, 0, 0],
  MPIDR_EL1: [3, 0, 0, 0, 5],
  REVIDR_EL1: [3, 0, 0, 0, 6],
  CCSIDR_EL1: [3, 1, 0, 0, 0],
  CLIDR_EL1: [3, 1, 0, 0, 1],
  CCSIDR2_EL1: [3, 1, 0, 0, 2],
  AIDR_EL1: [3, 1, 0, 0, 7],
  CTR_EL0: [3, 3, 0, 0, 1],
  DCZID_EL0: [3, 3, 0, 0, 7],
};

const KEY_CCSIDR = sysregKey({ op0: 3, op1: 1, crn: 0, crm: 0, op2: 0 });
const KEY_CCSIDR2 = sysregKey({ op0: 3, op1: 1, crn: 0, crm: 0, op2: 2 });

export type Overrides = Readonly<Record<string, number | bigint>>;

/**
 * An immutable map from register name (and 'CCSIDR_EL1[n]' for CSSELR_EL1 = n)
 * to the value the guest reads. Build with defaultFeatureSet(), derive
 * variants with withOverrides().
 */
export class FeatureSet {
  private readonly byKey = new Map<number, bigint>();
  private readonly ccsidr = new Map<number, bigint>();

  private constructor(readonly values: ReadonlyMap<string, bigint>) {
    for (const [name, v] of values) {
      const m = /^CCSIDR_EL1\[(\d+)\]$/.exec(name);
      if (m) {
        this.ccsidr.set(Number(m[1]), v);
        continue;
      }
      const e = OTHER_ENC[name];
      if (e) this.byKey.set(sysregKey({ op0: e[0], op1: e[1], crn: e[2], crm: e[3], op2: e[4] }), v);
    }
    const names = idSpaceNames();
    let i = 0;
    for (let crm = 1; crm <= 7; crm++)
      for (let op2 = 0; op2 <= 7; op2++) this.byKey.set(sysregKey({ op0: 3, op1: 0, crn: 0, crm, op2 }), values.get(names[i++]!) ?? 0n);
  }

  /** @internal */
  static of(values: ReadonlyMap<string, bigint>): FeatureSet {
    return new FeatureSet(values);
  }

  /** Register value by name; throws for a name the feature set does not answer. */
  value(name: string): bigint {
    const v = this.values.get(name);
    if (v === undefined) throw new Error(`feature set has no register '${name}'`);
    return v;
  }

  /** Field value: 'ID_AA64MMFR0_EL1.TGran16'. */
  field(path: string): number {
    const [reg, fld] = splitPath(path);
    return fieldOf(this.value(reg), fld.shift, fld.width);
  }

  /**
   * What an MRS of this encoding returns: a value, or null when the register
   * is not implemented for this guest (CCSIDR2_EL1 without FEAT_CCIDX, a
   * CSSELR_EL1 selecting no cache level's CCSIDR is UNKNOWN: we return 0) or
   * not answered by the feature set at all. Unallocated ID-space encodings: 0.
   */
  read(e: { op0: number; op1: number; crn: number; crm: number; op2: number }, csselr = 0): bigint | null {
    return this.readByKey(sysregKey(e), csselr);
  }

  readByKey(key: number, csselr = 0): bigint | null {
    if (key === KEY_CCSIDR) return this.ccsidr.get(csselr & 0xf) ?? 0n;
    if (key === KEY_CCSIDR2) return this.field('ID_AA64MMFR2_EL1.CCIDX') === 0 ? null : 0n;
    return this.byKey.get(key) ?? null;
  }

  /**
   * A new feature set with fields or whole registers replaced:
   *   withOverrides({ 'ID_AA64MMFR0_EL1.TGran16': 0, MIDR_EL1: 0x410fd083n, 'CCSIDR_EL1[0]': ... })
   * Throws on an unknown register or field, or a field value that does not fit.
   */
  withOverrides(o: Overrides): FeatureSet {
    const next = new Map(this.values);
    // Whole registers first, then fields on top.
    for (const [k, raw] of Object.entries(o)) {
      if (k.includes('.') && !k.startsWith('CCSIDR_EL1[')) continue;
      if (!next.has(k)) throw new Error(`unknown ID register '${k}'`);
      next.set(k, BigInt.asUintN(64, BigInt(raw)));
    }
    for (const [k, raw] of Object.entries(o)) {
      if (!k.includes('.')) continue;
      const [reg, fld] = splitPath(k);
      const val = BigInt(raw);
      if (val < 0n || val >= 1n << BigInt(fld.width)) throw new Error(`${k}: value ${raw} does not fit ${fld.width} bits`);
      const mask = ((1n << BigInt(fld.width)) - 1n) << BigInt(fld.shift);
      next.set(reg, (next.get(reg)! & ~mask) | (val << BigInt(fld.shift)));
    }
    return new FeatureSet(next);
  }

  /** name → value, in a stable order (for dumps and the debugger). */
  entries(): [string, bigint][] {
    return [...this.values.entries()];
  }
}

function splitPath(path: string): [string, IdField] {
  const dot = path.indexOf('.');
  if (dot < 0) throw new Error(`'${path}' is not REGISTER.FIELD`);
  const reg = path.slice(0, dot);
  const name = path.slice(dot + 1);
  const fields = ID_FIELDS[reg];
  if (!fields) throw new Error(`no field description for register '${reg}'`);
  const fld = fields.find((x) => x.name === name);
  if (!fld) throw new Error(`unknown field '${name}' of ${reg} (known: ${fields.map((x) => x.name).join(', ')})`);
  return [reg, fld];
}

let cachedDefault: FeatureSet | null = null;

/** The sanitised default: QEMU 7.2 `-cpu max` ∩ the core ∩ what hypemu implements. */
export function defaultFeatureSet(): FeatureSet {
  if (cachedDefault) return cachedDefault;
  const values = new Map<string, bigint>();
  for (const [k, v] of Object.entries(WHOLE)) values.set(k, v);
  for (const name of idSpaceNames()) {
    if (ID_FIELDS[name]) values.set(name, sanitise(name, QEMU_72_MAX[name] ?? 0n, UNICORN_211_MAX[name] ?? 0n));
    else values.set(name, 0n); // AArch32 (not implemented), ZFR0/SMFR0 (no SVE/SME), AFR*, DFR1, unallocated
  }
  cachedDefault = FeatureSet.of(values);
  return cachedDefault;
}

/**
 * FEAT_PAuth advertised (`--pauth`): ID_AA64ISAR1_EL1.APA/API/GPA/GPI as QEMU 7.2 and the core
 * both implement them (the lower of the two, as 'min' fields are; QARMA, no FEAT_PACIMP). Off by
 * default: a kernel that sees it signs and authenticates every return address, and the core
 * computes each QARMA PAC in software (measured on the Linux 6.1 boot: 8.9 s CPU with it, 4.9 s
 * without; QEMU 7.2 `-cpu max`: 3.8 s user with it, 1.0 s with `pauth=off`).
 */
export function withPointerAuth(fs: FeatureSet): FeatureSet {
  const o: Record<string, number> = {};
  for (const name of ['APA', 'API', 'GPA', 'GPI']) {
    const path = `ID_AA64ISAR1_EL1.${name}`;
    const { shift } = splitPath(path)[1];
    o[path] = Math.min(fieldOf(QEMU_72_MAX.ID_AA64ISAR1_EL1!, shift), fieldOf(UNICORN_211_MAX.ID_AA64ISAR1_EL1!, shift));
  }
  return fs.withOverrides(o);
}
