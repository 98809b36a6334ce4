/**
 * TLB model: caching at descriptor granularity and invalidation semantics
 * (Arm ARM DDI0487 D7.7 [K.a D8.16 / C5.5] "TLB maintenance instructions"; TLBI VAE1,
 * VALE1, VAAE1, ASIDE1, VMALLE1, RVAE1, IPAS2E1 register formats).
 */
import { describe, it, expect } from 'vitest';
import { TestRam, setLeaf, tcr, vtcr, HCR_VM, type TableWriter } from './mmu-helpers.js';
import { decodeStage1, decodeStage2 } from '../../emulator/mmu/config.js';
import { makeS1Page, makeS1Block, makeS2Page, makeS2Block } from '../../emulator/mmu/descriptors.js';
import { createRegime, PERM_R, PERM_W, type Regime } from '../../emulator/mmu/translate.js';
import { TlbModel, decodeTlbiVa, decodeTlbiRange, decodeTlbiIpa } from '../../emulator/mmu/tlb.js';

const R = { kind: 'read', el: 1 } as const;
const W = { kind: 'write', el: 1 } as const;

function setup(withS2 = false): { regime: Regime; w0: TableWriter; w1: TableWriter; ram: TestRam; s2w: TableWriter | null; setAsid: (a: number) => void } {
  const ram = new TestRam();
  const root0 = ram.alloc(4096);
  const root1 = ram.alloc(4096);
  const regs = { sctlr: 1n, tcr: tcr({ as: true }), ttbr0: BigInt(root0) | (1n << 48n), ttbr1: BigInt(root1), mair: 0xffn };
  const regime = createRegime({ stage1: decodeStage1(regs), mem: ram.mem });
  let s2w: TableWriter | null = null;
  if (withS2) {
    const s2root = ram.alloc(8192, 8192);
    const s2 = decodeStage2({ vtcr: vtcr({ t0sz: 24, sl0: 1 }), vttbr: BigInt(s2root) | (7n << 48n), hcr: HCR_VM });
    s2w = { ram, g: s2.geometry, root: s2root };
    setLeaf(s2w, 0x4000_0000, 2, makeS2Block(0x4000_0000, 12, 2)); // tables live here
    regime.stage2 = s2;
  }
  return {
    regime,
    ram,
    s2w,
    w0: { ram, g: regime.stage1.ranges[0].geometry, root: root0 },
    w1: { ram, g: regime.stage1.ranges[1].geometry, root: root1 },
    setAsid: (a) => {
      regime.stage1 = decodeStage1({ ...regs, ttbr0: BigInt(root0) | (BigInt(a) << 48n) });
    },
  };
}

describe('TLB model caching', () => {
  it('Unicorn 1 KiB fills inside one 4 KiB page: one walk, three hits', () => {
    const t = setup();
    setLeaf(t.w0, 0x1000, 3, makeS1Page(0x4010_0000, 12));
    const tlb = new TlbModel();
    for (const va of [0x1000, 0x1400, 0x1800, 0x1c00]) {
      const o = tlb.translate(t.regime, va, R);
      expect(o.ok && o.pa).toBe(0x4010_0000 + (va - 0x1000));
    }
    expect([tlb.stats.fills, tlb.stats.hits]).toEqual([1, 3]);
  });

  it('a 2 MiB block: each 4 KiB page walks once and invalidation of one VA drops the whole block (VAE1)', () => {
    const t = setup();
    setLeaf(t.w0, 0x20_0000, 2, makeS1Block(0x4020_0000, 12, 2));
    const tlb = new TlbModel();
    tlb.translate(t.regime, 0x20_0000, R);
    tlb.translate(t.regime, 0x20_0400, R);
    tlb.translate(t.regime, 0x3f_f000, R);
    expect([tlb.stats.fills, tlb.stats.hits, tlb.size]).toEqual([2, 1, 2]);
    expect(tlb.lookup(t.regime, 0x3f_f800)?.sizeLog2).toBe(21);
    expect(tlb.invalidateVa(0, 0x30_0000n, 1)).toBe(true);
    expect(tlb.size).toBe(0);
  });

  it('permission not granted by a cached entry re-walks and reports the exact fault; faults are counted by type and level', () => {
    const t = setup();
    setLeaf(t.w0, 0x1000, 3, makeS1Page(0x4010_0000, 12, { ap: 2 }));
    const tlb = new TlbModel();
    expect(tlb.translate(t.regime, 0x1000, R).ok).toBe(true);
    const f = tlb.translate(t.regime, 0x1000, W);
    expect(f.ok).toBe(false);
    expect(tlb.stats.faults.permission[3]).toBe(1);
    expect(tlb.translate(t.regime, 0x9000_0000, R).ok).toBe(false);
    expect(tlb.stats.faults.translation[1]).toBe(1);
  });

  it('nG entries are per ASID; global entries match any ASID', () => {
    const t = setup();
    setLeaf(t.w0, 0x1000, 3, makeS1Page(0x4010_0000, 12, { nG: true }));
    setLeaf(t.w0, 0x2000, 3, makeS1Page(0x4010_1000, 12));
    const tlb = new TlbModel();
    tlb.translate(t.regime, 0x1000, R);
    tlb.translate(t.regime, 0x2000, R);
    t.setAsid(2);
    expect(tlb.lookup(t.regime, 0x1000)).toBeUndefined();
    expect(tlb.lookup(t.regime, 0x2000)?.global).toBe(true);
  });

  it('TTBR1 (BigInt) addresses are cached apart from TTBR0 addresses with the same low bits', () => {
    const t = setup();
    setLeaf(t.w0, 0x1000, 3, makeS1Page(0x4010_0000, 12));
    setLeaf(t.w1, 0x1000, 3, makeS1Page(0x4020_0000, 12));
    const tlb = new TlbModel();
    const a = tlb.translate(t.regime, 0x1000, R);
    expect(a.ok && a.pa).toBe(0x4010_0000);
    const b = tlb.translate(t.regime, 0xffff_0000_0000_1000n, R);
    expect(b.ok && b.pa).toBe(0x4020_0000);
    const c = tlb.translate(t.regime, 0xffff_0000_0000_1400n, R);
    expect(c.ok && c.pa).toBe(0x4020_0400);
    expect(tlb.stats.hits).toBe(1);
  });

  it('cache-maintenance translations are not cached (they skip the Access flag check)', () => {
    const t = setup();
    setLeaf(t.w0, 0x1000, 3, makeS1Page(0x4010_0000, 12, { af: false }));
    const tlb = new TlbModel();
    expect(tlb.translate(t.regime, 0x1000, { kind: 'read', el: 1, cacheMaintenance: true }).ok).toBe(true);
    expect(tlb.size).toBe(0);
    expect(tlb.translate(t.regime, 0x1000, R).ok).toBe(false);
  });
});

describe('TLB invalidation semantics', () => {
  function filled(): { t: ReturnType<typeof setup>; tlb: TlbModel } {
    const t = setup();
    setLeaf(t.w0, 0x1000, 3, makeS1Page(0x4010_0000, 12, { nG: true })); // ASID 1
    setLeaf(t.w0, 0x2000, 3, makeS1Page(0x4010_1000, 12)); // global
    setLeaf(t.w0, 0x3000, 3, makeS1Page(0x4010_2000, 12, { nG: true }));
    const tlb = new TlbModel();
    tlb.translate(t.regime, 0x1000, R);
    tlb.translate(t.regime, 0x2000, R);
    tlb.translate(t.regime, 0x3000, R);
    t.setAsid(2);
    tlb.translate(t.regime, 0x1000, R); // same VA, ASID 2
    t.setAsid(1);
    return { t, tlb };
  }

  it('TLBI VAE1: the VA for that ASID, plus global entries; other ASIDs stay', () => {
    const { t, tlb } = filled();
    expect(tlb.tlbi('VAE1IS', (1n << 48n) | 0x1n, 0)).toBe(true);
    expect(tlb.lookup(t.regime, 0x1000)).toBeUndefined();
    t.setAsid(2);
    expect(tlb.lookup(t.regime, 0x1000)).toBeDefined();
    // a global entry is hit by VAE1 with any ASID
    expect(tlb.tlbi('VAE1', (9n << 48n) | 0x2n, 0)).toBe(true);
    expect(tlb.lookup(t.regime, 0x2000)).toBeUndefined();
  });

  it('TLBI VAE1 Xt of a TTBR1 VA (VA[55:12] in Xt[43:0], sign-extended from VA[55]): that page only; removedPages names it', () => {
    const t = setup();
    const va = -0x7fff_edcb_b000; // 0xffff_8000_1234_5000
    const other = va + 0x1_0000;
    setLeaf(t.w1, 0x8000_1234_5000, 3, makeS1Page(0x4010_5000, 12)); // the walker indexes by VA[47:0]
    setLeaf(t.w1, 0x8000_1235_5000, 3, makeS1Page(0x4010_6000, 12));
    setLeaf(t.w0, 0x1234_5000, 3, makeS1Page(0x4010_7000, 12)); // same VA[47:12], TTBR0 half
    const tlb = new TlbModel();
    for (const a of [va, other, 0x1234_5000]) expect(tlb.translate(t.regime, a, R).ok).toBe(true);
    const xt = (5n << 48n) | ((BigInt.asUintN(64, BigInt(va)) >> 12n) & ((1n << 44n) - 1n));
    expect(decodeTlbiVa(xt).va).toBe(BigInt.asUintN(64, BigInt(va)));
    expect(tlb.tlbi('VAE1IS', xt, 0)).toBe(true);
    expect(tlb.lookup(t.regime, va)).toBeUndefined();
    expect(tlb.lookup(t.regime, other)).toBeDefined();
    expect(tlb.lookup(t.regime, 0x1234_5000)).toBeDefined();
    expect([tlb.removedCount, tlb.removedPages[0]]).toEqual([1, va]);
    // The TTBR0 page with the same VA[47:12]: Xt[43] clear.
    expect(tlb.tlbi('VAAE1', 0x1_2345n, 0)).toBe(true);
    expect(tlb.lookup(t.regime, 0x1234_5000)).toBeUndefined();
    expect([tlb.removedCount, tlb.removedPages[0]]).toEqual([1, 0x1234_5000]);
  });

  it('TLBI VAAE1: the VA for every ASID', () => {
    const { t, tlb } = filled();
    expect(tlb.tlbi('VAAE1', 0x1n, 0)).toBe(true);
    expect(tlb.lookup(t.regime, 0x1000)).toBeUndefined();
    t.setAsid(2);
    expect(tlb.lookup(t.regime, 0x1000)).toBeUndefined();
  });

  it('TLBI VALE1 / VAALE1 behave as VAE1 / VAAE1 for leaf-only entries', () => {
    const { tlb } = filled();
    expect(tlb.tlbi('VALE1IS', (1n << 48n) | 0x3n, 0)).toBe(true);
    expect(tlb.tlbi('VAALE1', 0x3n, 0)).toBe(false); // already gone: nothing to flush
  });

  it('TLBI ASIDE1: non-global entries of the ASID only', () => {
    const { t, tlb } = filled();
    expect(tlb.tlbi('ASIDE1', 1n << 48n, 0)).toBe(true);
    expect(tlb.lookup(t.regime, 0x1000)).toBeUndefined();
    expect(tlb.lookup(t.regime, 0x3000)).toBeUndefined();
    expect(tlb.lookup(t.regime, 0x2000)).toBeDefined();
    t.setAsid(2);
    expect(tlb.lookup(t.regime, 0x1000)).toBeDefined();
  });

  it('TLBI VMALLE1 empties the VMID; invalidating an empty model needs no Unicorn flush', () => {
    const { tlb } = filled();
    expect(tlb.size).toBe(4);
    expect(tlb.tlbi('VMALLE1IS', 0n, 0)).toBe(true);
    expect(tlb.size).toBe(0);
    expect(tlb.tlbi('VMALLE1', 0n, 0)).toBe(false);
    expect(tlb.invalidateAll()).toBe(false);
  });

  it('TLBI RVAE1: decodes BaseADDR/NUM/SCALE/TG and drops the range only', () => {
    const { t, tlb } = filled();
    // 4K granule (TG=01), SCALE=0, NUM=0: 2 pages from 0x2000 -> [0x2000, 0x4000)
    const xt = (1n << 48n) | (1n << 46n) | 0x2n;
    expect(decodeTlbiRange(xt)).toMatchObject({ asid: 1, tgBits: 12, scale: 0, num: 0, base: 0x2000n, length: 0x2000 });
    expect(tlb.tlbi('RVAE1IS', xt, 0)).toBe(true);
    expect(tlb.lookup(t.regime, 0x2000)).toBeUndefined();
    expect(tlb.lookup(t.regime, 0x3000)).toBeUndefined();
    expect(tlb.lookup(t.regime, 0x1000)).toBeDefined();
    // reserved TG: no invalidation
    expect(tlb.tlbi('RVAE1', 0x1n, 0)).toBe(false);
  });

  it('range Xt: SCALE/NUM arithmetic, TTL level, 64K granule, and TTBR1 sign extension', () => {
    // (NUM+1) * 2^(5*SCALE+1) granules
    const d = decodeTlbiRange((3n << 46n) | (2n << 44n) | (4n << 39n) | (2n << 37n) | 0x10n);
    expect(d).toMatchObject({ tgBits: 16, scale: 2, num: 4, ttlLevel: 2, base: 0x10_0000n, length: 5 * 2 ** 11 * 65536 });
    const k = decodeTlbiRange((1n << 46n) | ((0xffff_8000_0000_0000n >> 12n) & ((1n << 37n) - 1n)));
    expect(k.base).toBe(0xffff_8000_0000_0000n);
  });

  it('TLBI by VA Xt: ASID, TTL and VA[55:12] sign-extended', () => {
    const d = decodeTlbiVa((0x42n << 48n) | (0b0111n << 44n) | ((0xffff_0000_1234_5000n >> 12n) & ((1n << 44n) - 1n)));
    expect(d.asid).toBe(0x42);
    expect(d.ttl).toEqual({ granuleBits: 12, level: 3 });
    expect(d.va).toBe(0xffff_0000_1234_5000n);
    expect(decodeTlbiVa(0x1n).ttl).toBeNull();
  });

  it('TLBI IPAS2E1: entries whose stage-2 leaf covers the IPA; others stay (VMID from VTTBR)', () => {
    const t = setup(true);
    setLeaf(t.w0, 0x1000, 3, makeS1Page(0x5000_0000, 12));
    setLeaf(t.w0, 0x2000, 3, makeS1Page(0x5000_1000, 12));
    setLeaf(t.s2w!, 0x5000_0000, 3, makeS2Page(0x4030_0000, 12));
    setLeaf(t.s2w!, 0x5000_1000, 3, makeS2Page(0x4030_1000, 12));
    const tlb = new TlbModel();
    expect(tlb.translate(t.regime, 0x1000, R).ok).toBe(true);
    expect(tlb.translate(t.regime, 0x2000, R).ok).toBe(true);
    expect(tlb.lookup(t.regime, 0x1000)?.vmid).toBe(7);
    expect(decodeTlbiIpa(0x5_0000n).ipa).toBe(0x5000_0000);
    expect(tlb.tlbi('IPAS2E1IS', 0x5_0000n, 7)).toBe(true);
    expect(tlb.lookup(t.regime, 0x1000)).toBeUndefined();
    expect(tlb.lookup(t.regime, 0x2000)).toBeDefined();
    expect(tlb.tlbi('IPAS2E1IS', 0x5_0000n, 3)).toBe(false); // other VMID
  });

  it('capacity eviction makes the next invalidation request a Unicorn flush', () => {
    const t = setup();
    for (let i = 1; i <= 4; i++) setLeaf(t.w0, i * 0x1000, 3, makeS1Page(0x4010_0000 + i * 0x1000, 12));
    const tlb = new TlbModel({ capacity: 2 });
    for (let i = 1; i <= 4; i++) tlb.translate(t.regime, i * 0x1000, R);
    expect(tlb.stats.evictions).toBe(1);
    expect(tlb.invalidateVa(0, 0x7777_0000n, 1)).toBe(true); // nothing matched, but Unicorn may hold evicted entries
    expect(tlb.invalidateVa(0, 0x7777_0000n, 1)).toBe(false);
  });

  it('readPa (IC IVAU): the held entry\'s PA for a read at that EL, -1 when none is held or it permits none; counts and inserts nothing', () => {
    const t = setup();
    setLeaf(t.w0, 0x20_0000, 2, makeS1Block(0x4020_0000, 12, 2));
    setLeaf(t.w0, 0x1000, 3, makeS1Page(0x4010_0000, 12));
    const tlb = new TlbModel();
    // Mapped but never translated: not held, so the caller walks.
    expect(tlb.readPa(t.regime, 0x1234, 1)).toBe(-1);
    tlb.translate(t.regime, 0x1000, R);
    tlb.translate(t.regime, 0x20_0000, R);
    const before = { ...tlb.stats, size: tlb.size };
    expect(tlb.readPa(t.regime, 0x1234, 1)).toBe(0x4010_0234);
    // Another 4 KiB page of the block: its own key, not held yet.
    expect(tlb.readPa(t.regime, 0x20_1040, 1)).toBe(-1);
    expect(tlb.readPa(t.regime, 0x20_0fc0, 1)).toBe(0x4020_0fc0);
    // AP[2:1] = 00: no EL0 access (Arm ARM D8.4.1.2.1).
    expect(tlb.readPa(t.regime, 0x1234, 0)).toBe(-1);
    expect({ ...tlb.stats, size: tlb.size }).toEqual(before);
  });

  it('the hit path keeps perms for both ELs', () => {
    const t = setup();
    setLeaf(t.w0, 0x1000, 3, makeS1Page(0x4010_0000, 12, { ap: 1 }));
    const tlb = new TlbModel();
    tlb.translate(t.regime, 0x1000, R);
    const o = tlb.translate(t.regime, 0x1000, { kind: 'write', el: 0 });
    expect(o.ok && o.perms).toBe(PERM_R | PERM_W | 4);
    expect(tlb.stats.hits).toBe(1);
  });
});
