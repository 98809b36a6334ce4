/**
 * HCR_EL2, the Hypervisor Configuration Register: bit positions and helpers.
 *
 * Bit assignments from the Arm ARM (DDI0487), D19.2.48 "HCR_EL2, Hypervisor
 * Configuration Register". The hot path keeps HCR_EL2 as two 32-bit halves
 * (`lo` = bits [31:0], `hi` = bits [63:32]) so that testing a bit is one AND on
 * a small integer: no BigInt, no allocation. BigInt helpers are for setup,
 * tests and humans.
 */

/** Bit position of every single-bit HCR_EL2 field (D19.2.48). BSU and TWEDEL are multi-bit: see HCR_FIELDS. */
export const HCR = {
  VM: 0, // stage 2 translation enable
  SWIO: 1, // set/way invalidation override
  PTW: 2, // protected table walk
  FMO: 3, // physical FIQ routing
  IMO: 4, // physical IRQ routing
  AMO: 5, // physical SError routing
  VF: 6, // virtual FIQ pending
  VI: 7, // virtual IRQ pending
  VSE: 8, // virtual SError pending
  FB: 9, // force broadcast of TLB/cache maintenance
  // BSU: bits [11:10], barrier shareability upgrade
  DC: 12, // default cacheability (seed 002)
  TWI: 13, // trap WFI
  TWE: 14, // trap WFE
  TID0: 15, // trap ID group 0 (AArch32 FPSID, JIDR)
  TID1: 16, // trap ID group 1 (REVIDR_EL1, AIDR_EL1)
  TID2: 17, // trap ID group 2 (CTR_EL0, CCSIDR(2)_EL1, CLIDR_EL1, CSSELR_EL1)
  TID3: 18, // trap ID group 3 (op0=3 op1=0 CRn=0 CRm=1..7)
  TSC: 19, // trap SMC
  TIDCP: 20, // trap IMPLEMENTATION DEFINED functionality (CRn=11/15)
  TACR: 21, // trap auxiliary control registers (ACTLR_EL1)
  TSW: 22, // trap data cache maintenance by set/way
  TPCP: 23, // trap cache maintenance to the point of coherency/persistence (TPC)
  TPU: 24, // trap cache maintenance to the point of unification
  TTLB: 25, // trap TLB maintenance
  TVM: 26, // trap virtual memory controls (writes)
  TGE: 27, // trap general exceptions
  TDZ: 28, // trap DC ZVA
  HCD: 29, // HVC disable
  TRVM: 30, // trap reads of virtual memory controls
  RW: 31, // EL1 is AArch64
  CD: 32, // stage 2 data access cacheability disable
  ID: 33, // stage 2 instruction access cacheability disable
  E2H: 34, // EL2 host (VHE)
  TLOR: 35, // trap LOR registers
  TERR: 36, // trap error record accesses
  TEA: 37, // route synchronous external aborts to EL2
  MIOCNM: 38, // mismatched inner/outer cacheable non-coherency
  TME: 39, // enable transactional memory
  APK: 40, // 0: trap pointer authentication key registers
  API: 41, // 0: trap pointer authentication instructions
  NV: 42, // nested virtualization
  NV1: 43,
  AT: 44, // trap AT S1E0*/S1E1*
  NV2: 45,
  FWB: 46, // stage 2 forced write-back (seed 001)
  FIEN: 47, // fault injection enable
  GPF: 48, // granule protection faults to EL2
  TID4: 49, // trap ID group 4 (FEAT_EVT)
  TICAB: 50, // trap IC IALLUIS (FEAT_EVT)
  AMVOFFEN: 51,
  TOCU: 52, // trap cache maintenance to PoU (FEAT_EVT)
  EnSCXT: 53,
  TTLBIS: 54, // trap inner shareable TLB maintenance (FEAT_EVT)
  TTLBOS: 55, // trap outer shareable TLB maintenance (FEAT_EVT)
  ATA: 56,
  DCT: 57,
  TID5: 58, // trap GMID_EL1 (FEAT_MTE2)
  TWEDEn: 59,
} as const;

export type HcrBitName = keyof typeof HCR;

/** Multi-bit fields (D19.2.48): [shift, width]. */
export const HCR_FIELDS = {
  BSU: [10, 2],
  TWEDEL: [60, 4],
} as const;

/** HCR_EL2 as two 32-bit halves: the hot-path form. */
export interface HcrWords {
  lo: number;
  hi: number;
}

/** 0 when the bit lives in `lo`, 1 when in `hi`. */
export function hcrWordOf(bit: number): 0 | 1 {
  return bit < 32 ? 0 : 1;
}

/** Is bit `bit` set, given HCR_EL2 as halves? No BigInt, no allocation. */
export function hcrTest(lo: number, hi: number, bit: number): boolean {
  return ((bit < 32 ? lo : hi) & (1 << (bit & 31))) !== 0;
}

/** Is the low-half bit set? (bits 0..31) */
export function hcrLoTest(lo: number, bit: number): boolean {
  return (lo & (1 << bit)) !== 0;
}

/** Is the high-half bit set? (bits 32..63) */
export function hcrHiTest(hi: number, bit: number): boolean {
  return (hi & (1 << (bit - 32))) !== 0;
}

/** Bit as a BigInt mask. */
export function hcrBit(name: HcrBitName): bigint {
  return 1n << BigInt(HCR[name]);
}

/** Is the named bit set in a 64-bit value? (Setup/test path: uses BigInt.) */
export function hcrHas(value: bigint, name: HcrBitName): boolean {
  return (value & hcrBit(name)) !== 0n;
}

/** OR of the named bits. */
export function hcrOf(...names: HcrBitName[]): bigint {
  let v = 0n;
  for (const n of names) v |= hcrBit(n);
  return v;
}

/** Split a 64-bit HCR_EL2 value into halves (allocates the result: not for the hot path). */
export function splitHcr(value: bigint): HcrWords {
  const v = BigInt.asUintN(64, value);
  return { lo: Number(v & 0xffff_ffffn) >>> 0, hi: Number(v >> 32n) >>> 0 };
}

/** Write a 64-bit value into existing halves without allocating a new object. */
export function storeHcr(into: HcrWords, value: bigint): void {
  const v = BigInt.asUintN(64, value);
  into.lo = Number(v & 0xffff_ffffn) >>> 0;
  into.hi = Number(v >> 32n) >>> 0;
}

export function joinHcr(lo: number, hi: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

const NAME_BY_BIT: ReadonlyMap<number, HcrBitName> = new Map(
  (Object.keys(HCR) as HcrBitName[]).map((n) => [HCR[n], n] as const),
);

/**
 * Human form, lowest bit first: "VM|TVM|TSC|RW". Multi-bit fields as
 * "BSU=2"; set bits with no name (RES0 positions) as "bit62". 0 → "0".
 */
export function describeHcr(value: bigint | HcrWords): string {
  const v = typeof value === 'bigint' ? BigInt.asUintN(64, value) : joinHcr(value.lo, value.hi);
  const parts: string[] = [];
  for (let bit = 0; bit < 64; bit++) {
    const [bsuShift, bsuWidth] = HCR_FIELDS.BSU;
    const [twShift, twWidth] = HCR_FIELDS.TWEDEL;
    if (bit === bsuShift || bit === twShift) {
      const width = bit === bsuShift ? bsuWidth : twWidth;
      const f = Number((v >> BigInt(bit)) & ((1n << BigInt(width)) - 1n));
      if (f !== 0) parts.push(`${bit === bsuShift ? 'BSU' : 'TWEDEL'}=${f}`);
      bit += width - 1;
      continue;
    }
    if (((v >> BigInt(bit)) & 1n) === 0n) continue;
    parts.push(NAME_BY_BIT.get(bit) ?? `bit${bit}`);
  }
  return parts.length === 0 ? '0' : parts.join('|');
}

/** Parse "VM|TVM|RW" (or "VM,TVM") back into a value; throws on an unknown name. */
export function parseHcr(text: string): bigint {
  let v = 0n;
  for (const raw of text.split(/[|,\s]+/)) {
    const t = raw.trim();
    if (t === '' || t === '0') continue;
    const m = /^(BSU|TWEDEL)=(\d+)$/.exec(t);
    if (m) {
      const [shift] = HCR_FIELDS[m[1] as keyof typeof HCR_FIELDS];
      v |= BigInt(m[2]!) << BigInt(shift);
      continue;
    }
    if (!(t in HCR)) throw new Error(`unknown HCR_EL2 bit '${t}'`);
    v |= hcrBit(t as HcrBitName);
  }
  return v;
}
