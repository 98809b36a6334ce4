/**
 * The record an A64 load/store decode produces (MemAccess), and what every encoding group's
 * decoder (decode-ldst.ts, decode-simd.ts) shares: the instruction with its Rt/Rn and register
 * reader, bit-field helpers, and the size/opc tables of the single-register forms (Arm ARM C4.1
 * "Loads and Stores"). Split from decode.ts, which dispatches on the encoding group.
 */
export interface MemAccess {
  mnemonic: string;
  /** exact VA of the first byte accessed (for DC ZVA: the start of the zeroed block) */
  address: bigint;
  /** total bytes accessed (pairs: both registers; LD1..4: all registers; DC ZVA: block size) */
  size: number;
  /** bytes per register transfer (ISS.SAS when ISV = 1) */
  elementSize: number;
  isWrite: boolean;
  /** atomics read and write */
  isRead: boolean;
  isUnprivileged: boolean;
  isPair: boolean;
  isSimd: boolean;
  isAcqRel: boolean;
  isExclusive: boolean;
  isAtomic: boolean;
  /** DC/IC maintenance by VA (ESR.CM = 1) */
  isCacheMaintenance: boolean;
  isDcZva: boolean;
  /** LD1-4 / ST1-4 (multiple or single structure), LD1R-LD4R: lanes or interleaved elements, not whole registers */
  isStructure: boolean;
  /** LDRAA/LDRAB: the address is Xn with its pointer-authentication code removed (see below) */
  isPac: boolean;
  rt: number;
  /** second transfer register, -1 if none */
  rt2: number;
  /** base register (31 = SP), -1 for literal loads */
  rn: number;
  signExtend: boolean;
  /** the destination/source is a 64-bit register (ISS.SF) */
  sf: boolean;
  writeback: boolean;
  /** new base register value when writeback */
  writebackValue: bigint | null;
  /** the address operand as given by the instruction (FAR for DC/IC by VA) */
  operand: bigint;
}

export type RegReader = (n: number) => bigint;

export interface DecodeOptions {
  /** PC of the instruction (literal loads) */
  pc?: bigint;
  /** DC ZVA block size in bytes (4 << DCZID_EL0.BS); default 64 */
  dczvaBytes?: number;
}

export const M64 = (1n << 64n) - 1n;
export const wrap = (v: bigint): bigint => v & M64;
export const sext = (v: number, bits: number): bigint => BigInt.asIntN(bits, BigInt(v));
export const bits = (insn: number, hi: number, lo: number): number => (insn >>> lo) & ((1 << (hi - lo + 1)) - 1);

export function base(a: Partial<MemAccess> & Pick<MemAccess, 'mnemonic' | 'address' | 'size' | 'isWrite' | 'rt'>): MemAccess {
  return {
    elementSize: a.size,
    isRead: !a.isWrite,
    isUnprivileged: false,
    isPair: false,
    isSimd: false,
    isAcqRel: false,
    isExclusive: false,
    isAtomic: false,
    isCacheMaintenance: false,
    isDcZva: false,
    isStructure: false,
    isPac: false,
    rt2: -1,
    rn: -1,
    signExtend: false,
    sf: false,
    writeback: false,
    writebackValue: null,
    operand: a.address,
    ...a,
  };
}

/** The instruction being decoded: its word, Rt and Rn, and the guest's registers. */
export interface Insn {
  readonly word: number;
  readonly rt: number;
  readonly rn: number;
  /** Xn, with Rn = 31 read as SP (every load/store base). */
  xn(): bigint;
  /** Xn, with n = 31 read as XZR (Rm, Rs, DC Xt). */
  xzr(n: number): bigint;
  readonly reg: RegReader;
  readonly opts: DecodeOptions;
}

export function insnFields(word: number, reg: RegReader, opts: DecodeOptions): Insn {
  const rt = word & 31;
  const rn = (word >>> 5) & 31;
  return { word, rt, rn, xn: () => reg(rn), xzr: (n) => (n === 31 ? 0n : reg(n)), reg, opts };
}

export interface GprForm {
  bytes: number;
  isWrite: boolean;
  signExtend: boolean;
  sf: boolean;
  name: string;
}

/** size/opc of the single-register GPR forms (C4.1 "Load/store register" tables); null = prefetch/unallocated */
export function gprForm(size: number, opc: number): GprForm | null {
  const bytes = 1 << size;
  const suffix = size === 0 ? 'B' : size === 1 ? 'H' : '';
  switch (opc) {
    case 0:
      return { bytes, isWrite: true, signExtend: false, sf: size === 3, name: `STR${suffix}` };
    case 1:
      return { bytes, isWrite: false, signExtend: false, sf: size === 3, name: `LDR${suffix}` };
    case 2:
      if (size === 3) return null; // PRFM
      return { bytes, isWrite: false, signExtend: true, sf: true, name: `LDRS${size === 2 ? 'W' : suffix}` };
    default:
      if (size >= 2) return null;
      return { bytes, isWrite: false, signExtend: true, sf: false, name: `LDRS${suffix}` };
  }
}

/** SIMD&FP single register: scale = opc[1]:size (C4.1 "Load/store register (SIMD&FP)") */
export function simdForm(size: number, opc: number): { bytes: number; isWrite: boolean; name: string } | null {
  const scale = ((opc >> 1) << 2) | size;
  if (scale > 4) return null;
  const reg = ['B', 'H', 'S', 'D', 'Q'][scale]!;
  return { bytes: 1 << scale, isWrite: (opc & 1) === 0, name: `${(opc & 1) === 0 ? 'STR' : 'LDR'} ${reg}` };
}
