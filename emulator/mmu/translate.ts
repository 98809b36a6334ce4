/**
 * Two-stage translation for the EL1&0 regime: stage 1 (TTBR0/TTBR1, or disabled)
 * followed by stage 2 (VTTBR, or disabled), with every stage-1 table access itself
 * translated by stage 2 (S1PTW). Built on the generic Walker with two small visitors.
 *
 * Arm ARM DDI0487 (J.a numbering, K.a/L.a in brackets where it moved):
 * - VA range selection and TBI: D8.2.x "VA ranges" / TCR_EL1.{T0SZ,T1SZ,TBI*,EPD*}
 * - Stage 1 permissions: D8.4.1 [D8.4.1] AP[2:1], UXN/PXN, WXN, "writable at EL0 implies PXN",
 *   hierarchical APTable/UXNTable/PXNTable (D8.4.2 [D8.4.1.x]), HPD
 * - Stage 2 permissions: D8.4.3 [D8.4.2] S2AP, XN[1:0] with FEAT_XNX
 * - Access flag: D8.5.x [D8.5.1]; Faults and their priority: D8.15 [D8.15.x]
 * - Disabled stage 1: D8.2.11 "The effects of disabling a stage of translation"
 *
 * Hot path contract: `translate()` returns the Regime's reused result or fault object
 * (no allocation on success unless `record` is set; a fault allocates only its detail string).
 * Copy what you keep before the next call on the same Regime.
 *
 * Size (~800 lines), why it stays whole: it is the Regime (stage-1 then stage-2 translation,
 * its two visitors and the permission functions they call) over the one walker in walker.ts,
 * and its two walk caches (the stage-1 table of a recent leaf, the last stage-2 leaves), whose
 * lookups and fills sit inside stage1Walk and s2Lookup and read the same scratch state.
 * translateHL is the hot path: stage 1 (stage1Disabled, or selectRange and stage1Walk, each
 * S1PTW table address through stage 2), then the output through stage 2 (stage2Output), in the
 * Arm ARM's fault-priority order, each step leaving its output in scratch fields (no allocation).
 */
import type { DescriptorMemory } from './memory.js';
import type { Stage1Config, Stage2Config, Stage1Range } from './config.js';
import { DEFAULT_PA_BITS, stage1Off, stage2Disabled } from './config.js';
import {
  descriptorHex,
  describeDescriptor,
  levelShift,
  oaExceeds,
  outputAddress,
  DESC_AF,
  HI_PXN,
  HI_UXN,
  HI_PXNTABLE,
  HI_XNTABLE,
  HI_APTABLE_SHIFT,
  KIND_INVALID,
  POW2,
} from './descriptors.js';
import {
  Walker,
  CONTINUE,
  STOP,
  LEAF,
  TABLE_PRE,
  WALK_STOPPED,
  WALK_ADDRESS_SIZE,
  WALK_EXTERNAL_ABORT,
  WALK_RESOLVER_FAULT,
  type VisitContext,
  type WalkVisitor,
  type TableResolver,
  type WalkParams,
} from './walker.js';
import { effectiveAttributes, stage1DisabledAttr, type EffectiveAttributes } from './attributes.js';
import type { FaultType, TranslationFault, WalkRecord } from './faults.js';

export type AccessKind = 'read' | 'write' | 'fetch';

export interface Access {
  kind: AccessKind;
  /** exception level of the access: 0 or 1 */
  el: 0 | 1;
  /** LDTR/STTR family executed at EL1: checked with EL0 permissions */
  unprivileged?: boolean;
  /** DC/IC maintenance by VA (no Access flag fault; ESR.CM = 1) */
  cacheMaintenance?: boolean;
}

/** Unicorn UC_PROT_* bits. */
export const PERM_R = 1;
export const PERM_W = 2;
export const PERM_X = 4;
export const PERM_RWX = 7;

export interface TranslationResult {
  ok: true;
  va: number | bigint;
  ipa: number;
  pa: number;
  /** Unicorn perms (PERM_R|W|X) for the EL of this access, valid for the whole cacheable region */
  perms: number;
  permsEl1: number;
  permsEl0: number;
  /** log2 of the region (VA, IPA and PA aligned alike) over which this result holds: min of both stages' leaf sizes */
  sizeLog2: number;
  /** stage-1 leaf level, -1 when stage 1 is disabled */
  s1Level: number;
  s1SizeLog2: number;
  /** stage-2 leaf level, -1 when stage 2 is disabled */
  s2Level: number;
  s2SizeLog2: number;
  /** ASID of the walk (from TTBR0 or TTBR1 per TCR.A1); meaningful when nG */
  asid: number;
  vmid: number;
  nG: boolean;
  global: boolean;
  /** 1 for TTBR1 (VA[55] = 1), 0 otherwise (and when stage 1 is disabled) */
  ttbr: 0 | 1;
  attrs: EffectiveAttributes;
  walk: WalkRecord[] | null;
}

export type TranslateOutcome = TranslationResult | TranslationFault;

export interface TranslateOptions {
  /** record every level of both stages in result.walk / fault.walk (allocates) */
  record?: boolean;
  /**
   * Stop after stage 1: the output is the IPA, with stage-1 attributes; the stage-1 table
   * walks still go through stage 2. What AT S1E1R/W and S1E0R/W executed at EL2 report
   * (Arm ARM C5.5 AT S1E1R: "stage 1 translation"; its PAR holds the IPA).
   */
  stage1Only?: boolean;
}

const TWO32 = 4294967296;
const TWO21 = 2 ** 21;
/** region size used when both stages are disabled (flat mapping) */
const FLAT_SIZE_LOG2 = 30;

function hexAddr(n: number): string {
  return '0x' + n.toString(16);
}

/** The leaf (or invalid entry) a walk ended on, copied out of the walker's reused context. */
class LeafCapture {
  leafLo = 0;
  leafHi = 0;
  leafLevel = 0;
  leafIa = 0;
  leafKind = 0;
  leafDescAddr = 0;

  capture(c: VisitContext): void {
    this.leafLo = c.lo;
    this.leafHi = c.hi;
    this.leafLevel = c.level;
    this.leafIa = c.ia;
    this.leafKind = c.kind;
    this.leafDescAddr = c.descAddr;
  }
}

/** Stage-1 walk visitor: accumulates hierarchical attributes, captures the leaf. */
class S1Visitor extends LeafCapture implements WalkVisitor {
  flags = LEAF | TABLE_PRE;
  hpd = false;
  apTable = 0;
  xnTable = false;
  pxnTable = false;
  record: WalkRecord[] | null = null;

  reset(hpd: boolean, record: WalkRecord[] | null): void {
    this.hpd = hpd;
    this.apTable = 0;
    this.xnTable = false;
    this.pxnTable = false;
    this.record = record;
  }

  visit(c: VisitContext, flag: number): number {
    if (flag === TABLE_PRE) {
      if (!this.hpd) {
        this.apTable |= (c.hi >>> HI_APTABLE_SHIFT) & 3;
        if ((c.hi & HI_XNTABLE) !== 0) this.xnTable = true;
        if ((c.hi & HI_PXNTABLE) !== 0) this.pxnTable = true;
      }
      if (this.record !== null) pushRecord(this.record, 1, false, c, describeDescriptor(c.lo, c.hi, c.level, c.walker.geometry.granuleBits, 1));
      return CONTINUE;
    }
    this.capture(c);
    if (this.record !== null) pushRecord(this.record, 1, false, c, describeDescriptor(c.lo, c.hi, c.level, c.walker.geometry.granuleBits, 1));
    return STOP;
  }
}

/** Stage-2 walk visitor: captures the leaf (and records the levels when asked). Also the nested model's walker of a guest hypervisor's stage 2. */
export class S2Visitor extends LeafCapture implements WalkVisitor {
  flags = LEAF;
  record: WalkRecord[] | null = null;
  forS1 = false;

  setRecord(record: WalkRecord[] | null, forS1: boolean): void {
    this.record = record;
    this.forS1 = forS1;
    this.flags = record !== null ? LEAF | TABLE_PRE : LEAF;
  }

  visit(c: VisitContext, flag: number): number {
    if (this.record !== null) pushRecord(this.record, 2, this.forS1, c, describeDescriptor(c.lo, c.hi, c.level, c.walker.geometry.granuleBits, 2));
    if (flag === TABLE_PRE) return CONTINUE;
    this.capture(c);
    return STOP;
  }
}

function pushRecord(rec: WalkRecord[], stage: 1 | 2, forS1: boolean, c: VisitContext, decision: string): void {
  rec.push({
    stage,
    forS1Walk: forS1,
    level: c.level,
    table: c.tableName,
    index: c.index,
    descAddr: c.descAddr,
    descriptor: descriptorHex(c.lo, c.hi),
    decision,
  });
}

/** Stage-1 permissions packed as permsEl1 | permsEl0 << 3 (Unicorn bits). */
export function stage1Perms(lo: number, hi: number, apTable: number, xnTable: boolean, pxnTable: boolean, wxn: boolean): number {
  let ap = (lo >>> 6) & 3; // bit1 = AP[2] (read-only), bit0 = AP[1] (EL0 access)
  if ((apTable & 2) !== 0) ap |= 2; // APTable[1]: no write access below (D8.4.1.x hierarchical)
  if ((apTable & 1) !== 0) ap &= 2; // APTable[0]: no EL0 access below
  const el1w = (ap & 2) === 0;
  const el0r = (ap & 1) !== 0;
  const el0w = ap === 1;
  const uxn = (hi & HI_UXN) !== 0 || xnTable;
  const pxn = (hi & HI_PXN) !== 0 || pxnTable;
  // D8.4.1.x: a region writable at EL0 is treated as PXN; SCTLR_EL1.WXN makes writable regions XN
  const el0x = !uxn && !(wxn && el0w);
  const el1x = !pxn && !el0w && !(wxn && el1w);
  const p1 = PERM_R | (el1w ? PERM_W : 0) | (el1x ? PERM_X : 0);
  const p0 = (el0r ? PERM_R : 0) | (el0w ? PERM_W : 0) | (el0x ? PERM_X : 0);
  return p1 | (p0 << 3);
}

/**
 * Stage-2 permissions packed as permsEl1 | permsEl0 << 3. S2AP bit0 = read, bit1 = write.
 * XN[1:0] with FEAT_XNX: 00 executable at EL1 and EL0, 01 not at EL1, 10 at neither,
 * 11 not at EL0; without FEAT_XNX only XN[1] counts (Arm ARM D8.4.3 [D8.4.2.x] Table "Stage 2 XN").
 */
export function stage2Perms(lo: number, hi: number, xnx: boolean): number {
  const s2ap = (lo >>> 6) & 3;
  let xn = (hi >>> 21) & 3;
  if (!xnx) xn = (xn & 2) !== 0 ? 2 : 0;
  const rw = ((s2ap & 1) !== 0 ? PERM_R : 0) | ((s2ap & 2) !== 0 ? PERM_W : 0);
  const x1 = xn === 0 || xn === 3 ? PERM_X : 0;
  const x0 = xn === 0 || xn === 1 ? PERM_X : 0;
  return (rw | x1) | ((rw | x0) << 3);
}

/** The stage-2 faults of a stage-1 table access, for Regime.s1TableRefusal's answers 1, 2, 3. */
const S1_TABLE_REFUSALS: readonly (readonly [FaultType, string])[] = [
  ['accessFlag', 'stage-2 AF = 0 for a stage-1 table access'],
  ['permission', 'stage-2 S2AP forbids reading a stage-1 table'],
  ['permission', 'HCR_EL2.PTW: stage-1 table in stage-2 Device memory'],
];

/**
 * One slot of Regime's stage-1 walk cache: the table holding the last leaf a walk of this VA
 * region found (its name as the walk read it, an IPA under stage 2), its level, and the
 * hierarchical attributes the levels above it gave (APTable, XNTable, PXNTable), valid under
 * `generation` for this Stage1Config and TTBR half.
 */
class S1TableSlot {
  generation = -1;
  stage1: Stage1Config | null = null;
  sel = 0;
  base = 0;
  end = 0;
  name = 0;
  level = 0;
  apTable = 0;
  xnTable = false;
  pxnTable = false;
}

/** One stage-2 leaf of Regime's stage-2 leaf cache: IPA range [base, end) -> paBase, its descriptor, valid under `generation`. */
class S2LeafSlot {
  generation = -1;
  stage2: Stage2Config | null = null;
  base = 0;
  end = 0;
  lo = 0;
  hi = 0;
  level = 0;
  paBase = 0;
}

/**
 * A translation regime: the configuration of both stages, the memory behind the
 * tables, and the scratch state (walkers, visitors, result/fault objects) reused by
 * every translation. One Regime per vCPU; not re-entrant.
 *
 * Update `stage1` / `stage2` when the guest writes SCTLR/TCR/TTBR/MAIR or the
 * hypervisor writes HCR/VTCR/VTTBR (decodeStage1 / decodeStage2).
 */
export class Regime {
  stage1: Stage1Config;
  stage2: Stage2Config;
  mem: DescriptorMemory;
  /** implemented PA size (bits) */
  paBits: number;

  readonly result: TranslationResult;
  readonly fault: TranslationFault;
  private readonly w1 = new Walker();
  private readonly w2 = new Walker();
  private readonly v1 = new S1Visitor();
  private readonly v2 = new S2Visitor();
  private readonly leaf2 = new LeafCapture();
  private readonly p1: WalkParams;
  private readonly p2: WalkParams;
  private readonly resolver: TableResolver;
  // last stage-2 leaf used for a stage-1 table access, valid during one translation
  private ptwIa = -1;
  private ptwEnd = -1;
  private ptwPa = 0;
  // output of s2Lookup
  private s2Pa = 0;
  private s2Lo = 0;
  private s2Hi = 0;
  private s2Level = 0;
  private s2SizeLog2 = 0;
  /** s2Lookup's answer came from the stage-2 leaf cache (below), not a walk */
  private s2Cached = false;
  /**
   * The last stage-2 leaves walks found (AF set), kept across translations, one for stage-1 table
   * addresses (S1PTW) and one for output addresses ([0] and [1]): a stage-2 TLB for the model's own
   * walks (Arm ARM D8.13 [K.a D8.16]: a TLB may hold any valid translation until it is
   * invalidated), as every stage-1 walk translates its table addresses and its output through
   * stage 2. Used only by translations the model TLB asks for (translateHL's `s2Generation`, the
   * model TLB's count of invalidations that can reach stage 2: ALLE1, VMALLE1/VMALLS12E1,
   * IPAS2E1 and their forms) while that count and the Stage2Config are unchanged; never for a
   * recorded walk. An answer from it that a check refuses (AF, S2AP, XN, PTW) is looked up again
   * by a walk: the fault reported is always the walk's.
   */
  private readonly s2c = [new S2LeafSlot(), new S2LeafSlot()] as const;
  /** The generation the current translation may use the stage-2 leaf cache under; -1: not at all. */
  private s2Generation = -1;
  /**
   * A stage-1 walk cache (Arm ARM D8.13 [K.a D8.16]: translation table entries of any level may be
   * cached; a TLBI that is not "last level" invalidates the cached entries of the levels above,
   * a last-level one (VALE1, VAALE1, RVALE1, RVAALE1) need not): the table that held the leaf of
   * a recent walk in each of four VA-region slots, so a walk of the same region starts there.
   * Used only by translations the model TLB asks for, under its s1Generation (changed by every
   * invalidation but the last-level ones by VA: Linux's fixmap text patching clears its PTE with
   * TLBI VAALE1IS, and the next poke walks one level instead of four).
   */
  private readonly s1c = [new S1TableSlot(), new S1TableSlot(), new S1TableSlot(), new S1TableSlot()] as const;
  private s1Generation = -1;
  private record: WalkRecord[] | null = null;
  private curVa: number | bigint = 0;
  private curWrite = false;
  private curFetch = false;
  private curCm = false;
  // inputs and result of the last effectiveAttributes() call (a pure, memoised function)
  private attrS1 = -2;
  private attrSh = 0;
  private attrS2 = 0;
  private attrS2sh = 0;
  private attrFwb = false;
  private attrLast: EffectiveAttributes;

  constructor(stage1: Stage1Config, stage2: Stage2Config, mem: DescriptorMemory, paBits = DEFAULT_PA_BITS) {
    this.stage1 = stage1;
    this.stage2 = stage2;
    this.mem = mem;
    this.paBits = paBits;
    this.result = {
      ok: true, va: 0, ipa: 0, pa: 0, perms: 0, permsEl1: 0, permsEl0: 0, sizeLog2: 12,
      s1Level: -1, s1SizeLog2: 0, s2Level: -1, s2SizeLog2: 0, asid: 0, vmid: 0, nG: false, global: true, ttbr: 0,
      attrs: effectiveAttributes(0xff, 3, -1, 0, false), walk: null,
    };
    this.attrLast = this.result.attrs;
    this.fault = { ok: false, stage: 1, type: 'translation', level: 0, s1ptw: false, ipa: -1, va: 0, write: false, fetch: false, cm: false, detail: '', walk: null };
    this.p1 = { geometry: stage1.ranges[0].geometry, mem, root: 0, rootHi: 0, resolver: null };
    this.p2 = { geometry: stage2.geometry, mem, root: 0, rootHi: 0, resolver: null };
    const self = this;
    this.resolver = {
      resolveDescriptor(name: number): number {
        return self.resolveS1Descriptor(name);
      },
    };
  }

  /** Translate a VA given as a Number (< 2^53) or a BigInt (any 64-bit value). */
  translate(va: number | bigint, access: Access, opts?: TranslateOptions): TranslateOutcome {
    let hi: number;
    let lo: number;
    if (typeof va === 'number') {
      hi = Math.floor(va / TWO32);
      lo = va >>> 0;
    } else {
      hi = Number((va >> 32n) & 0xffff_ffffn);
      lo = Number(va & 0xffff_ffffn);
    }
    return this.translateHL(va, hi, lo, access, opts);
  }

  /**
   * Translate a VA given as unsigned 32-bit halves; `va` is echoed into the result/fault. Stage 1
   * (disabled, or the walk), then stage 2, then the result, in the Arm ARM's fault-priority
   * order (D8.15): each step fills the `o*` scratch fields or returns the fault.
   */
  translateHL(va: number | bigint, vaHi: number, vaLo: number, access: Access, opts?: TranslateOptions, s2Generation = -1, s1Generation = -1): TranslateOutcome {
    const s1 = this.stage1;
    const s2 = this.stage2;
    const fetch = access.kind === 'fetch';
    const write = access.kind === 'write';
    const el = access.unprivileged === true ? 0 : access.el;
    const record = opts?.record === true ? [] : null;
    this.record = record;
    this.s2Generation = record === null ? s2Generation : -1;
    this.s1Generation = record === null ? s1Generation : -1;
    this.curVa = va;
    this.curWrite = write;
    this.curFetch = fetch;
    this.curCm = access.cacheMaintenance === true;
    this.ptwIa = -1;
    this.ptwEnd = -1;
    const need = fetch ? PERM_X : write ? PERM_W : PERM_R;
    // HCR_EL2.DC = 1: stage 1 behaves as disabled for the EL1&0 regime (Arm ARM HCR_EL2.DC)
    const f1 = !s1.enabled || (s2.enabled && s2.dc) ? this.stage1Disabled(vaHi, vaLo, fetch) : this.stage1Walk(vaHi, vaLo, access, el, need);
    if (f1 !== null) return f1;
    if (s2.enabled && opts?.stage1Only !== true) {
      const f2 = this.stage2Output(access, el, need);
      if (f2 !== null) return f2;
    } else {
      this.oPa = this.oIpa;
      this.oS2Level = -1;
      this.oS2SizeLog2 = 64;
      this.oMemAttr = -1;
      this.oS2sh = 0;
    }
    return this.fillResult(va, el, record);
  }

  // Scratch of one translation (translateHL): stage 1's output, then stage 2's.
  private oIpa = 0;
  private oS1Level = -1;
  private oS1SizeLog2 = 64;
  private oPermsEl1 = PERM_RWX;
  private oPermsEl0 = PERM_RWX;
  private oAttr = 0;
  private oSh = 0;
  private oNG = false;
  private oTtbr: 0 | 1 = 0;
  private oPa = 0;
  private oS2Level = -1;
  private oS2SizeLog2 = 64;
  private oMemAttr = -1;
  private oS2sh = 0;

  /** D8.2.11 "The effects of disabling a stage of translation": VA = IPA, attributes from HCR_EL2.DC and SCTLR_EL1.I. */
  private stage1Disabled(vaHi: number, vaLo: number, fetch: boolean): TranslationFault | null {
    const s2 = this.stage2;
    // VA bits above the PA size -> stage-1 Address size fault, level 0
    if (vaHi >>> (this.paBits - 32) !== 0) {
      return this.fail(1, 'addressSize', 0, -1, 'stage 1 disabled and VA above the PA size');
    }
    this.oIpa = vaHi * TWO32 + vaLo;
    this.oS1Level = -1;
    this.oS1SizeLog2 = 64;
    this.oPermsEl1 = PERM_RWX;
    this.oPermsEl0 = PERM_RWX;
    const d = stage1DisabledAttr(fetch, s2.enabled && s2.dc, this.stage1.icache);
    this.oAttr = d.attr;
    this.oSh = d.sh;
    this.oNG = false;
    this.oTtbr = 0;
    return null;
  }

  /**
   * The VA range (TTBR0 or TTBR1) a VA selects, D8.2.x "VA ranges" / TCR_EL1.{T0SZ,T1SZ,TBI*,
   * EPD*}: bits [top-1 : inputBits] must all equal VA[55]. Fills s1Sel and s1Ia (the input
   * address within the range) or returns the fault.
   */
  private selectRange(vaHi: number, vaLo: number, fetch: boolean): TranslationFault | null {
    const sel = (vaHi >>> 23) & 1;
    const range: Stage1Range = this.stage1.ranges[sel]!;
    const inputBits = range.geometry.inputBits;
    const top = range.tbi && !(fetch && range.tbid) ? 56 : 64;
    let hiMask: number;
    let loMask: number;
    if (inputBits >= 32) {
      hiMask = (top === 64 ? 0xffffffff : 0x00ffffff) & ~((1 << (inputBits - 32)) - 1);
      loMask = 0;
    } else {
      hiMask = top === 64 ? 0xffffffff : 0x00ffffff;
      loMask = ~((1 << inputBits) - 1);
    }
    hiMask >>>= 0;
    loMask >>>= 0;
    const hiOk = (vaHi & hiMask) >>> 0 === (sel ? hiMask : 0);
    const loOk = (vaLo & loMask) >>> 0 === (sel ? loMask : 0);
    if (!hiOk || !loOk) return this.fail(1, 'translation', 0, -1, `VA outside the TTBR0 and TTBR1 ranges`);
    if (range.disabled) return this.fail(1, 'translation', 0, -1, `TCR_EL1.EPD${sel} = 1: walks from TTBR${sel} disabled`);
    this.s1Sel = sel as 0 | 1;
    if (inputBits > 32) this.s1Ia = (vaHi & ((1 << (inputBits - 32)) - 1)) * TWO32 + vaLo;
    else if (inputBits === 32) this.s1Ia = vaLo;
    else this.s1Ia = (vaLo & ((1 << inputBits) - 1)) >>> 0;
    return null;
  }
  private s1Sel: 0 | 1 = 0;
  private s1Ia = 0;

  /**
   * The stage-1 walk from the selected TTBR, each descriptor address translated by stage 2 when
   * it is enabled (S1PTW), then the leaf's checks in D8.15's order: translation, address size,
   * access flag (not for DC/IC by VA), permission (D8.4.1).
   */
  private stage1Walk(vaHi: number, vaLo: number, access: Access, el: number, need: number): TranslationFault | null {
    const rangeFault = this.selectRange(vaHi, vaLo, access.kind === 'fetch');
    if (rangeFault !== null) return rangeFault;
    const s1 = this.stage1;
    const range: Stage1Range = s1.ranges[this.s1Sel]!;
    const g = range.geometry;
    const iaExact = this.s1Ia;
    const p = this.p1;
    p.geometry = g;
    p.mem = this.mem;
    p.root = range.tableBase;
    p.rootHi = range.baseHi;
    p.resolver = this.stage2.enabled ? this.resolver : null;
    const v = this.v1;
    v.reset(range.hpd, this.record);
    p.fromLevel = -1;
    const gen = this.s1Generation;
    const slot = this.s1c[Math.floor(iaExact / TWO21) & 3];
    if (gen >= 0 && slot.generation === gen && slot.stage1 === s1 && slot.sel === this.s1Sel && iaExact >= slot.base && iaExact < slot.end) {
      p.fromLevel = slot.level;
      p.fromName = slot.name;
      v.apTable = slot.apTable;
      v.xnTable = slot.xnTable;
      v.pxnTable = slot.pxnTable;
    }
    const st = this.w1.walkOne(p, iaExact, v);
    if (st === WALK_STOPPED && gen >= 0 && v.leafLevel > g.startLevel) {
      // The table that held this leaf, for the next walk of its region.
      const span = POW2[levelShift(g.granuleBits, v.leafLevel) + g.stride]!;
      const base = Math.floor(iaExact / span) * span;
      slot.generation = gen;
      slot.stage1 = s1;
      slot.sel = this.s1Sel;
      slot.base = base;
      slot.end = base + span;
      slot.name = this.w1.ctx.tableName;
      slot.level = v.leafLevel;
      slot.apTable = v.apTable;
      slot.xnTable = v.xnTable;
      slot.pxnTable = v.pxnTable;
    }
    if (st !== WALK_STOPPED) {
      if (st === WALK_RESOLVER_FAULT) return this.fault; // filled by resolveS1Descriptor
      if (st === WALK_ADDRESS_SIZE) return this.fail(1, 'addressSize', this.w1.faultLevel, -1, `stage-1 table address ${hexAddr(this.w1.faultAddr)} above ${g.oaBits} bits`);
      if (st === WALK_EXTERNAL_ABORT) return this.fail(1, 'externalAbort', this.w1.faultLevel, -1, `stage-1 descriptor at PA ${hexAddr(this.w1.faultAddr)} is not backed`);
      return this.fail(1, 'translation', this.w1.faultLevel, -1, 'stage-1 walk found no entry');
    }
    const lo = v.leafLo;
    const hi = v.leafHi;
    const level = v.leafLevel;
    if (v.leafKind === KIND_INVALID) return this.fail(1, 'translation', level, -1, `invalid stage-1 descriptor at level ${level}`);
    const s1SizeLog2 = levelShift(g.granuleBits, level);
    if (oaExceeds(hi, s1.oaBits)) return this.fail(1, 'addressSize', level, -1, `stage-1 output address above ${s1.oaBits} bits`);
    // Access flag before permission (D8.15 fault prioritization); DC/IC by VA do not take AF faults
    if ((lo & DESC_AF) === 0 && !this.curCm) return this.fail(1, 'accessFlag', level, -1, `stage-1 AF = 0 at level ${level}`);
    const pk = stage1Perms(lo, hi, v.apTable, v.xnTable, v.pxnTable, s1.wxn);
    const permsEl1 = pk & 7;
    const permsEl0 = pk >>> 3;
    const have = el === 0 ? permsEl0 : permsEl1;
    if ((have & need) === 0) {
      return this.fail(1, 'permission', level, -1, `stage-1 ${access.kind} not permitted at EL${el} (perms ${permString(have)})`);
    }
    this.oIpa = outputAddress(lo, hi, g.granuleBits, level) + (iaExact - v.leafIa);
    this.oS1Level = level;
    this.oS1SizeLog2 = s1SizeLog2;
    this.oPermsEl1 = permsEl1;
    this.oPermsEl0 = permsEl0;
    this.oAttr = s1.mair[(lo >>> 2) & 7]!;
    this.oSh = (lo >>> 8) & 3;
    this.oNG = (lo & (1 << 11)) !== 0;
    this.oTtbr = this.s1Sel;
    return null;
  }

  /** Stage 2 of the output address: the lookup, then access flag and permission (D8.4.3), intersected with stage 1's. */
  private stage2Output(access: Access, el: number, need: number): TranslationFault | null {
    const ipa = this.oIpa;
    if (!this.s2Lookup(ipa, false)) return this.fault;
    const lo = this.s2Lo;
    const hi = this.s2Hi;
    const pk = stage2Perms(lo, hi, this.stage2.xnx);
    const have2 = (el === 0 ? pk >>> 3 : pk) & 7;
    if (this.s2Cached && (have2 & need) === 0) {
      // Refused by the cached leaf: the walk decides (and reports the fault).
      this.s2c[1].generation = -1;
      return this.stage2Output(access, el, need);
    }
    if ((lo & DESC_AF) === 0 && !this.curCm) return this.fail(2, 'accessFlag', this.s2Level, ipa, `stage-2 AF = 0 at level ${this.s2Level}`);
    this.oPermsEl1 &= pk & 7;
    this.oPermsEl0 &= pk >>> 3;
    if ((have2 & need) === 0) {
      return this.fail(2, 'permission', this.s2Level, ipa, `stage-2 ${access.kind} not permitted at EL${el} (S2 perms ${permString(have2)})`);
    }
    this.oPa = this.s2Pa;
    this.oS2Level = this.s2Level;
    this.oS2SizeLog2 = this.s2SizeLog2;
    this.oMemAttr = (lo >>> 2) & 0xf;
    this.oS2sh = (lo >>> 8) & 3;
    return null;
  }

  /** The reused result object from the scratch fields; the combined attributes memoised (a pure function of five inputs). */
  private fillResult(va: number | bigint, el: number, record: WalkRecord[] | null): TranslationResult {
    const r = this.result;
    const s2 = this.stage2;
    const s1SizeLog2 = this.oS1SizeLog2;
    const s2SizeLog2 = this.oS2SizeLog2;
    r.va = va;
    r.ipa = this.oIpa;
    r.pa = this.oPa;
    r.permsEl1 = this.oPermsEl1;
    r.permsEl0 = this.oPermsEl0;
    r.perms = el === 0 ? this.oPermsEl0 : this.oPermsEl1;
    const sz = s1SizeLog2 < s2SizeLog2 ? s1SizeLog2 : s2SizeLog2;
    r.sizeLog2 = sz === 64 ? FLAT_SIZE_LOG2 : sz;
    r.s1Level = this.oS1Level;
    r.s1SizeLog2 = this.oS1Level < 0 ? 0 : s1SizeLog2;
    r.s2Level = this.oS2Level;
    r.s2SizeLog2 = this.oS2Level < 0 ? 0 : s2SizeLog2;
    r.asid = this.stage1.asid;
    r.vmid = s2.vmid;
    r.nG = this.oNG;
    r.global = !this.oNG;
    r.ttbr = this.oTtbr;
    const attr = this.oAttr;
    const sh = this.oSh;
    const memAttr = this.oMemAttr;
    const s2sh = this.oS2sh;
    if (attr !== this.attrS1 || sh !== this.attrSh || memAttr !== this.attrS2 || s2sh !== this.attrS2sh || s2.fwb !== this.attrFwb) {
      this.attrS1 = attr;
      this.attrSh = sh;
      this.attrS2 = memAttr;
      this.attrS2sh = s2sh;
      this.attrFwb = s2.fwb;
      this.attrLast = effectiveAttributes(attr, sh, memAttr, s2sh, s2.fwb);
    }
    r.attrs = this.attrLast;
    r.walk = record;
    return r;
  }

  /**
   * Stage-2 lookup of `ipa` (translation, address size and external-abort checks;
   * AF and permissions are the caller's). On success fills s2Pa/s2Lo/s2Hi/s2Level/s2SizeLog2.
   * On failure fills this.fault and returns false.
   */
  private s2Lookup(ipa: number, forS1: boolean): boolean {
    const s2 = this.stage2;
    const g = s2.geometry;
    if (s2.misconfigured !== null) return this.failB(2, 'translation', 0, ipa, forS1, s2.misconfigured);
    if (ipa >= POW2[g.inputBits]!) return this.failB(2, 'translation', 0, ipa, forS1, `IPA above the ${g.inputBits}-bit stage-2 input range`);
    const c = this.s2c[forS1 ? 0 : 1];
    if (ipa >= c.base && ipa < c.end && this.s2Generation === c.generation && this.s2Generation >= 0 && c.stage2 === s2) {
      this.s2Lo = c.lo;
      this.s2Hi = c.hi;
      this.s2Level = c.level;
      this.s2SizeLog2 = levelShift(g.granuleBits, c.level);
      this.s2Pa = c.paBase + (ipa - c.base);
      this.s2Cached = true;
      return true;
    }
    this.s2Cached = false;
    const p = this.p2;
    p.geometry = g;
    p.root = s2.tableBase;
    p.rootHi = s2.baseHi;
    p.mem = this.mem;
    let v: { leafLo: number; leafHi: number; leafLevel: number; leafIa: number; leafKind: number };
    let st: number;
    if (this.record === null) {
      // no recording: the visitor would only capture the leaf, which walkLeaf leaves in ctx
      st = this.w2.walkLeaf(p, ipa);
      this.leaf2.capture(this.w2.ctx);
      v = this.leaf2;
    } else {
      const v2 = this.v2;
      if (v2.record !== this.record || v2.forS1 !== forS1) v2.setRecord(this.record, forS1);
      st = this.w2.walkOne(p, ipa, v2);
      v = v2;
    }
    if (st !== WALK_STOPPED) {
      if (st === WALK_ADDRESS_SIZE) return this.failB(2, 'addressSize', this.w2.faultLevel, ipa, forS1, `stage-2 table address ${hexAddr(this.w2.faultAddr)} above ${g.oaBits} bits`);
      if (st === WALK_EXTERNAL_ABORT) return this.failB(2, 'externalAbort', this.w2.faultLevel, ipa, forS1, `stage-2 descriptor at PA ${hexAddr(this.w2.faultAddr)} is not backed`);
      return this.failB(2, 'translation', this.w2.faultLevel, ipa, forS1, 'stage-2 walk found no entry');
    }
    const level = v.leafLevel;
    if (v.leafKind === KIND_INVALID) return this.failB(2, 'translation', level, ipa, forS1, `invalid stage-2 descriptor at level ${level}`);
    if (oaExceeds(v.leafHi, g.oaBits)) return this.failB(2, 'addressSize', level, ipa, forS1, `stage-2 output address above ${g.oaBits} bits`);
    this.s2Lo = v.leafLo;
    this.s2Hi = v.leafHi;
    this.s2Level = level;
    this.s2SizeLog2 = levelShift(g.granuleBits, level);
    this.s2Pa = outputAddress(v.leafLo, v.leafHi, g.granuleBits, level) + (ipa - v.leafIa);
    if (this.s2Generation >= 0 && (v.leafLo & DESC_AF) !== 0) {
      const size = POW2[this.s2SizeLog2]!;
      const base = Math.floor(ipa / size) * size;
      c.generation = this.s2Generation;
      c.stage2 = s2;
      c.base = base;
      c.end = base + size;
      c.lo = v.leafLo;
      c.hi = v.leafHi;
      c.level = level;
      c.paBase = this.s2Pa - (ipa - base);
    }
    return true;
  }

  /** S1PTW: translate the IPA of a stage-1 descriptor through stage 2 (read access). */
  private resolveS1Descriptor(ipa: number): number {
    if (ipa >= this.ptwIa && ipa < this.ptwEnd) return this.ptwPa + (ipa - this.ptwIa);
    if (!this.s2Lookup(ipa, true)) return -1;
    let refusal = this.s1TableRefusal(this.s2Lo);
    if (refusal !== 0 && this.s2Cached) {
      // Refused by the cached leaf: the walk decides (and reports the fault).
      this.s2c[0].generation = -1;
      if (!this.s2Lookup(ipa, true)) return -1;
      refusal = this.s1TableRefusal(this.s2Lo);
    }
    if (refusal !== 0) {
      const [type, detail] = S1_TABLE_REFUSALS[refusal - 1]!;
      this.failB(2, type, this.s2Level, ipa, true, detail);
      return -1;
    }
    const size = POW2[this.s2SizeLog2]!;
    const base = Math.floor(ipa / size) * size;
    this.ptwIa = base;
    this.ptwEnd = base + size;
    this.ptwPa = this.s2Pa - (ipa - base);
    return this.s2Pa;
  }

  /**
   * Why a stage-1 walk may not read a table through stage-2 leaf `lo` (0: it may; 1-3: the fault in
   * S1_TABLE_REFUSALS): AF clear, S2AP without read, or HCR_EL2.PTW with the table in
   * stage-2 Device memory (MemAttr[3:2] = 0b00 without FWB; MemAttr[2] = 0 with FWB).
   */
  private s1TableRefusal(lo: number): number {
    if ((lo & DESC_AF) === 0) return 1;
    if (((lo >>> 6) & 1) === 0) return 2;
    const memAttr = (lo >>> 2) & 0xf;
    if (this.stage2.ptw && (this.stage2.fwb ? (memAttr & 4) === 0 : memAttr >> 2 === 0)) return 3;
    return 0;
  }

  private failB(stage: 1 | 2, type: FaultType, level: number, ipa: number, s1ptw: boolean, detail: string): false {
    this.fill(stage, type, level, ipa, detail);
    this.fault.s1ptw = s1ptw;
    if (s1ptw) {
      // a stage-2 fault on a stage-1 walk is a read of the table (no hardware AF/DBM updates)
      this.fault.write = false;
    }
    return false;
  }

  private fail(stage: 1 | 2, type: FaultType, level: number, ipa: number, detail: string): TranslationFault {
    this.fill(stage, type, level, ipa, detail);
    return this.fault;
  }

  private fill(stage: 1 | 2, type: FaultType, level: number, ipa: number, detail: string): void {
    const f = this.fault;
    f.stage = stage;
    f.type = type;
    f.level = level;
    f.s1ptw = false;
    f.ipa = ipa;
    f.va = this.curVa;
    f.write = this.curWrite;
    f.fetch = this.curFetch;
    f.cm = this.curCm;
    f.detail = detail;
    f.walk = this.record;
  }
}

export function permString(p: number): string {
  return ((p & PERM_R) !== 0 ? 'r' : '-') + ((p & PERM_W) !== 0 ? 'w' : '-') + ((p & PERM_X) !== 0 ? 'x' : '-');
}

export interface RegimeInit {
  stage1?: Stage1Config;
  stage2?: Stage2Config;
  mem: DescriptorMemory;
  paBits?: number;
}

/** Create a Regime; missing stages default to disabled. */
export function createRegime(init: RegimeInit): Regime {
  return new Regime(init.stage1 ?? stage1Off(), init.stage2 ?? stage2Disabled(), init.mem, init.paBits ?? DEFAULT_PA_BITS);
}

/** translate(regime, va, access): see Regime.translate. Returns the regime's reused result or fault object. */
export function translate(regime: Regime, va: number | bigint, access: Access, opts?: TranslateOptions): TranslateOutcome {
  return regime.translate(va, access, opts);
}
