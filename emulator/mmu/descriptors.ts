/**
 * VMSAv8-64 translation table descriptors (Arm ARM DDI0487, D8.3 "Translation table
 * descriptor formats"; J.a numbering D8.3.1/D8.3.2). 48-bit output addresses;
 * the 52-bit forms (FEAT_LPA / FEAT_LPA2, TCR.DS) are not modelled.
 *
 * Hot-path accessors take the descriptor as two unsigned 32-bit halves
 * (lo = bits[31:0], hi = bits[63:32]). Builders return a BigInt (cold paths:
 * the stage-2 builder, tests, the debugger) and `splitDescriptor` turns it into halves.
 */

export type GranuleBits = 12 | 14 | 16;
export type Level = 0 | 1 | 2 | 3;

const TWO32 = 4294967296;

/** POW2[n] = 2^n for n = 0..64: table lookups instead of Math.pow on hot paths. */
export const POW2: readonly number[] = Object.freeze(Array.from({ length: 65 }, (_, i) => 2 ** i));

// ---- bit positions (descriptor bit n; hi-half bit = n - 32) -------------------------
export const DESC_VALID = 1 << 0;
export const DESC_TYPE = 1 << 1; // 1 = table (levels 0..2) or page (level 3); 0 = block
// stage 1, lower attributes
export const S1_ATTRINDX_SHIFT = 2; // [4:2]
export const S1_NS = 1 << 5;
export const S1_AP_SHIFT = 6; // AP[2:1] at [7:6]
export const SH_SHIFT = 8; // [9:8], both stages
export const DESC_AF = 1 << 10;
export const S1_NG = 1 << 11;
// stage 2, lower attributes
export const S2_MEMATTR_SHIFT = 2; // [5:2]
export const S2_S2AP_SHIFT = 6; // [7:6]: bit 6 = read, bit 7 = write
// upper attributes (hi half)
export const HI_CONTIG = 1 << (52 - 32);
export const HI_PXN = 1 << (53 - 32); // stage 1
export const HI_UXN = 1 << (54 - 32); // stage 1 (XN in single-range regimes)
export const HI_S2XN_SHIFT = 53 - 32; // stage 2 XN[1:0] at [54:53]
export const HI_PXNTABLE = 1 << (59 - 32);
export const HI_XNTABLE = 1 << (60 - 32); // UXNTable in EL1&0
export const HI_APTABLE_SHIFT = 61 - 32; // APTable[1:0] at [62:61]
export const HI_NSTABLE = 1 << (63 - 32);

// ---- geometry helpers ----------------------------------------------------------------

/** log2 of the bytes mapped by one descriptor at `level`. */
export function levelShift(granuleBits: number, level: number): number {
  return granuleBits + (granuleBits - 3) * (3 - level);
}

/**
 * Whether a block descriptor is allowed at `level` for this granule with 48-bit OAs
 * (Arm ARM D8.3.1 "Block descriptor": 4K: levels 1 and 2; 16K: level 2; 64K: level 2.
 * Level 0 (4K), level 1 (16K, 64K) blocks need FEAT_LPA2/FEAT_LPA and are treated as invalid).
 */
export function blockAllowed(granuleBits: number, level: number): boolean {
  if (level >= 3) return false;
  if (granuleBits === 12) return level === 1 || level === 2;
  return level === 2;
}

// ---- classification ------------------------------------------------------------------

export const KIND_INVALID = 0;
export const KIND_TABLE = 1;
export const KIND_BLOCK = 2;
export const KIND_PAGE = 3;
export type DescriptorKind = 0 | 1 | 2 | 3;
export const KIND_NAMES = ['invalid', 'table', 'block', 'page'] as const;

/**
 * Classify a descriptor at `level` (Arm ARM D8.3.1): bit0 = 0 -> invalid; at level 3
 * bits[1:0] = 0b11 is a page and 0b01 is reserved (invalid); above level 3, 0b11 is a
 * table and 0b01 a block, invalid where blocks are not allowed for the granule.
 */
export function classify(lo: number, level: number, granuleBits: number): DescriptorKind {
  if ((lo & DESC_VALID) === 0) return KIND_INVALID;
  if (level === 3) return (lo & DESC_TYPE) !== 0 ? KIND_PAGE : KIND_INVALID;
  if ((lo & DESC_TYPE) !== 0) return KIND_TABLE;
  return blockAllowed(granuleBits, level) ? KIND_BLOCK : KIND_INVALID;
}

// ---- address fields --------------------------------------------------------------------

/**
 * Output address of a block or page descriptor, or the next-level table address of
 * a table descriptor: bits[47:shift] with shift = granuleBits for tables/pages and the
 * block size for blocks (Arm ARM D8.3.1 "OA" / "Next-level table address").
 */
export function descAddress(lo: number, hi: number, alignShift: number): number {
  // alignShift <= 30 for every 48-bit block size (the largest is a 4K level-1 block, 1 GiB)
  const loMasked = (lo & ~((1 << alignShift) - 1)) >>> 0;
  return (hi & 0xffff) * TWO32 + loMasked;
}

/** Next-level table address of a table descriptor. */
export function tableAddress(lo: number, hi: number, granuleBits: number): number {
  return descAddress(lo, hi, granuleBits);
}

/** Output address of a block/page descriptor at `level`. */
export function outputAddress(lo: number, hi: number, granuleBits: number, level: number): number {
  return descAddress(lo, hi, levelShift(granuleBits, level));
}

/** True when the address held in bits[47:32] has a non-zero bit at or above `oaBits` (>= 32). */
export function oaExceeds(hi: number, oaBits: number): boolean {
  if (oaBits >= 48) return false;
  return (hi & 0xffff) >>> (oaBits - 32) !== 0;
}

// ---- stage 1 field accessors (lo/hi halves) -----------------------------------------
export const s1AttrIndx = (lo: number): number => (lo >>> S1_ATTRINDX_SHIFT) & 7;
export const s1NS = (lo: number): boolean => (lo & S1_NS) !== 0;
/** AP[2:1] as a 2-bit value (Arm ARM D8.4.1.2.1 "Data access permissions"). */
export const s1AP = (lo: number): number => (lo >>> S1_AP_SHIFT) & 3;
export const descSH = (lo: number): number => (lo >>> SH_SHIFT) & 3;
export const descAF = (lo: number): boolean => (lo & DESC_AF) !== 0;
export const s1nG = (lo: number): boolean => (lo & S1_NG) !== 0;
export const descContiguous = (hi: number): boolean => (hi & HI_CONTIG) !== 0;
export const s1PXN = (hi: number): boolean => (hi & HI_PXN) !== 0;
export const s1UXN = (hi: number): boolean => (hi & HI_UXN) !== 0;
export const tablePXN = (hi: number): boolean => (hi & HI_PXNTABLE) !== 0;
export const tableXN = (hi: number): boolean => (hi & HI_XNTABLE) !== 0;
export const tableAP = (hi: number): number => (hi >>> HI_APTABLE_SHIFT) & 3;
export const tableNS = (hi: number): boolean => (hi & HI_NSTABLE) !== 0;
// ---- stage 2 field accessors ---------------------------------------------------------
export const s2MemAttr = (lo: number): number => (lo >>> S2_MEMATTR_SHIFT) & 0xf;
/** S2AP[1:0]: bit0 = read allowed, bit1 = write allowed (Arm ARM D8.4.2 "Stage 2 data access permissions"). */
export const s2AP = (lo: number): number => (lo >>> S2_S2AP_SHIFT) & 3;
/** XN[1:0] of a stage-2 block/page descriptor (bits[54:53]). */
export const s2XN = (hi: number): number => (hi >>> HI_S2XN_SHIFT) & 3;

// ---- builders (BigInt; cold paths) -----------------------------------------------------

export interface Stage1LeafFields {
  attrIndx?: number;
  ns?: boolean;
  /** AP[2:1]: 0 = EL1 RW, 1 = EL1+EL0 RW, 2 = EL1 RO, 3 = EL1+EL0 RO */
  ap?: number;
  sh?: number;
  af?: boolean; // default true
  nG?: boolean;
  contiguous?: boolean;
  pxn?: boolean;
  uxn?: boolean;
  /** software bits [58:55] */
  sw?: number;
}

export interface Stage1TableFields {
  pxnTable?: boolean;
  xnTable?: boolean;
  /** APTable[1:0]: bit0 = no EL0 access below, bit1 = no write access below */
  apTable?: number;
  nsTable?: boolean;
}

export interface Stage2LeafFields {
  memAttr?: number; // default 0xF (Normal WB/WB without FWB)
  /** S2AP[1:0]: bit0 read, bit1 write; default 3 */
  s2ap?: number;
  sh?: number;
  af?: boolean; // default true
  contiguous?: boolean;
  /** XN[1:0]; default 0 */
  xn?: number;
  sw?: number;
}

const b = (v: number | boolean | undefined, shift: number): bigint =>
  v === undefined || v === false ? 0n : BigInt(v === true ? 1 : v) << BigInt(shift);

function checkAligned(addr: number, shift: number, what: string): void {
  if (addr % 2 ** shift !== 0) throw new RangeError(`${what}: address 0x${addr.toString(16)} not aligned to 2^${shift}`);
  if (addr >= 2 ** 48) throw new RangeError(`${what}: address 0x${addr.toString(16)} above 48 bits`);
}

/** Table descriptor (levels 0..2), stage 1 or stage 2 (stage 2 ignores the table attribute fields). */
export function makeTable(tableAddr: number, granuleBits: GranuleBits, f: Stage1TableFields = {}): bigint {
  checkAligned(tableAddr, granuleBits, 'makeTable');
  return (
    BigInt(tableAddr) |
    3n |
    b(f.pxnTable, 59) |
    b(f.xnTable, 60) |
    b(f.apTable, 61) |
    b(f.nsTable, 63)
  );
}

function s1LeafBits(f: Stage1LeafFields): bigint {
  return (
    b(f.attrIndx ?? 0, 2) |
    b(f.ns, 5) |
    b(f.ap ?? 0, 6) |
    b(f.sh ?? 3, 8) |
    b(f.af ?? true, 10) |
    b(f.nG, 11) |
    b(f.contiguous, 52) |
    b(f.pxn, 53) |
    b(f.uxn, 54) |
    b(f.sw ?? 0, 55)
  );
}

function s2LeafBits(f: Stage2LeafFields): bigint {
  return (
    b(f.memAttr ?? 0xf, 2) |
    b(f.s2ap ?? 3, 6) |
    b(f.sh ?? 3, 8) |
    b(f.af ?? true, 10) |
    b(f.contiguous, 52) |
    b(f.xn ?? 0, 53) |
    b(f.sw ?? 0, 55)
  );
}

/** Stage-1 page descriptor (level 3). */
export function makeS1Page(oa: number, granuleBits: GranuleBits, f: Stage1LeafFields = {}): bigint {
  checkAligned(oa, granuleBits, 'makeS1Page');
  return BigInt(oa) | 3n | s1LeafBits(f);
}

/** Stage-1 block descriptor at `level`. */
export function makeS1Block(oa: number, granuleBits: GranuleBits, level: Level, f: Stage1LeafFields = {}): bigint {
  if (!blockAllowed(granuleBits, level)) throw new RangeError(`makeS1Block: no blocks at level ${level} for ${granuleBits}`);
  checkAligned(oa, levelShift(granuleBits, level), 'makeS1Block');
  return BigInt(oa) | 1n | s1LeafBits(f);
}

/** Stage-2 page descriptor (level 3). */
export function makeS2Page(oa: number, granuleBits: GranuleBits, f: Stage2LeafFields = {}): bigint {
  checkAligned(oa, granuleBits, 'makeS2Page');
  return BigInt(oa) | 3n | s2LeafBits(f);
}

/** Stage-2 block descriptor at `level`. */
export function makeS2Block(oa: number, granuleBits: GranuleBits, level: Level, f: Stage2LeafFields = {}): bigint {
  if (!blockAllowed(granuleBits, level)) throw new RangeError(`makeS2Block: no blocks at level ${level} for ${granuleBits}`);
  checkAligned(oa, levelShift(granuleBits, level), 'makeS2Block');
  return BigInt(oa) | 1n | s2LeafBits(f);
}

/** Split a 64-bit descriptor into unsigned 32-bit halves. */
export function splitDescriptor(d: bigint): { lo: number; hi: number } {
  return { lo: Number(d & 0xffff_ffffn), hi: Number((d >> 32n) & 0xffff_ffffn) };
}

/** 0x-prefixed 16-digit hex of a descriptor given as halves (debugger, recorded walks). */
export function descriptorHex(lo: number, hi: number): string {
  return '0x' + (hi >>> 0).toString(16).padStart(8, '0') + (lo >>> 0).toString(16).padStart(8, '0');
}

/** Human-readable decode of a descriptor (debugger). */
export function describeDescriptor(lo: number, hi: number, level: number, granuleBits: number, stage: 1 | 2): string {
  const kind = classify(lo, level, granuleBits);
  if (kind === KIND_INVALID) return 'invalid';
  if (kind === KIND_TABLE) {
    const addr = tableAddress(lo, hi, granuleBits);
    if (stage === 2) return `table -> 0x${addr.toString(16)}`;
    return (
      `table -> 0x${addr.toString(16)}` +
      (tableAP(hi) ? ` APTable=${tableAP(hi)}` : '') +
      (tableXN(hi) ? ' UXNTable' : '') +
      (tablePXN(hi) ? ' PXNTable' : '') +
      (tableNS(hi) ? ' NSTable' : '')
    );
  }
  const oa = outputAddress(lo, hi, granuleBits, level);
  const what = `${KIND_NAMES[kind]} -> 0x${oa.toString(16)}`;
  if (stage === 1) {
    return (
      `${what} AttrIndx=${s1AttrIndx(lo)} AP=${s1AP(lo)} SH=${descSH(lo)} AF=${descAF(lo) ? 1 : 0}` +
      (s1nG(lo) ? ' nG' : '') +
      (s1PXN(hi) ? ' PXN' : '') +
      (s1UXN(hi) ? ' UXN' : '') +
      (descContiguous(hi) ? ' Contig' : '')
    );
  }
  return (
    `${what} MemAttr=0x${s2MemAttr(lo).toString(16)} S2AP=${s2AP(lo)} SH=${descSH(lo)} AF=${descAF(lo) ? 1 : 0} XN=${s2XN(hi)}` +
    (descContiguous(hi) ? ' Contig' : '')
  );
}
