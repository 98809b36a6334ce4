/**
 * Memory attributes: MAIR decoding (stage 1), stage-2 MemAttr with and without
 * FEAT_S2FWB, and the combination of stage 1 and stage 2.
 *
 * Arm ARM DDI0487 references (J.a numbering first, K.a/L.a numbering in brackets):
 * - MAIR_EL1.Attr<n> encoding: D17.2.97 MAIR_EL1 [D24.2.123]
 * - Stage 2 MemAttr without FWB: D8.5.5 [D8.6.5, Table "Stage 2 MemAttr[3:0] encoding"]
 * - Combining stage 1 and stage 2 memory type attributes: D8.5.5 [D8.6.5.1]
 * - Combining Cacheability for Normal memory: D8.5.5 [D8.6.5.2]
 * - Stage 2 with FWB: D8.5.6 [D8.6.6, Tables "Stage 2 MemAttr[1:0] encoding ... FWB enabled"]
 * - Shareability and its combination: D8.5.6 [D8.6.7, D8.6.7.1]
 *
 * Hot path: `effectiveAttributes()` memoises by a small integer key, so a TLB fill
 * does one Map lookup and no allocation after the first use of a combination.
 */

export type Cacheability = 'NC' | 'WT' | 'WB';
export type DeviceType = 'nGnRnE' | 'nGnRE' | 'nGRE' | 'GRE';
export type Shareability = 'NSH' | 'ISH' | 'OSH';

export interface CacheAttr {
  cache: Cacheability;
  readAllocate: boolean;
  writeAllocate: boolean;
  transient: boolean;
}

export interface MemoryAttributes {
  type: 'device' | 'normal';
  device: DeviceType | null;
  inner: CacheAttr | null;
  outer: CacheAttr | null;
  shareability: Shareability;
  /** MTE Tagged (MAIR 0xF0) */
  tagged: boolean;
  /** `Device-nGnRnE`, `Normal-NC`, `Normal-WT`, `Normal-WB`, or `Normal-i<inner>-o<outer>` */
  name: string;
  /** set when the encoding is reserved / CONSTRAINED UNPREDICTABLE and we chose an interpretation */
  note: string | null;
}

export interface EffectiveAttributes extends MemoryAttributes {
  /** stage-1 attributes (synthesised when stage 1 is disabled) */
  s1: MemoryAttributes;
  /** stage-2 descriptor MemAttr[3:0], or -1 when stage 2 is disabled */
  s2MemAttr: number;
  /** meaning of the stage-2 MemAttr on its own */
  s2Name: string | null;
  fwb: boolean;
  /** which rule produced the result (for traces and tests) */
  rule: string;
}

const DEVICE_TYPES: DeviceType[] = ['nGnRnE', 'nGnRE', 'nGRE', 'GRE'];
const CACHE_RANK: Record<Cacheability, number> = { NC: 0, WT: 1, WB: 2 };
const RANK_CACHE: Cacheability[] = ['NC', 'WT', 'WB'];
const SH_NAMES: Shareability[] = ['NSH', 'NSH', 'OSH', 'ISH']; // 0b01 reserved -> treated as Non-shareable (noted)

export const SH_NON = 0;
export const SH_OUTER = 2;
export const SH_INNER = 3;

function nameOf(type: 'device' | 'normal', device: DeviceType | null, inner: CacheAttr | null, outer: CacheAttr | null): string {
  if (type === 'device') return `Device-${device}`;
  if (inner!.cache === outer!.cache) return `Normal-${inner!.cache}`;
  return `Normal-i${inner!.cache}-o${outer!.cache}`;
}

function deviceAttrs(dd: number, note: string | null = null): MemoryAttributes {
  const device = DEVICE_TYPES[dd & 3]!;
  return { type: 'device', device, inner: null, outer: null, shareability: 'OSH', tagged: false, name: `Device-${device}`, note };
}

function normalAttrs(inner: CacheAttr, outer: CacheAttr, sh: number, tagged = false, note: string | null = null): MemoryAttributes {
  const ncnc = inner.cache === 'NC' && outer.cache === 'NC';
  return {
    type: 'normal',
    device: null,
    inner,
    outer,
    // Normal Inner NC + Outer NC is always treated as Outer Shareable (D8.6.7 R_YHCTP / D8.5.6 J.a)
    shareability: ncnc ? 'OSH' : SH_NAMES[sh & 3]!,
    tagged,
    name: nameOf('normal', null, inner, outer),
    note: note ?? ((sh & 3) === 1 ? 'SH=0b01 is reserved; treated as Non-shareable' : null),
  };
}

const NC: CacheAttr = Object.freeze({ cache: 'NC', readAllocate: false, writeAllocate: false, transient: false }) as CacheAttr;

/**
 * One MAIR cacheability nibble (Arm ARM MAIR_EL1.Attr<n>, "oooo"/"iiii"):
 * 0b00RW (RW!=00) WT transient, 0b0100 NC, 0b01RW (RW!=00) WB transient,
 * 0b10RW WT non-transient, 0b11RW WB non-transient. R = bit1, W = bit0.
 */
export function decodeCacheNibble(n: number): CacheAttr {
  n &= 0xf;
  if (n === 0b0100) return NC;
  const ra = (n & 2) !== 0;
  const wa = (n & 1) !== 0;
  switch (n >> 2) {
    case 0:
      return { cache: 'WT', readAllocate: ra, writeAllocate: wa, transient: true };
    case 1:
      return { cache: 'WB', readAllocate: ra, writeAllocate: wa, transient: true };
    case 2:
      return { cache: 'WT', readAllocate: ra, writeAllocate: wa, transient: false };
    default:
      return { cache: 'WB', readAllocate: ra, writeAllocate: wa, transient: false };
  }
}

/**
 * Decode a MAIR_EL1 attribute byte with the stage-1 descriptor SH field
 * (Arm ARM MAIR_EL1.Attr<n>): 0b0000dd00 Device (dd: nGnRnE, nGnRE, nGRE, GRE);
 * 0booooiiii Normal; 0xF0 Tagged Normal WB (FEAT_MTE2); 0x40 / 0xA0 the FEAT_XS
 * Normal NC / WT forms; other 0bxxxx0000 and 0b0000ddxx (xx != 00) are
 * UNPREDICTABLE and are given the nearest meaning, with a note.
 */
export function decodeMair(attr: number, sh = SH_INNER): MemoryAttributes {
  attr &= 0xff;
  const hi = attr >> 4;
  const lo = attr & 0xf;
  if (hi === 0) {
    if ((lo & 3) === 0) return deviceAttrs(lo >> 2);
    return deviceAttrs(lo >> 2, `MAIR 0x${attr.toString(16).padStart(2, '0')}: 0b0000ddxx with xx != 00 (FEAT_XS / UNPREDICTABLE); treated as Device-${DEVICE_TYPES[lo >> 2]}`);
  }
  if (lo === 0) {
    const wbrwa: CacheAttr = { cache: 'WB', readAllocate: true, writeAllocate: true, transient: false };
    if (attr === 0xf0) return normalAttrs(wbrwa, wbrwa, sh, true);
    if (attr === 0x40) return normalAttrs(NC, NC, sh, false, 'MAIR 0x40: FEAT_XS Normal Non-cacheable, XS=0');
    if (attr === 0xa0) {
      const wt: CacheAttr = { cache: 'WT', readAllocate: true, writeAllocate: false, transient: false };
      return normalAttrs(wt, wt, sh, false, 'MAIR 0xa0: FEAT_XS Normal Write-Through, XS=0');
    }
    return normalAttrs(NC, decodeCacheNibble(hi), sh, false, `MAIR 0x${attr.toString(16)}: inner 0b0000 is UNPREDICTABLE; inner treated as Non-cacheable`);
  }
  return normalAttrs(decodeCacheNibble(lo), decodeCacheNibble(hi), sh);
}

const S2_PLACEHOLDER = (c: Cacheability): CacheAttr => ({ cache: c, readAllocate: c !== 'NC', writeAllocate: c !== 'NC', transient: false });

/**
 * Stage-2 MemAttr[3:0] when HCR_EL2.FWB = 0 (Arm ARM D8.6.5 Table "Stage 2 MemAttr[3:0]
 * encoding"): 0b00dd Device; otherwise [3:2] outer and [1:0] inner, 01 NC, 10 WT, 11 WB;
 * inner 00 (0b0100, 0b1000, 0b1100) is reserved and treated as Non-cacheable.
 * Stage 2 carries no allocation hints (placeholders are RA/WA non-transient).
 */
export function decodeS2MemAttr(memAttr: number, sh = SH_INNER): MemoryAttributes {
  memAttr &= 0xf;
  const o = memAttr >> 2;
  const i = memAttr & 3;
  if (o === 0) return deviceAttrs(i);
  const oc = RANK_CACHE[o - 1]!;
  if (i === 0) return normalAttrs(NC, S2_PLACEHOLDER(oc), sh, false, `stage-2 MemAttr 0b${memAttr.toString(2).padStart(4, '0')} is reserved; inner treated as Non-cacheable`);
  return normalAttrs(S2_PLACEHOLDER(RANK_CACHE[i - 1]!), S2_PLACEHOLDER(oc), sh);
}

/** FWB stage-2 MemAttr meaning (Arm ARM D8.6.6): MemAttr[3] RES0 without FEAT_MTE_PERM. */
export type FwbMode = 'device' | 'force-nc' | 'force-wb' | 'stage1' | 'reserved';

export function fwbMode(memAttr: number): FwbMode {
  const m = memAttr & 7;
  if ((m & 4) === 0) return 'device';
  switch (m) {
    case 5:
      return 'force-nc';
    case 6:
      return 'force-wb';
    case 7:
      return 'stage1';
    default:
      return 'reserved'; // 0b100
  }
}

export function describeS2MemAttr(memAttr: number, fwb: boolean): string {
  if (!fwb) return decodeS2MemAttr(memAttr).name;
  switch (fwbMode(memAttr)) {
    case 'device':
      return `FWB Device-${DEVICE_TYPES[memAttr & 3]}`;
    case 'force-nc':
      return 'FWB Normal-NC';
    case 'force-wb':
      return 'FWB Normal-WB (forced)';
    case 'stage1':
      return 'FWB use stage 1';
    default:
      return 'FWB reserved';
  }
}

function minDevice(a: DeviceType, b: DeviceType): DeviceType {
  return DEVICE_TYPES[Math.min(DEVICE_TYPES.indexOf(a), DEVICE_TYPES.indexOf(b))]!;
}

function combineCache(s1: CacheAttr, s2: CacheAttr): CacheAttr {
  // D8.6.5.2: the weaker cacheability wins (NC < WT < WB); hints come from stage 1
  const r = Math.min(CACHE_RANK[s1.cache], CACHE_RANK[s2.cache]);
  if (r === 0) return NC;
  return { cache: RANK_CACHE[r]!, readAllocate: s1.readAllocate, writeAllocate: s1.writeAllocate, transient: s1.transient };
}

function forceWB(c: CacheAttr | null): CacheAttr {
  // D8.6.6 R_THYXB / R_TBQKG: hints from stage 1 if it was cacheable, else RA/WA non-transient
  if (c === null || c.cache === 'NC') return { cache: 'WB', readAllocate: true, writeAllocate: true, transient: false };
  return { cache: 'WB', readAllocate: c.readAllocate, writeAllocate: c.writeAllocate, transient: c.transient };
}

function combineShare(a: number, b: number): Shareability {
  // D8.6.7.1 Table "Combining stage 1 and stage 2 Shareability attributes": the more shareable wins
  const rank = (s: number): number => (s === SH_OUTER ? 2 : s === SH_INNER ? 1 : 0);
  const r = Math.max(rank(a & 3), rank(b & 3));
  return r === 2 ? 'OSH' : r === 1 ? 'ISH' : 'NSH';
}

function finish(
  type: 'device' | 'normal',
  device: DeviceType | null,
  inner: CacheAttr | null,
  outer: CacheAttr | null,
  s1: MemoryAttributes,
  s1sh: number,
  s2MemAttr: number,
  s2sh: number,
  fwb: boolean,
  rule: string,
): EffectiveAttributes {
  let shareability: Shareability;
  if (type === 'device' || (inner!.cache === 'NC' && outer!.cache === 'NC')) shareability = 'OSH';
  else if (s2MemAttr < 0) shareability = SH_NAMES[s1sh & 3]!;
  else shareability = combineShare(s1sh, s2sh);
  return Object.freeze({
    type,
    device,
    inner,
    outer,
    shareability,
    tagged: type === 'normal' && s1.tagged && (fwb ? fwbMode(s2MemAttr) !== 'force-nc' : inner!.cache === 'WB' && outer!.cache === 'WB'),
    name: nameOf(type, device, inner, outer),
    note: s1.note,
    s1,
    s2MemAttr,
    s2Name: s2MemAttr < 0 ? null : describeS2MemAttr(s2MemAttr, fwb),
    fwb,
    rule,
  });
}

/**
 * Combine stage-1 attributes (MAIR byte + SH) with stage-2 MemAttr[3:0] + SH.
 * s2MemAttr < 0 means stage 2 is disabled (the stage-1 attributes are final).
 */
export function combineAttributes(s1Attr: number, s1sh: number, s2MemAttr: number, s2sh: number, fwb: boolean): EffectiveAttributes {
  const s1 = decodeMair(s1Attr, s1sh);
  if (s2MemAttr < 0) return finish(s1.type, s1.device, s1.inner, s1.outer, s1, s1sh, -1, 0, false, 'stage 2 disabled: stage 1 attributes');
  if (!fwb) {
    const s2 = decodeS2MemAttr(s2MemAttr, s2sh);
    if (s1.type === 'device' && s2.type === 'device') {
      return finish('device', minDevice(s1.device!, s2.device!), null, null, s1, s1sh, s2MemAttr, s2sh, false, 'D8.6.5.1: both Device, the stricter of each of G/R/E');
    }
    if (s1.type === 'device') return finish('device', s1.device, null, null, s1, s1sh, s2MemAttr, s2sh, false, 'D8.6.5.1: Device (stage 1) has precedence over Normal');
    if (s2.type === 'device') return finish('device', s2.device, null, null, s1, s1sh, s2MemAttr, s2sh, false, 'D8.6.5.1: Device (stage 2) has precedence over Normal');
    return finish(
      'normal',
      null,
      combineCache(s1.inner!, s2.inner!),
      combineCache(s1.outer!, s2.outer!),
      s1,
      s1sh,
      s2MemAttr,
      s2sh,
      false,
      'D8.6.5.2: Normal, the weaker Cacheability per inner/outer (NC < WT < WB)',
    );
  }
  // FWB (D8.6.6 Table "Stage 2 MemAttr[1:0] encoding, FWB enabled")
  switch (fwbMode(s2MemAttr)) {
    case 'device': {
      const d2 = DEVICE_TYPES[s2MemAttr & 3]!;
      // R_GSDKZ: stage 2 Device attributes are combined with stage 1 (the stricter wins).
      // QEMU's combined_attrs_fwb() instead forces the stage-2 Device type; they differ only
      // when stage 1 is a stricter Device type.
      if (s1.type === 'device') return finish('device', minDevice(s1.device!, d2), null, null, s1, s1sh, s2MemAttr, s2sh, true, 'D8.6.6: FWB Device, combined with stage 1 Device (stricter)');
      return finish('device', d2, null, null, s1, s1sh, s2MemAttr, s2sh, true, 'D8.6.6: FWB MemAttr[2]=0 forces Device');
    }
    case 'force-nc':
      if (s1.type === 'device') return finish('device', s1.device, null, null, s1, s1sh, s2MemAttr, s2sh, true, 'D8.6.6: FWB 0b101 with stage-1 Device keeps Device');
      return finish('normal', null, NC, NC, s1, s1sh, s2MemAttr, s2sh, true, 'D8.6.6: FWB 0b101 forces Normal Non-cacheable');
    case 'force-wb':
      return finish('normal', null, forceWB(s1.inner), forceWB(s1.outer), s1, s1sh, s2MemAttr, s2sh, true, 'D8.6.6: FWB 0b110 forces Normal Write-Back');
    case 'stage1':
      return finish(s1.type, s1.device, s1.inner, s1.outer, s1, s1sh, s2MemAttr, s2sh, true, 'D8.6.6: FWB 0b111 uses the stage 1 attributes');
    default: {
      // 0b100: reserved. Treated as Device-nGnRnE (the most restrictive), as QEMU does for reserved FWB values.
      return finish('device', 'nGnRnE', null, null, s1, s1sh, s2MemAttr, s2sh, true, 'D8.6.6: FWB 0b100 is reserved; treated as Device-nGnRnE');
    }
  }
}

const memo = new Map<number, EffectiveAttributes>();

/**
 * Memoised combineAttributes for the translation hot path. Key packs
 * s1Attr (8) | s1sh (2) | s2MemAttr+1 (5) | s2sh (2) | fwb (1).
 */
export function effectiveAttributes(s1Attr: number, s1sh: number, s2MemAttr: number, s2sh: number, fwb: boolean): EffectiveAttributes {
  const key = (s1Attr & 0xff) | ((s1sh & 3) << 8) | ((s2MemAttr + 1) << 10) | ((s2sh & 3) << 15) | (fwb ? 1 << 17 : 0);
  let e = memo.get(key);
  if (e === undefined) {
    e = combineAttributes(s1Attr, s1sh, s2MemAttr, s2sh, fwb);
    memo.set(key, e);
  }
  return e;
}

/**
 * Stage-1 attributes when stage 1 is disabled (Arm ARM D8.2.11 [J.a D5.2.9]
 * "The effects of disabling a stage of translation"), as a MAIR byte + SH:
 * HCR_EL2.DC = 1: Normal Inner/Outer WB RA/WA non-transient, Non-shareable (0xFF, NSH);
 * data accesses otherwise: Device-nGnRnE (0x00, OSH);
 * instruction fetches: Normal Inner/Outer Write-Through RA (0xAA) when SCTLR_EL1.I = 1,
 * Normal Non-cacheable (0x44) when I = 0, Outer Shareable.
 */
export function stage1DisabledAttr(fetch: boolean, dc: boolean, icache: boolean): { attr: number; sh: number } {
  if (dc) return { attr: 0xff, sh: SH_NON };
  if (!fetch) return { attr: 0x00, sh: SH_OUTER };
  return { attr: icache ? 0xaa : 0x44, sh: SH_OUTER };
}
