/**
 * Translation-regime configuration, decoded once from the system registers
 * (BigInt in, plain numbers out) so that the walker never touches a BigInt.
 *
 * Stage 1: EL1&0 regime, TCR_EL1 / TTBR0_EL1 / TTBR1_EL1 / SCTLR_EL1 / MAIR_EL1
 *   (Arm ARM D8.2 "Translation process", D19/D24 register descriptions).
 * Stage 2: VTCR_EL2 / VTTBR_EL2 / HCR_EL2 (Arm ARM D8.2.5 "Stage 2 translation").
 */
import { levelShift, type GranuleBits } from './descriptors.js';

/** Walk geometry shared by the generic walker, the translator and the builder. */
export interface Geometry {
  granuleBits: GranuleBits;
  /** index bits per level = granuleBits - 3 */
  stride: number;
  startLevel: number;
  /** index bits at the start level (> stride for concatenated stage-2 tables) */
  startBits: number;
  /** input address size in bits (64 - TxSZ) */
  inputBits: number;
  /** output address size in bits: min(IPS or PS, implemented PA size) */
  oaBits: number;
}

/** Implemented physical (and intermediate-physical) address size of the modelled PE. */
export const DEFAULT_PA_BITS = 48;

const PS_BITS = [32, 36, 40, 42, 44, 48, 52, 56];

function field(v: bigint, shift: number, width: number): number {
  return Number((v >> BigInt(shift)) & ((1n << BigInt(width)) - 1n));
}

/** Compute the stage-1 start level for an input size (Arm ARM D8.2.7 / pseudocode AArch64.S1StartLevel). */
export function stage1Geometry(granuleBits: GranuleBits, inputBits: number, oaBits: number): Geometry {
  const stride = granuleBits - 3;
  const levels = Math.ceil((inputBits - granuleBits) / stride);
  const startLevel = 4 - levels;
  const startBits = inputBits - levelShift(granuleBits, startLevel);
  return { granuleBits, stride, startLevel, startBits, inputBits, oaBits };
}

/** Base address of the start-level table from a TTBR/VTTBR: BADDR[47:1] aligned to the table size. */
export function tableBaseFromTTBR(ttbr: bigint, g: Geometry): number {
  const align = Math.max(g.startBits + 3, 6); // 64-byte minimum alignment (Arm ARM TTBR0_EL1.BADDR)
  const base = Number(ttbr & 0x0000_ffff_ffff_fffen);
  return base - (base % 2 ** align);
}

/** Raw TTBR bits [47:1] (for the address size check, before alignment masking). */
function rawBaseHi(ttbr: bigint): number {
  return Number((ttbr >> 32n) & 0xffffn);
}

// ---------------------------------------------------------------------------------------
// Stage 1
// ---------------------------------------------------------------------------------------

export interface Stage1Range {
  /** EPDn: a walk would be needed but is disabled -> Translation fault level 0 */
  disabled: boolean;
  geometry: Geometry;
  /** PA (stage 2 off) or IPA of the start-level table */
  tableBase: number;
  /** TTBR base bits [47:32], used for the address size check of the base */
  baseHi: number;
  /** TBIn: top byte ignored for data accesses */
  tbi: boolean;
  /** TBIDn: when tbi, top byte ignored for data only (fetches keep the top byte) */
  tbid: boolean;
  /** HPDn (FEAT_HPDS): hierarchical permissions disabled */
  hpd: boolean;
  /** ASID field of this TTBR (16 or 8 bits per TCR.AS) */
  asid: number;
}

export interface Stage1Config {
  kind: 'stage1';
  /** SCTLR_EL1.M */
  enabled: boolean;
  /** SCTLR_EL1.WXN */
  wxn: boolean;
  /** SCTLR_EL1.I (instruction fetch attributes when stage 1 is disabled) */
  icache: boolean;
  /** SCTLR_EL1.EE (big-endian tables) is NOT modelled; recorded here so callers can warn */
  ee: boolean;
  /** MAIR_EL1 Attr0..7 bytes */
  mair: Uint8Array;
  ranges: [Stage1Range, Stage1Range];
  /** Current ASID, from TTBR1 when TCR_EL1.A1 = 1 else TTBR0 */
  asid: number;
  asid16: boolean;
  /** TCR_EL1.IPS decoded, limited by the implemented PA size */
  oaBits: number;
}

export interface Stage1Registers {
  sctlr: bigint;
  tcr: bigint;
  ttbr0: bigint;
  ttbr1: bigint;
  mair: bigint;
}

function tg0Bits(tg: number): GranuleBits {
  // TCR_EL1.TG0 / VTCR_EL2.TG0: 00 4K, 01 64K, 10 16K (11 reserved -> 4K, as QEMU does)
  return tg === 1 ? 16 : tg === 2 ? 14 : 12;
}
function tg1Bits(tg: number): GranuleBits {
  // TCR_EL1.TG1: 01 16K, 10 4K, 11 64K (00 reserved -> 4K)
  return tg === 1 ? 14 : tg === 3 ? 16 : 12;
}

/** TxSZ range without FEAT_LVA / FEAT_TTST: 16..39 (48..25-bit). Out-of-range values are clamped (QEMU does the same). */
function clampTxSZ(t: number): number {
  return Math.min(39, Math.max(16, t));
}

/** Decode the stage-1 EL1&0 configuration from the system registers. */
export function decodeStage1(r: Stage1Registers, paBits = DEFAULT_PA_BITS): Stage1Config {
  const tcr = r.tcr;
  const ips = field(tcr, 32, 3);
  const oaBits = Math.min(PS_BITS[ips]!, paBits, 48);
  const asid16 = field(tcr, 36, 1) === 1;
  const asidOf = (ttbr: bigint): number => {
    const a = field(ttbr, 48, 16);
    return asid16 ? a : a & 0xff;
  };
  const mk = (ttbr: bigint, tsz: number, gb: GranuleBits, epd: number, tbi: number, tbid: number, hpd: number): Stage1Range => {
    const geometry = stage1Geometry(gb, 64 - clampTxSZ(tsz), oaBits);
    return {
      disabled: epd === 1,
      geometry,
      tableBase: tableBaseFromTTBR(ttbr, geometry),
      baseHi: rawBaseHi(ttbr),
      tbi: tbi === 1,
      tbid: tbid === 1,
      hpd: hpd === 1,
      asid: asidOf(ttbr),
    };
  };
  const r0 = mk(r.ttbr0, field(tcr, 0, 6), tg0Bits(field(tcr, 14, 2)), field(tcr, 7, 1), field(tcr, 37, 1), field(tcr, 51, 1), field(tcr, 41, 1));
  const r1 = mk(r.ttbr1, field(tcr, 16, 6), tg1Bits(field(tcr, 30, 2)), field(tcr, 23, 1), field(tcr, 38, 1), field(tcr, 52, 1), field(tcr, 42, 1));
  const a1 = field(tcr, 22, 1) === 1;
  const mair = new Uint8Array(8);
  for (let i = 0; i < 8; i++) mair[i] = field(r.mair, i * 8, 8);
  return {
    kind: 'stage1',
    enabled: field(r.sctlr, 0, 1) === 1,
    wxn: field(r.sctlr, 19, 1) === 1,
    icache: field(r.sctlr, 12, 1) === 1,
    ee: field(r.sctlr, 25, 1) === 1,
    mair,
    ranges: [r0, r1],
    asid: a1 ? r1.asid : r0.asid,
    asid16,
    oaBits,
  };
}

// ---------------------------------------------------------------------------------------
// Stage 2
// ---------------------------------------------------------------------------------------

export interface Stage2Config {
  kind: 'stage2';
  /** stage 2 applies: HCR_EL2.VM || HCR_EL2.DC (DC makes VM behave as 1, Arm ARM HCR_EL2.DC) */
  enabled: boolean;
  vm: boolean;
  /** HCR_EL2.DC: stage 1 behaves as disabled, default attributes Normal WB (seed 002) */
  dc: boolean;
  /** HCR_EL2.FWB (FEAT_S2FWB): MemAttr uses the FWB encodings (seed 001) */
  fwb: boolean;
  /** HCR_EL2.PTW: stage-1 walks that hit stage-2 Device memory take a stage-2 Permission fault */
  ptw: boolean;
  /** FEAT_XNX: XN[0] distinguishes EL1 and EL0 execute permission. Default true (Armv8.2+ model). */
  xnx: boolean;
  vmid: number;
  geometry: Geometry;
  tableBase: number;
  baseHi: number;
  /**
   * VTCR_EL2.{SL0,T0SZ,TG0} inconsistent (pseudocode AArch64.S2InconsistentSL) or reserved:
   * every access takes a stage-2 Translation fault at level 0.
   */
  misconfigured: string | null;
}

export interface Stage2Registers {
  vtcr: bigint;
  vttbr: bigint;
  hcr: bigint;
}

export interface Stage2Options {
  paBits?: number;
  /** implement FEAT_XNX (default true) */
  xnx?: boolean;
}

/**
 * Decode the stage-2 configuration. Start level from SL0 (Arm ARM VTCR_EL2.SL0):
 * 4K: 2 - SL0 (SL0=3 reserved without FEAT_TTST); 16K/64K: 3 - SL0 (64K SL0=3 reserved).
 * Concatenation: the start level resolves startBits = iasize - levelShift(start) bits,
 * valid when 1 <= startBits <= stride + 4 (up to 16 concatenated tables, Arm ARM D8.2.5.x
 * "Concatenated translation tables for the initial stage 2 lookup").
 */
export function decodeStage2(r: Stage2Registers, opts: Stage2Options = {}): Stage2Config {
  const paBits = opts.paBits ?? DEFAULT_PA_BITS;
  const vm = field(r.hcr, 0, 1) === 1;
  const dc = field(r.hcr, 12, 1) === 1;
  const gb = tg0Bits(field(r.vtcr, 14, 2));
  const stride = gb - 3;
  const t0sz = field(r.vtcr, 0, 6);
  const sl0 = field(r.vtcr, 6, 2);
  const ps = field(r.vtcr, 16, 3);
  const oaBits = Math.min(PS_BITS[ps]!, paBits, 48);
  const inputBits = 64 - Math.min(39, Math.max(16, t0sz));
  let misconfigured: string | null = null;
  let startLevel: number;
  if (gb === 12) {
    startLevel = 2 - sl0;
    if (sl0 === 3) {
      misconfigured = 'VTCR_EL2.SL0=3 with 4K granule is reserved (FEAT_TTST not implemented)';
      startLevel = 3;
    }
  } else {
    startLevel = 3 - sl0;
    if (gb === 16 && sl0 === 3) {
      misconfigured = 'VTCR_EL2.SL0=3 with 64K granule is reserved';
      startLevel = 1;
    }
  }
  const startBits = inputBits - levelShift(gb, startLevel);
  if (misconfigured === null && (startBits < 1 || startBits > stride + 4)) {
    misconfigured = `VTCR_EL2.SL0=${sl0} inconsistent with T0SZ=${t0sz} (${inputBits}-bit IPA) for ${1 << (gb - 10)}K granule`;
  }
  if (misconfigured === null && inputBits > paBits) {
    misconfigured = `VTCR_EL2.T0SZ=${t0sz} gives a ${inputBits}-bit IPA larger than the ${paBits}-bit PA size`;
  }
  const geometry: Geometry = { granuleBits: gb, stride, startLevel, startBits: Math.max(1, Math.min(startBits, stride + 4)), inputBits, oaBits };
  const vs = field(r.vtcr, 19, 1) === 1;
  const vmid16 = field(r.vttbr, 48, 16);
  return {
    kind: 'stage2',
    enabled: vm || dc,
    vm,
    dc,
    fwb: field(r.hcr, 46, 1) === 1,
    ptw: field(r.hcr, 2, 1) === 1,
    xnx: opts.xnx ?? true,
    vmid: vs ? vmid16 : vmid16 & 0xff,
    geometry,
    tableBase: tableBaseFromTTBR(r.vttbr, geometry),
    baseHi: rawBaseHi(r.vttbr),
    misconfigured,
  };
}

/** A disabled stage 2 (no EL2, or HCR_EL2.{VM,DC} = 0). */
export function stage2Disabled(vmid = 0): Stage2Config {
  const geometry: Geometry = { granuleBits: 12, stride: 9, startLevel: 1, startBits: 9, inputBits: 39, oaBits: 48 };
  return { kind: 'stage2', enabled: false, vm: false, dc: false, fwb: false, ptw: false, xnx: true, vmid, geometry, tableBase: 0, baseHi: 0, misconfigured: null };
}

/** A stage 1 with SCTLR_EL1.M = 0 (VA = IPA). */
export function stage1Off(icache = false): Stage1Config {
  const g = stage1Geometry(12, 48, 48);
  const range: Stage1Range = { disabled: true, geometry: g, tableBase: 0, baseHi: 0, tbi: false, tbid: false, hpd: false, asid: 0 };
  return { kind: 'stage1', enabled: false, wxn: false, icache, ee: false, mair: new Uint8Array(8), ranges: [range, { ...range }], asid: 0, asid16: false, oaBits: 48 };
}

/**
 * decodeStage1 memoised on the raw register values: a fill hook that re-reads the
 * registers on every model miss pays five BigInt compares, and re-decodes only when
 * the guest changed SCTLR/TCR/TTBR0/TTBR1/MAIR (for instance an ASID switch).
 */
export class Stage1Decoder {
  private last: Stage1Registers | null = null;
  private cfg: Stage1Config | null = null;
  constructor(private readonly paBits = DEFAULT_PA_BITS) {}
  decode(r: Stage1Registers): Stage1Config {
    const l = this.last;
    if (l !== null && this.cfg !== null && l.sctlr === r.sctlr && l.tcr === r.tcr && l.ttbr0 === r.ttbr0 && l.ttbr1 === r.ttbr1 && l.mair === r.mair) return this.cfg;
    this.last = { sctlr: r.sctlr, tcr: r.tcr, ttbr0: r.ttbr0, ttbr1: r.ttbr1, mair: r.mair };
    this.cfg = decodeStage1(r, this.paBits);
    return this.cfg;
  }
}
