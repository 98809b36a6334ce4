/**
 * Stage-1 and two-stage translation against hand-built tables.
 * Each test names the Arm ARM (DDI0487) rule it checks.
 */
import { describe, it, expect } from 'vitest';
import { TestRam, setLeaf, slotFor, tcr, vtcr, HCR_VM, HCR_DC, HCR_FWB, HCR_PTW, type TableWriter } from './mmu-helpers.js';
import { decodeStage1, decodeStage2, stage2Disabled, stage1Off, type Stage1Config } from '../../emulator/mmu/config.js';
import { makeS1Page, makeS1Block, makeS2Page, makeS2Block, makeTable, type GranuleBits } from '../../emulator/mmu/descriptors.js';
import { Regime, createRegime, translate, PERM_R, PERM_W, PERM_X, type TranslateOutcome, type TranslationResult } from '../../emulator/mmu/translate.js';
import type { TranslationFault } from '../../emulator/mmu/faults.js';
import { fsc, hpfarFor } from '../../emulator/mmu/faults.js';

const MAIR = 0xbb_44_04_00_ffn; // Attr0 Normal WB, Attr1 Device-nGnRnE, Attr2 Device-nGnRE, Attr3 Normal NC, Attr4 Normal WT
const R = { kind: 'read', el: 1 } as const;
const W = { kind: 'write', el: 1 } as const;
const X = { kind: 'fetch', el: 1 } as const;
const R0 = { kind: 'read', el: 0 } as const;
const W0 = { kind: 'write', el: 0 } as const;
const X0 = { kind: 'fetch', el: 0 } as const;

function ok(o: TranslateOutcome): TranslationResult {
  if (!o.ok) throw new Error(`unexpected fault: stage ${o.stage} ${o.type} level ${o.level} ${o.detail}`);
  return { ...o };
}
function bad(o: TranslateOutcome): TranslationFault {
  if (o.ok) throw new Error(`expected a fault, got PA 0x${o.pa.toString(16)}`);
  return { ...o };
}

const TG0 = { 12: 0, 14: 2, 16: 1 } as const; // TCR.TG0 encodings
const TG1 = { 12: 2, 14: 1, 16: 3 } as const; // TCR.TG1 encodings

interface S1Setup {
  ram: TestRam;
  w0: TableWriter;
  w1: TableWriter;
  s1: Stage1Config;
  regime: Regime;
  gb: GranuleBits;
}

function s1Setup(o: { gb?: GranuleBits; t0sz?: number; t1sz?: number; ips?: number; sctlr?: bigint; asid?: number; extraTcr?: Parameters<typeof tcr>[0] } = {}): S1Setup {
  const gb = o.gb ?? 12;
  const ram = new TestRam();
  const root0 = ram.alloc(2 ** gb);
  const root1 = ram.alloc(2 ** gb);
  const s1 = decodeStage1({
    sctlr: o.sctlr ?? 1n,
    tcr: tcr({ t0sz: o.t0sz ?? 16, t1sz: o.t1sz ?? 16, tg0: TG0[gb], tg1: TG1[gb], ips: o.ips ?? 5, as: true, ...o.extraTcr }),
    ttbr0: BigInt(root0) | (BigInt(o.asid ?? 0) << 48n),
    ttbr1: BigInt(root1),
    mair: MAIR,
  });
  const regime = createRegime({ stage1: s1, mem: ram.mem });
  return { ram, s1, regime, gb, w0: { ram, g: s1.ranges[0].geometry, root: root0 }, w1: { ram, g: s1.ranges[1].geometry, root: root1 } };
}

describe('stage 1 geometry: start levels (Arm ARM D8.2.7 "Translation table walk: initial lookup level")', () => {
  it.each([
    [12, 16, 0, 9],
    [12, 25, 1, 9],
    [12, 34, 2, 9],
    [14, 16, 0, 1],
    [14, 17, 1, 11],
    [16, 16, 1, 6],
    [16, 22, 2, 13],
    [16, 39, 3, 9],
  ] as const)('granule 2^%i, T0SZ=%i: start level %i with %i index bits', (gb, t0sz, level, bits) => {
    const { s1 } = s1Setup({ gb, t0sz });
    expect(s1.ranges[0].geometry.startLevel).toBe(level);
    expect(s1.ranges[0].geometry.startBits).toBe(bits);
  });
});

describe('stage 1 leaves for each granule (Arm ARM D8.3.1 block and page descriptors)', () => {
  it('4K: page at level 3, 2M block at level 2, 1G block at level 1', () => {
    const t = s1Setup({ gb: 12 });
    const page = t.ram.alloc(4096);
    setLeaf(t.w0, 0x1234_5000, 3, makeS1Page(page, 12, { ap: 0 }));
    setLeaf(t.w0, 0x2_0020_0000, 2, makeS1Block(0x4060_0000, 12, 2));
    setLeaf(t.w0, 0x80_4000_0000, 1, makeS1Block(0x4000_0000, 12, 1));
    const a = ok(translate(t.regime, 0x1234_5abc, R));
    expect(a.pa).toBe(page + 0xabc);
    expect([a.s1Level, a.s1SizeLog2, a.sizeLog2]).toEqual([3, 12, 12]);
    const b = ok(translate(t.regime, 0x2_0033_4567, R));
    expect(b.pa).toBe(0x4060_0000 + 0x13_4567);
    expect([b.s1Level, b.sizeLog2]).toEqual([2, 21]);
    const c = ok(translate(t.regime, 0x80_7fff_fff8, R));
    expect(c.pa).toBe(0x7fff_fff8);
    expect([c.s1Level, c.sizeLog2]).toEqual([1, 30]);
  });

  it('16K: page at level 3, 32M block at level 2', () => {
    const t = s1Setup({ gb: 14 });
    const page = t.ram.alloc(16384);
    setLeaf(t.w0, 0x7fff_c000, 3, makeS1Page(page, 14));
    setLeaf(t.w0, 0x1_0200_0000, 2, makeS1Block(0x4200_0000, 14, 2));
    const a = ok(translate(t.regime, 0x7fff_fffc, R));
    expect(a.pa).toBe(page + 0x3ffc);
    expect([a.s1Level, a.sizeLog2]).toEqual([3, 14]);
    const b = ok(translate(t.regime, 0x1_03ff_fff0, W));
    expect(b.pa).toBe(0x43ff_fff0);
    expect([b.s1Level, b.sizeLog2]).toEqual([2, 25]);
  });

  it('64K: page at level 3, 512M block at level 2', () => {
    const t = s1Setup({ gb: 16 });
    const page = t.ram.alloc(65536);
    setLeaf(t.w0, 0x5555_0000, 3, makeS1Page(page, 16));
    setLeaf(t.w0, 0x3_e000_0000, 2, makeS1Block(0x6000_0000, 16, 2));
    const a = ok(translate(t.regime, 0x5555_fff0, R));
    expect(a.pa).toBe(page + 0xfff0);
    expect([a.s1Level, a.sizeLog2]).toEqual([3, 16]);
    const b = ok(translate(t.regime, 0x3_e123_4560, R));
    expect(b.pa).toBe(0x6123_4560);
    expect([b.s1Level, b.sizeLog2]).toEqual([2, 29]);
  });

  it('a block descriptor where blocks are not allowed is a Translation fault (4K level 0, 64K level 1) (D8.3.1)', () => {
    const t = s1Setup({ gb: 12 });
    t.ram.set(t.w0.root + 1 * 8, 0x80_0000_0000n | 0x401n); // "block" at level 0
    const f = bad(translate(t.regime, 0x80_0000_0000, R));
    expect([f.stage, f.type, f.level]).toEqual([1, 'translation', 0]);
    const u = s1Setup({ gb: 16 });
    u.ram.set(u.w0.root, 0x401n); // block at level 1 (64K)
    expect(bad(translate(u.regime, 0x1000, R)).level).toBe(1);
  });

  it('bits[1:0] = 0b01 at level 3 is reserved and faults as Translation level 3 (D8.3.1)', () => {
    const t = s1Setup();
    const slot = slotFor(t.w0, 0x5000, 3);
    t.ram.set(slot, 0x4000_0000n | 0x401n);
    expect(bad(translate(t.regime, 0x5000, R))).toMatchObject({ type: 'translation', level: 3 });
  });
});

describe('stage 1 faults at each level (Arm ARM D8.15 [J.a D5.10] MMU faults; ESR DFSC encodings D17.2.40)', () => {
  it.each([0, 1, 2, 3])('Translation fault at level %i', (level) => {
    const t = s1Setup();
    const va = 0x12_3456_7000;
    if (level > 0) slotFor(t.w0, va, level); // creates tables down to `level`, leaves the entry invalid
    const f = bad(translate(t.regime, va, R));
    expect([f.stage, f.type, f.level, f.write, f.fetch]).toEqual([1, 'translation', level, false, false]);
    expect(fsc(f)).toBe(0b000100 | level);
  });

  it.each([1, 2, 3])('Access flag fault at level %i (AF=0 leaf, no FEAT_HAFDBS)', (level) => {
    const t = s1Setup();
    const va = 0x8000_0000;
    const d = level === 3 ? makeS1Page(0x4000_0000, 12, { af: false }) : makeS1Block(0x4000_0000, 12, level as 1 | 2, { af: false });
    setLeaf(t.w0, va, level, d);
    const f = bad(translate(t.regime, va, W));
    expect([f.type, f.level, f.write]).toEqual(['accessFlag', level, true]);
    expect(fsc(f)).toBe(0b001000 | level);
    // cache maintenance by VA does not take Access flag faults
    expect(translate(t.regime, va, { kind: 'read', el: 1, cacheMaintenance: true }).ok).toBe(true);
  });

  it.each([1, 2, 3])('Permission fault at level %i (write to AP[2:1]=0b10)', (level) => {
    const t = s1Setup();
    const va = 0x4000_0000;
    const d = level === 3 ? makeS1Page(0x4000_0000, 12, { ap: 2 }) : makeS1Block(0x4000_0000, 12, level as 1 | 2, { ap: 2 });
    setLeaf(t.w0, va, level, d);
    expect(ok(translate(t.regime, va, R)).perms).toBe(PERM_R | PERM_X);
    const f = bad(translate(t.regime, va, W));
    expect([f.type, f.level]).toEqual(['permission', level]);
    expect(fsc(f)).toBe(0b001100 | level);
  });

  it('Address size fault: TTBR base above IPS is level 0; table and output addresses above IPS fault at their level (D8.15 address size)', () => {
    // IPS = 0b000: 32-bit
    const t = s1Setup({ ips: 0 });
    const s1 = decodeStage1({ sctlr: 1n, tcr: tcr({ ips: 0 }), ttbr0: 0x1_0000_0000n, ttbr1: 0n, mair: MAIR });
    const r = createRegime({ stage1: s1, mem: t.ram.mem });
    expect(bad(translate(r, 0x1000, R))).toMatchObject({ type: 'addressSize', level: 0 });
    expect(fsc(bad(translate(r, 0x1000, R)))).toBe(0b000000);
    // level-1 table descriptor pointing above 4 GiB
    t.ram.set(t.w0.root, makeTable(0x1_0000_0000, 12));
    expect(bad(translate(t.regime, 0x1000, R))).toMatchObject({ type: 'addressSize', level: 0 });
    // level-2 block whose OA is above 4 GiB
    t.ram.set(t.w0.root, 0n);
    setLeaf(t.w0, 0x20_0000, 2, makeS1Block(0x2_0000_0000, 12, 2));
    expect(bad(translate(t.regime, 0x20_0000, R))).toMatchObject({ type: 'addressSize', level: 2 });
  });

  it('Synchronous External abort on walk when a table lies in unbacked memory (FSC 0b0101LL)', () => {
    const t = s1Setup();
    t.ram.set(t.w0.root, makeTable(0x1000_0000, 12)); // level-1 table outside RAM
    const f = bad(translate(t.regime, 0x1000, R));
    expect([f.type, f.level]).toEqual(['externalAbort', 1]);
    expect(fsc(f)).toBe(0b010101);
  });
});

describe('VA ranges, TTBR1, TBI, EPD (Arm ARM D8.2.x "VA ranges", TCR_EL1)', () => {
  it('TTBR1 addresses walk the TTBR1 tables, with T1SZ=16 and T1SZ=25', () => {
    const t = s1Setup({ t1sz: 16 });
    setLeaf(t.w1, 0x0000_0000_1000, 3, makeS1Page(0x4000_1000, 12));
    const a = ok(translate(t.regime, 0xffff_0000_0000_1010n, R));
    expect(a.pa).toBe(0x4000_1010);
    expect(a.ttbr).toBe(1);
    const u = s1Setup({ t1sz: 25 }); // 39-bit: start level 1
    setLeaf(u.w1, 0x7f_ffff_f000, 3, makeS1Page(0x4000_2000, 12));
    expect(ok(translate(u.regime, 0xffff_ffff_ffff_f008n, R)).pa).toBe(0x4000_2008);
  });

  it('a VA in neither range is a Translation fault at level 0', () => {
    const t = s1Setup({ t0sz: 16, t1sz: 16 });
    for (const va of [0x0001_0000_0000_0000n, 0xfffe_ffff_ffff_f000n, 0x8000_0000_0000_0000n]) {
      expect(bad(translate(t.regime, va, R))).toMatchObject({ stage: 1, type: 'translation', level: 0 });
    }
    const u = s1Setup({ t0sz: 25 }); // 39-bit TTBR0
    expect(bad(translate(u.regime, 0x80_0000_0000, R))).toMatchObject({ type: 'translation', level: 0 });
  });

  it('TBI0 ignores the top byte for data; TBID0 keeps it for fetches', () => {
    const t = s1Setup({ extraTcr: { tbi0: true } });
    setLeaf(t.w0, 0x1000, 3, makeS1Page(0x4000_1000, 12));
    expect(ok(translate(t.regime, 0x5a00_0000_0000_1004n, R)).pa).toBe(0x4000_1004);
    expect(ok(translate(t.regime, 0x5a00_0000_0000_1004n, X)).pa).toBe(0x4000_1004);
    const s1 = decodeStage1({ sctlr: 1n, tcr: tcr({ tbi0: true }) | (1n << 51n), ttbr0: BigInt(t.w0.root), ttbr1: 0n, mair: MAIR });
    const r = createRegime({ stage1: s1, mem: t.ram.mem });
    expect(ok(translate(r, 0x5a00_0000_0000_1004n, R)).pa).toBe(0x4000_1004);
    expect(bad(translate(r, 0x5a00_0000_0000_1004n, X))).toMatchObject({ type: 'translation', level: 0 });
  });

  it('EPD1 = 1: a TTBR1 address takes a Translation fault at level 0', () => {
    const t = s1Setup({ extraTcr: { epd1: true } });
    expect(bad(translate(t.regime, 0xffff_0000_0000_0000n, R))).toMatchObject({ type: 'translation', level: 0 });
  });
});

describe('stage 1 permissions (Arm ARM D8.4.1 [K.a D8.4.1.2] AP, UXN/PXN, WXN, hierarchical controls)', () => {
  function leafPerms(fields: Parameters<typeof makeS1Page>[2], sctlr = 1n): { el1: number; el0: number } {
    const t = s1Setup({ sctlr });
    setLeaf(t.w0, 0x1000, 3, makeS1Page(0x4000_1000, 12, fields));
    const o = ok(translate(t.regime, 0x1000, R));
    return { el1: o.permsEl1, el0: o.permsEl0 };
  }
  it('AP[2:1] table: 00 EL1 RW, 01 EL1+EL0 RW, 10 EL1 RO, 11 EL1+EL0 RO', () => {
    expect(leafPerms({ ap: 0 })).toEqual({ el1: PERM_R | PERM_W | PERM_X, el0: PERM_X });
    // 01: writable at EL0 -> implicitly PXN at EL1
    expect(leafPerms({ ap: 1 })).toEqual({ el1: PERM_R | PERM_W, el0: PERM_R | PERM_W | PERM_X });
    expect(leafPerms({ ap: 2 })).toEqual({ el1: PERM_R | PERM_X, el0: PERM_X });
    expect(leafPerms({ ap: 3 })).toEqual({ el1: PERM_R | PERM_X, el0: PERM_R | PERM_X });
  });
  it('UXN and PXN', () => {
    expect(leafPerms({ ap: 3, uxn: true })).toEqual({ el1: PERM_R | PERM_X, el0: PERM_R });
    expect(leafPerms({ ap: 3, pxn: true })).toEqual({ el1: PERM_R, el0: PERM_R | PERM_X });
  });
  it('SCTLR_EL1.WXN: writable regions are execute-never', () => {
    const wxn = 1n | (1n << 19n);
    expect(leafPerms({ ap: 0 }, wxn)).toEqual({ el1: PERM_R | PERM_W, el0: PERM_X }); // EL0 cannot write it: UXN alone decides
    expect(leafPerms({ ap: 1 }, wxn)).toEqual({ el1: PERM_R | PERM_W, el0: PERM_R | PERM_W });
    expect(leafPerms({ ap: 3 }, wxn)).toEqual({ el1: PERM_R | PERM_X, el0: PERM_R | PERM_X });
  });
  it('EL0 accesses and faults: read of an EL1-only page, fetch of a UXN page', () => {
    const t = s1Setup();
    setLeaf(t.w0, 0x1000, 3, makeS1Page(0x4000_1000, 12, { ap: 0 }));
    setLeaf(t.w0, 0x2000, 3, makeS1Page(0x4000_2000, 12, { ap: 3, uxn: true }));
    expect(bad(translate(t.regime, 0x1000, R0))).toMatchObject({ type: 'permission', level: 3 });
    expect(bad(translate(t.regime, 0x2000, X0))).toMatchObject({ type: 'permission', level: 3, fetch: true });
    expect(ok(translate(t.regime, 0x2000, R0)).perms).toBe(PERM_R);
    expect(bad(translate(t.regime, 0x2000, W0))).toMatchObject({ type: 'permission' });
  });
  it('LDTR/STTR at EL1 (unprivileged) are checked with EL0 permissions', () => {
    const t = s1Setup();
    setLeaf(t.w0, 0x1000, 3, makeS1Page(0x4000_1000, 12, { ap: 0 }));
    expect(translate(t.regime, 0x1000, R).ok).toBe(true);
    expect(bad(translate(t.regime, 0x1000, { kind: 'read', el: 1, unprivileged: true }))).toMatchObject({ type: 'permission' });
  });
  it('APTable[0] removes EL0 access, APTable[1] removes write access below the table (hierarchical)', () => {
    const t = s1Setup();
    t.w0.tableBits = (l) => (l === 1 ? 1n << 61n : 0n); // APTable = 0b01 on the level-1 table descriptor
    setLeaf(t.w0, 0x1000, 3, makeS1Page(0x4000_1000, 12, { ap: 1 }));
    const a = ok(translate(t.regime, 0x1000, R));
    expect(a.permsEl0 & (PERM_R | PERM_W)).toBe(0);
    expect(a.permsEl1).toBe(PERM_R | PERM_W | PERM_X); // EL0 no longer writable, so no implicit PXN
    const u = s1Setup();
    u.w0.tableBits = (l) => (l === 2 ? 2n << 61n : 0n); // APTable = 0b10 on the level-2 table descriptor
    setLeaf(u.w0, 0x1000, 3, makeS1Page(0x4000_1000, 12, { ap: 1 }));
    const b = ok(translate(u.regime, 0x1000, R));
    expect(b.permsEl1 & PERM_W).toBe(0);
    expect(b.permsEl0 & PERM_W).toBe(0);
    expect(bad(translate(u.regime, 0x1000, W))).toMatchObject({ type: 'permission', level: 3 });
  });
  it('UXNTable / PXNTable, and TCR_EL1.HPD0 disables the hierarchical controls', () => {
    const t = s1Setup();
    t.w0.tableBits = (l) => (l === 0 ? (1n << 60n) | (1n << 59n) : 0n);
    setLeaf(t.w0, 0x1000, 3, makeS1Page(0x4000_1000, 12, { ap: 3 }));
    const a = ok(translate(t.regime, 0x1000, R));
    expect([a.permsEl1, a.permsEl0]).toEqual([PERM_R, PERM_R]);
    const s1 = decodeStage1({ sctlr: 1n, tcr: tcr({ hpd0: true }), ttbr0: BigInt(t.w0.root), ttbr1: 0n, mair: MAIR });
    const b = ok(translate(createRegime({ stage1: s1, mem: t.ram.mem }), 0x1000, R));
    expect([b.permsEl1, b.permsEl0]).toEqual([PERM_R | PERM_X, PERM_R | PERM_X]);
  });
});

describe('ASID, nG and attributes of a stage-1 result', () => {
  it('records nG and the ASID from TTBR0 (TCR.A1 = 0) or TTBR1 (A1 = 1), 16-bit with TCR.AS', () => {
    const t = s1Setup({ asid: 0x1234 });
    setLeaf(t.w0, 0x1000, 3, makeS1Page(0x4000_1000, 12, { nG: true, attrIndx: 3 }));
    const a = ok(translate(t.regime, 0x1000, R));
    expect([a.nG, a.global, a.asid]).toEqual([true, false, 0x1234]);
    expect(a.attrs.name).toBe('Normal-NC');
    const s1 = decodeStage1({ sctlr: 1n, tcr: tcr({ a1: true }), ttbr0: BigInt(t.w0.root) | (0x1234n << 48n), ttbr1: 0x56n << 48n, mair: MAIR });
    expect(s1.asid).toBe(0x56);
    const s8 = decodeStage1({ sctlr: 1n, tcr: tcr({}), ttbr0: 0x1234n << 48n, ttbr1: 0n, mair: MAIR });
    expect(s8.asid).toBe(0x34); // TCR.AS = 0: 8-bit ASID
  });
});

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
