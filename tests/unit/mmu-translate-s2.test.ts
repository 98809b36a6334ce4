/**
 * Two-stage translation against hand-built tables (stage 2, S1PTW), stage 1 or stage 2 disabled,
 * recorded walks and the stage-1 decoder (stage 1 alone: mmu-translate.test.ts).
 * Each test names the Arm ARM (DDI0487) rule it checks.
 */
import { describe, it, expect } from 'vitest';
import { TestRam, setLeaf, slotFor, tcr, vtcr, HCR_VM, HCR_DC, HCR_FWB, HCR_PTW, type TableWriter } from './mmu-helpers.js';
import { decodeStage1, decodeStage2, stage2Disabled, stage1Off } from '../../emulator/mmu/config.js';
import { makeS1Page, makeS1Block, makeS2Page, makeS2Block, makeTable, type GranuleBits } from '../../emulator/mmu/descriptors.js';
import { createRegime, translate, PERM_R, PERM_W, PERM_X, type TranslationResult } from '../../emulator/mmu/translate.js';
import { hpfarFor } from '../../emulator/mmu/faults.js';
import { MAIR, R, W, X, ok, bad, TG0, type S1Setup, s1Setup } from './mmu-translate-setup.js';
import { TlbModel } from '../../emulator/mmu/tlb.js';

// ------------------------------------------------------------------------------------------------
// Two stages
// ------------------------------------------------------------------------------------------------

interface S2Setup extends S1Setup {
  s2w: TableWriter;
  /** IPA -> PA offset used for guest RAM in stage 2 */
  off: number;
}

/**
 * Guest RAM is at IPA 0x4000_0000.. mapped by stage 2 to PA + `off` (RAM is 8 MiB at PA 0x4000_0000,
 * so IPA 0x4000_0000 + x -> PA 0x4000_0000 + x: identity by default, with 4K pages).
 * Stage-1 tables live in RAM allocated through the same allocator and are named by IPA.
 */
function s2Setup(o: { hcr?: bigint; vtcrv?: bigint; s2gb?: GranuleBits; sctlr?: bigint; mapRam?: boolean } = {}): S2Setup {
  const t = s1Setup({ sctlr: o.sctlr });
  const s2gb = o.s2gb ?? 12;
  const vt = o.vtcrv ?? vtcr({ t0sz: 24, sl0: 1, tg0: TG0[s2gb] }); // 40-bit IPA, start level 1, 2 concatenated tables
  const s2root = t.ram.alloc(2 * 2 ** s2gb, 2 * 2 ** s2gb);
  const s2 = decodeStage2({ vtcr: vt, vttbr: BigInt(s2root) | (5n << 48n), hcr: o.hcr ?? HCR_VM });
  const s2w: TableWriter = { ram: t.ram, g: s2.geometry, root: s2root };
  if (o.mapRam !== false) {
    // identity-map the first 2 MiB of RAM with pages (where tables live), S2AP RW, Normal WB
    for (let a = 0x4000_0000; a < 0x4020_0000; a += 2 ** s2gb) setLeaf(s2w, a, 3, makeS2Page(a, s2gb));
  }
  t.regime.stage2 = s2;
  return { ...t, s2w, off: 0 };
}

describe('two-stage translation (Arm ARM D8.2.5 stage 2; S1PTW)', () => {
  it('VA -> IPA -> PA with both leaf levels and sizes reported, VMID from VTTBR', () => {
    const t = s2Setup();
    setLeaf(t.w0, 0x1000, 3, makeS1Page(0x4000_5000, 12));
    setLeaf(t.s2w, 0x6000_0000, 2, makeS2Block(0x4060_0000, 12, 2));
    setLeaf(t.w0, 0x20_0000, 2, makeS1Block(0x6000_0000, 12, 2));
    const a = ok(translate(t.regime, 0x1008, R));
    expect([a.ipa, a.pa, a.s1Level, a.s2Level, a.sizeLog2, a.vmid]).toEqual([0x4000_5008, 0x4000_5008, 3, 3, 12, 5]);
    const b = ok(translate(t.regime, 0x23_4560, R));
    expect([b.ipa, b.pa, b.s1Level, b.s2Level, b.sizeLog2]).toEqual([0x6003_4560, 0x4063_4560, 2, 2, 21]);
  });

  it('a stage-2 fault on a stage-1 table access is reported with s1ptw and the table IPA (HPFAR)', () => {
    const t = s2Setup();
    // level-1 table named by an IPA that stage 2 does not map
    t.ram.set(t.w0.root, makeTable(0x7000_0000, 12));
    const f = bad(translate(t.regime, 0x1000, W));
    expect([f.stage, f.type, f.s1ptw, f.ipa, f.write]).toEqual([2, 'translation', true, 0x7000_0000, false]);
    expect(f.level).toBe(2); // the stage-2 level-2 table for IPA 0x7000_0000 does not exist
    expect(hpfarFor(f)).toBe(0x7_0000 * 16);
  });

  it('S1PTW: the stage-1 table page read-only at stage 2 is fine; no read permission is a stage-2 permission fault', () => {
    const t = s2Setup();
    setLeaf(t.w0, 0x1000, 3, makeS1Page(0x4000_5000, 12));
    const rootSlot = slotFor(t.s2w, t.w0.root, 3);
    t.ram.set(rootSlot, makeS2Page(t.w0.root, 12, { s2ap: 1 }));
    expect(translate(t.regime, 0x1000, R).ok).toBe(true);
    t.ram.set(rootSlot, makeS2Page(t.w0.root, 12, { s2ap: 2 }));
    expect(bad(translate(t.regime, 0x1000, R))).toMatchObject({ stage: 2, type: 'permission', level: 3, s1ptw: true, ipa: t.w0.root });
    t.ram.set(rootSlot, makeS2Page(t.w0.root, 12, { af: false }));
    expect(bad(translate(t.regime, 0x1000, R))).toMatchObject({ stage: 2, type: 'accessFlag', s1ptw: true });
  });

  it('HCR_EL2.PTW: a stage-1 table in stage-2 Device memory is a stage-2 permission fault', () => {
    const t = s2Setup({ hcr: HCR_VM | HCR_PTW });
    setLeaf(t.w0, 0x1000, 3, makeS1Page(0x4000_5000, 12));
    expect(translate(t.regime, 0x1000, R).ok).toBe(true);
    t.ram.set(slotFor(t.s2w, t.w0.root, 3), makeS2Page(t.w0.root, 12, { memAttr: 0x1 }));
    expect(bad(translate(t.regime, 0x1000, R))).toMatchObject({ stage: 2, type: 'permission', s1ptw: true });
  });

  it('stage-2 faults on the final IPA carry the IPA: translation, access flag, permission (S2AP, XN)', () => {
    const t = s2Setup();
    setLeaf(t.w0, 0x1000, 3, makeS1Page(0x5000_0000, 12));
    expect(bad(translate(t.regime, 0x1000, R))).toMatchObject({ stage: 2, type: 'translation', s1ptw: false, ipa: 0x5000_0000 });
    setLeaf(t.s2w, 0x5000_0000, 3, makeS2Page(0x4010_0000, 12, { af: false }));
    expect(bad(translate(t.regime, 0x1000, R))).toMatchObject({ stage: 2, type: 'accessFlag', level: 3 });
    setLeaf(t.s2w, 0x5000_0000, 3, makeS2Page(0x4010_0000, 12, { s2ap: 1, xn: 2 }));
    const a = ok(translate(t.regime, 0x1000, R));
    expect(a.perms).toBe(PERM_R);
    expect(bad(translate(t.regime, 0x1000, W))).toMatchObject({ stage: 2, type: 'permission', level: 3, write: true, ipa: 0x5000_0000 });
    expect(bad(translate(t.regime, 0x1000, X))).toMatchObject({ stage: 2, type: 'permission', fetch: true });
  });

  it('stage-2 XN[1:0] with FEAT_XNX: 01 = not executable at EL1, 11 = not executable at EL0 (D8.4.3)', () => {
    const t = s2Setup();
    setLeaf(t.w0, 0x1000, 3, makeS1Page(0x5000_0000, 12, { ap: 3 }));
    setLeaf(t.s2w, 0x5000_0000, 3, makeS2Page(0x4010_0000, 12, { xn: 1 }));
    let a = ok(translate(t.regime, 0x1000, R));
    expect([a.permsEl1 & PERM_X, a.permsEl0 & PERM_X]).toEqual([0, PERM_X]);
    setLeaf(t.s2w, 0x5000_0000, 3, makeS2Page(0x4010_0000, 12, { xn: 3 }));
    a = ok(translate(t.regime, 0x1000, R));
    expect([a.permsEl1 & PERM_X, a.permsEl0 & PERM_X]).toEqual([PERM_X, 0]);
    // without FEAT_XNX only XN[1] counts: 01 and 11 behave as 00 and 10
    t.regime.stage2 = { ...t.regime.stage2, xnx: false };
    a = ok(translate(t.regime, 0x1000, R));
    expect([a.permsEl1 & PERM_X, a.permsEl0 & PERM_X]).toEqual([0, 0]);
  });

  it('an IPA above the stage-2 input size is a stage-2 Translation fault at level 0', () => {
    const t = s2Setup();
    setLeaf(t.w0, 0x1000, 3, makeS1Page(0x100_0000_0000, 12)); // 2^40
    expect(bad(translate(t.regime, 0x1000, R))).toMatchObject({ stage: 2, type: 'translation', level: 0, ipa: 0x100_0000_0000 });
  });

  it('concatenated initial stage-2 tables: 40-bit IPA from level 1 uses two tables (D8.2.x concatenation)', () => {
    const t = s2Setup();
    expect(t.s2w.g).toMatchObject({ startLevel: 1, startBits: 10 });
    setLeaf(t.w0, 0x1000, 3, makeS1Page(0x80_4000_0000, 12)); // IPA 2^39 + 1 GiB: index 513 -> second table
    setLeaf(t.s2w, 0x80_4000_0000, 1, makeS2Block(0x4000_0000, 12, 1));
    const a = ok(translate(t.regime, 0x1000, R));
    expect([a.pa, a.s2Level]).toEqual([0x4000_0000, 1]);
    expect(slotFor(t.s2w, 0x80_4000_0000, 1)).toBe(t.s2w.root + 513 * 8);
  });

  it('16K stage 2 with 48-bit IPA from level 1 concatenates 2 tables; SL0 inconsistent with T0SZ faults at level 0', () => {
    const ok16 = decodeStage2({ vtcr: vtcr({ t0sz: 16, sl0: 2, tg0: 2 }), vttbr: 0n, hcr: HCR_VM });
    expect(ok16.misconfigured).toBeNull();
    expect(ok16.geometry).toMatchObject({ startLevel: 1, startBits: 12 });
    const badCfg = decodeStage2({ vtcr: vtcr({ t0sz: 24, sl0: 0 }), vttbr: 0n, hcr: HCR_VM }); // 40-bit from level 2: 19 bits > 9+4
    expect(badCfg.misconfigured).toMatch(/inconsistent/);
    const t = s2Setup();
    t.regime.stage2 = badCfg;
    expect(bad(translate(t.regime, 0x1000, R))).toMatchObject({ stage: 2, type: 'translation', level: 0 });
    const sl3 = decodeStage2({ vtcr: vtcr({ t0sz: 32, sl0: 3 }), vttbr: 0n, hcr: HCR_VM });
    expect(sl3.misconfigured).toMatch(/reserved/);
  });

  it('64K stage 2: 42-bit IPA from level 2 with a 64K page', () => {
    const t = s2Setup({ s2gb: 16, vtcrv: vtcr({ t0sz: 22, sl0: 1, tg0: 1 }), mapRam: false });
    expect(t.s2w.g).toMatchObject({ startLevel: 2, startBits: 13 });
    for (let a = 0x4000_0000; a < 0x4020_0000; a += 0x1_0000) setLeaf(t.s2w, a, 3, makeS2Page(a, 16));
    setLeaf(t.w0, 0x1000, 3, makeS1Page(0x4010_2000, 12));
    const a = ok(translate(t.regime, 0x1004, R));
    expect([a.pa, a.s2Level, a.s2SizeLog2, a.sizeLog2]).toEqual([0x4010_2004, 3, 16, 12]);
  });
});

describe('stage 1 disabled (Arm ARM D8.2.11 [J.a D5.2.9] "The effects of disabling a stage of translation")', () => {
  it('MMU off, no stage 2: VA = PA; data Device-nGnRnE, fetches Normal (WT with SCTLR.I=1, NC otherwise)', () => {
    const ram = new TestRam();
    const r = createRegime({ stage1: stage1Off(false), mem: ram.mem });
    const a = ok(translate(r, 0x4000_1234, R));
    expect([a.pa, a.perms, a.s1Level, a.s2Level]).toEqual([0x4000_1234, PERM_R | PERM_W | PERM_X, -1, -1]);
    expect(a.attrs.name).toBe('Device-nGnRnE');
    expect(ok(translate(r, 0x4000_1234, X)).attrs.name).toBe('Normal-NC');
    const s1 = decodeStage1({ sctlr: 1n << 12n, tcr: 0n, ttbr0: 0n, ttbr1: 0n, mair: 0n });
    expect(ok(translate(createRegime({ stage1: s1, mem: ram.mem }), 0x4000_1234, X)).attrs.name).toBe('Normal-WT');
  });

  it('MMU off: a VA above the PA size is a stage-1 Address size fault at level 0', () => {
    const ram = new TestRam();
    const r = createRegime({ stage1: stage1Off(), mem: ram.mem });
    expect(bad(translate(r, 0x1_0000_0000_0000, R))).toMatchObject({ stage: 1, type: 'addressSize', level: 0 });
  });

  it('MMU off with stage 2: stage 2 still applies; data Device-nGnRnE combined with stage-2 Normal WB stays Device', () => {
    const t = s2Setup({ sctlr: 0n });
    const a = ok(translate(t.regime, 0x4000_3010, R));
    expect([a.ipa, a.pa, a.s1Level, a.s2Level]).toEqual([0x4000_3010, 0x4000_3010, -1, 3]);
    expect(a.attrs.name).toBe('Device-nGnRnE');
    expect(bad(translate(t.regime, 0x5000_0000, R))).toMatchObject({ stage: 2, type: 'translation', ipa: 0x5000_0000 });
  });

  it('HCR_EL2.DC = 1: Normal WB Non-shareable default, and stage 1 treated as off even with SCTLR_EL1.M = 1 (seed 002)', () => {
    const t = s2Setup({ hcr: HCR_DC, sctlr: 1n });
    const a = ok(translate(t.regime, 0x4000_3010, R));
    expect([a.pa, a.s1Level]).toEqual([0x4000_3010, -1]);
    expect(a.attrs.name).toBe('Normal-WB');
    expect(a.attrs.shareability).toBe('ISH'); // stage 1 NSH combined with stage-2 SH = Inner
    expect(ok(translate(t.regime, 0x4000_3010, X)).attrs.name).toBe('Normal-WB');
  });

  it('FWB: stage-2 MemAttr 0b110 forces Normal-WB over stage-1 Device (MMU off), 0b001 forces Device-nGnRE (seed 001)', () => {
    const t = s2Setup({ hcr: HCR_VM | HCR_FWB, sctlr: 0n });
    setLeaf(t.s2w, 0x4000_3000, 3, makeS2Page(0x4000_3000, 12, { memAttr: 6 }));
    expect(ok(translate(t.regime, 0x4000_3000, R)).attrs.name).toBe('Normal-WB');
    setLeaf(t.s2w, 0x4000_3000, 3, makeS2Page(0x4000_3000, 12, { memAttr: 1 }));
    expect(ok(translate(t.regime, 0x4000_3000, X)).attrs.name).toBe('Device-nGnRE');
  });
});

describe('recorded walks (debugger)', () => {
  it('records every level of both stages, S1PTW steps marked, descriptor values as hex', () => {
    const t = s2Setup();
    setLeaf(t.w0, 0x1000, 3, makeS1Page(0x4000_5000, 12));
    const a = ok(translate(t.regime, 0x1000, R, { record: true }));
    const walk = a.walk!;
    expect(walk.filter((s) => s.stage === 1).map((s) => s.level)).toEqual([0, 1, 2, 3]);
    expect(walk.some((s) => s.stage === 2 && s.forS1Walk)).toBe(true);
    const last = walk[walk.length - 1]!;
    expect([last.stage, last.forS1Walk, last.level]).toEqual([2, false, 3]);
    expect(walk.find((s) => s.stage === 1 && s.level === 3)!.descriptor).toMatch(/^0x[0-9a-f]{16}$/);
    expect(walk.find((s) => s.stage === 1 && s.level === 3)!.decision).toMatch(/^page -> 0x40005000/);
    const f = bad(translate(t.regime, 0x9000_0000, R, { record: true }));
    expect(f.walk!.length).toBeGreaterThan(0);
    expect(translate(t.regime, 0x1000, R).ok && (translate(t.regime, 0x1000, R) as TranslationResult).walk).toBeNull();
  });
});

// The Regime's stage-2 leaf cache: a stage-2 TLB for the walks the model TLB makes (Arm ARM D8.13
// [K.a D8.16]: a valid translation may be held until invalidated; TLBI IPAS2E1 / VMALLS12E1 / ALLE1
// invalidate stage-2 entries, TLBI by VA or ASID names stage-1 ones only).
describe('stage-2 leaf cache across the model TLB\'s walks', () => {
  const setup = () => {
    const t = s2Setup();
    for (let i = 0; i < 8; i++) setLeaf(t.w0, 0x1000 * (i + 1), 3, makeS1Page(0x6000_0000 + 0x1000 * i, 12));
    setLeaf(t.s2w, 0x6000_0000, 2, makeS2Block(0x4060_0000, 12, 2, { s2ap: 1 }));
    return { t, tlb: new TlbModel() };
  };
  const pa = (o: ReturnType<TlbModel['translate']>) => ok(o).pa;

  it('is used until an invalidation that can reach stage 2 (IPA, VMID, ALL), not after; never by translate() or by TLBI by VA', () => {
    const { t, tlb } = setup();
    expect(pa(tlb.translate(t.regime, 0x1000, R))).toBe(0x4060_0000);
    // The stage-2 block moves without a TLBI: a walk through the model TLB may still use the old leaf.
    setLeaf(t.s2w, 0x6000_0000, 2, makeS2Block(0x4080_0000, 12, 2, { s2ap: 1 }));
    expect(pa(tlb.translate(t.regime, 0x2000, R))).toBe(0x4060_1000);
    expect(ok(translate(t.regime, 0x2000, R)).pa).toBe(0x4080_1000); // a walk of its own: no cache
    tlb.tlbi('VAE1', 0x3n, 5);
    expect(pa(tlb.translate(t.regime, 0x3000, R))).toBe(0x4060_2000);
    tlb.tlbi('IPAS2E1', BigInt(0x6000_0000 / 4096), 5);
    expect(pa(tlb.translate(t.regime, 0x4000, R))).toBe(0x4080_3000);
    setLeaf(t.s2w, 0x6000_0000, 2, makeS2Block(0x40a0_0000, 12, 2, { s2ap: 1 }));
    tlb.tlbi('VMALLS12E1', 0n, 5);
    expect(pa(tlb.translate(t.regime, 0x5000, R))).toBe(0x40a0_4000);
    setLeaf(t.s2w, 0x6000_0000, 2, makeS2Block(0x40c0_0000, 12, 2, { s2ap: 1 }));
    tlb.invalidateAll();
    expect(pa(tlb.translate(t.regime, 0x6000, R))).toBe(0x40c0_5000);
  });

  it('an access the cached leaf refuses is looked up again by a walk (permissions relaxed without a TLBI), and its faults are the walk\'s', () => {
    const { t, tlb } = setup();
    expect(pa(tlb.translate(t.regime, 0x1000, R))).toBe(0x4060_0000);
    // The cached leaf (read-only) refuses a write: the walk finds AF = 0, which it reports (a
    // permission fault from the cached leaf would be the wrong one).
    setLeaf(t.s2w, 0x6000_0000, 2, makeS2Block(0x4060_0000, 12, 2, { s2ap: 3, af: false }));
    const f = bad(tlb.translate(t.regime, 0x2000, W));
    expect([f.stage, f.type, f.level]).toEqual([2, 'accessFlag', 2]);
    setLeaf(t.s2w, 0x6000_0000, 2, makeS2Block(0x4060_0000, 12, 2, { s2ap: 3 }));
    expect(pa(tlb.translate(t.regime, 0x3000, W))).toBe(0x4060_2000);
  });
});

// The Regime's stage-1 walk cache: the table that held a recent leaf, where the next walk of its
// region starts (Arm ARM D8.13 [K.a D8.16]: entries of any level may be cached; a TLBI that is
// not last-level invalidates those above the last level, VALE1/VAALE1 need not).
describe('stage-1 walk cache across the model TLB\'s walks', () => {
  it('starts at the last leaf\'s table until a TLBI that is not last-level; never for translate()', () => {
    const t = s2Setup();
    for (let i = 1; i < 8; i++) setLeaf(t.w0, 0x1000 * i, 3, makeS1Page(0x4010_0000 + 0x1000 * i, 12));
    const l3 = slotFor(t.w0, 0x1000, 3) - (slotFor(t.w0, 0x1000, 3) % 4096);
    const tlb = new TlbModel();
    expect(ok(tlb.translate(t.regime, 0x1000, R)).pa).toBe(0x4010_1000);
    // The level-2 entry becomes a 2 MiB block without a TLBI: the cached level-3 table may still be used.
    setLeaf(t.w0, 0, 2, makeS1Block(0x4000_0000, 12, 2));
    expect(ok(tlb.translate(t.regime, 0x2000, R)).pa).toBe(0x4010_2000);
    expect(ok(translate(t.regime, 0x2000, R)).pa).toBe(0x4000_2000); // a walk of its own: from the root
    tlb.tlbi('VAALE1', 0x3n, 5);
    expect(ok(tlb.translate(t.regime, 0x4000, R)).pa).toBe(0x4010_4000);
    tlb.tlbi('VAAE1', 0x3n, 5);
    const b = ok(tlb.translate(t.regime, 0x5000, R));
    expect([b.pa, b.s1Level]).toEqual([0x4000_5000, 2]);
    // Back to the table: ASIDE1 (not last-level) drops the cached level-2 table's view too.
    setLeaf(t.w0, 0, 2, makeTable(l3, 12));
    tlb.tlbi('ASIDE1', 0n, 5);
    expect(ok(tlb.translate(t.regime, 0x6000, R)).pa).toBe(0x4010_6000);
  });
});

describe('stage 2 disabled', () => {
  it('stage2Disabled() passes IPA through', () => {
    const t = s1Setup();
    t.regime.stage2 = stage2Disabled();
    setLeaf(t.w0, 0x1000, 3, makeS1Page(0x4000_5000, 12));
    expect(ok(translate(t.regime, 0x1000, R)).pa).toBe(0x4000_5000);
  });
});

describe('Stage1Decoder', () => {
  it('re-decodes only when a register changed', async () => {
    const { Stage1Decoder } = await import('../../emulator/mmu/config.js');
    const d = new Stage1Decoder();
    const regs = { sctlr: 1n, tcr: tcr({}), ttbr0: 0x4000_0000n, ttbr1: 0n, mair: MAIR };
    const a = d.decode(regs);
    expect(d.decode({ ...regs })).toBe(a);
    const b = d.decode({ ...regs, ttbr0: 0x4000_0000n | (3n << 48n) });
    expect(b).not.toBe(a);
    expect(b.asid).toBe(3);
  });
});
