/**
 * Stage-1 translation against hand-built tables: geometry, leaves, faults, VA ranges, permissions,
 * ASID/nG/attributes (two stages, stage 1 or 2 disabled, recorded walks: mmu-translate-s2.test.ts).
 * Each test names the Arm ARM (DDI0487) rule it checks.
 */
import { describe, it, expect } from 'vitest';
import { setLeaf, slotFor, tcr } from './mmu-helpers.js';
import { decodeStage1 } from '../../emulator/mmu/config.js';
import { makeS1Page, makeS1Block, makeTable } from '../../emulator/mmu/descriptors.js';
import { createRegime, translate, PERM_R, PERM_W, PERM_X } from '../../emulator/mmu/translate.js';
import { fsc } from '../../emulator/mmu/faults.js';
import { MAIR, R, W, X, R0, W0, X0, ok, bad, s1Setup } from './mmu-translate-setup.js';

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
