// Shadow stage 2 for a guest hypervisor (seed 003): composition of L1's stage 2 with ours,
// one shadow MMU per {VMID, VTTBR, VTCR}, LRU recycling, TLBI emulation against the real
// model TLB. Arm ARM D8.2 (stage-2 translation), D8.4.3 (stage-2 permissions), D8.6.5/D8.6.6
// (memory types, FWB), C5.5 and D8.13 [K.a D8.16] (TLB maintenance), TLBI IPAS2E1, RIPAS2E1,
// VMALLS12E1, VMALLE1, ALLE1 instruction descriptions.
import { describe, expect, it } from 'vitest';
import { TestRam, setLeaf, vtcr, type TableWriter } from './mmu-helpers.js';
import { decodeStage2, stage1Off, type Stage2Config } from '../../emulator/mmu/config.js';
import { makeS2Block, makeS2Page } from '../../emulator/mmu/descriptors.js';
import { RamDescriptorMemory } from '../../emulator/mmu/memory.js';
import { Stage2Builder } from '../../emulator/mmu/stage2-builder.js';
import { createRegime, PERM_R, PERM_W, PERM_X, type AccessKind, type Regime } from '../../emulator/mmu/translate.js';
import { TlbModel } from '../../emulator/mmu/tlb.js';
import { NestedS2, SHADOW_VMID_BASE, type FillOutcome, type L1S2Context, type ShadowS2Mmu } from '../../hyp/nested/shadow-s2.js';
import { composeS2MemAttr, encodeS2Perms } from '../../hyp/nested/compose.js';
import { decodeTlbi, allTlbiOps, type TlbiOp } from '../../hyp/nested/tlbi.js';

const RAM = 0x4000_0000;
const HOST_POOL = 0x80_0000_0000;
// L1's VTCR as the nested-l1 guest writes it: 32-bit IPA, start level 1, 4 KB granule, PS 40 bits
const L1_VTCR = vtcr({ t0sz: 32, sl0: 1, ps: 2 });

/** Guest RAM, our stage 2 (RAM identity-mapped, host-owned tables), L1 tables in guest RAM, the model TLB. */
class World {
  ram = new TestRam(RAM, 16 << 20);
  hostRam = new TestRam(HOST_POOL, 1 << 20);
  host: Stage2Config;
  hostBuilder: Stage2Builder;
  tlb = new TlbModel();
  nested: NestedS2;
  mem: RamDescriptorMemory;
  regime: Regime;

  constructor(capacity = 4, opts: { hostPages?: boolean } = {}) {
    const root = this.hostRam.alloc(0x2000, 0x2000);
    this.host = decodeStage2({ vtcr: vtcr({ t0sz: 24, sl0: 1, ps: 2 }), vttbr: BigInt(root) | (1n << 48n), hcr: 1n });
    this.hostBuilder = new Stage2Builder({ mem: this.hostRam.mem, geometry: this.host.geometry, root, alloc: () => this.hostRam.alloc(0x1000), fwb: false, pagesOnly: opts.hostPages });
    expect(this.hostBuilder.map(RAM, RAM, 16 << 20, { r: true, w: true, x: true }).ok).toBe(true);
    this.nested = new NestedS2({ guestMem: this.ram.mem, host: () => ({ config: this.host, mem: this.hostRam.mem }), tlb: this.tlb, capacity, poolPages: 64 });
    this.mem = new RamDescriptorMemory([{ base: RAM, bytes: this.ram.bytes }, this.nested.pool]);
    this.regime = createRegime({ stage1: stage1Off(), mem: this.mem });
  }

  /** An L1 stage-2 context: root table in guest RAM, VMID in VTTBR[55:48]. */
  l1(vmid: number, opts: { fwb?: boolean } = {}): { ctx: L1S2Context; w: TableWriter } {
    const root = this.ram.alloc(0x1000);
    const ctx: L1S2Context = { vttbr: BigInt(root) | (BigInt(vmid) << 48n), vtcr: L1_VTCR, fwb: opts.fwb ?? false };
    const g = decodeStage2({ vtcr: L1_VTCR, vttbr: ctx.vttbr, hcr: 1n }).geometry;
    return { ctx, w: { ram: this.ram, g, root } };
  }

  /** Run L2 in `mmu`'s context: the MMU walks the shadow. */
  enter(mmu: ShadowS2Mmu): void {
    this.regime.stage2 = mmu.config;
  }

  /**
   * One L2 access the way the CPU would do it: the model TLB / walk; a stage-2 fault on
   * the shadow goes to the fill path and is retried; what the fill cannot map is returned.
   */
  access(mmu: ShadowS2Mmu, va: number, kind: AccessKind = 'read', el: 0 | 1 = 1): { pa: number; perms: number; memType: string } | FillOutcome {
    this.enter(mmu);
    for (let i = 0; i < 4; i++) {
      const out = this.tlb.translate(this.regime, va, { kind, el });
      if (out.ok) return { pa: out.pa, perms: out.perms, memType: out.attrs.name };
      expect(out.stage).toBe(2);
      const r = this.nested.fill(mmu, out.ipa, kind, el);
      if (r.kind !== 'mapped') return r;
    }
    throw new Error('fill did not converge');
  }
}

const page = (pa: number, f: Parameters<typeof makeS2Page>[2] = {}) => makeS2Page(pa, 12, f);

describe('shadow stage 2: composition of L1 stage 2 with ours (Arm ARM D8.2, D8.4.3)', () => {
  it('fills one shadow entry per fault and maps L2 IPA -> L1 PA -> host PA', () => {
    const W = new World();
    const { ctx, w } = W.l1(1);
    setLeaf(w, 0x5000_0000, 3, page(0x4010_0000));
    const mmu = W.nested.select(ctx);
    expect(mmu.vmid).toBe(SHADOW_VMID_BASE);
    expect(W.access(mmu, 0x5000_0010)).toMatchObject({ pa: 0x4010_0010, memType: 'Device-nGnRnE' }); // stage 1 off: data is Device
    expect(W.nested.stats.shadowFaults).toBe(1);
    expect([...mmu.entries.values()]).toEqual([{ ipa: 0x5000_0000, size: 0x1000, pa: 0x4010_0000, l1LeafIpa: 0x5000_0000, l1LeafSize: 0x1000, l1Level: 3 }]);
    // second access: a model-TLB hit, tagged with the shadow VMID; no fault
    expect(W.access(mmu, 0x5000_0020)).toMatchObject({ pa: 0x4010_0020 });
    expect(W.nested.stats.shadowFaults).toBe(1);
    expect(W.tlb.lookup(W.regime, 0x5000_0020)?.vmid).toBe(mmu.vmid);
  });

  it('L1 stage-2 faults are reported for delivery to L1: translation (with level), access flag, permission, IPA range', () => {
    const W = new World();
    const { ctx, w } = W.l1(1);
    setLeaf(w, 0x5000_1000, 3, page(0x4010_1000, { s2ap: 1 })); // read-only
    setLeaf(w, 0x5000_2000, 3, page(0x4010_2000, { af: false }));
    const mmu = W.nested.select(ctx);
    expect(W.access(mmu, 0x6000_0000)).toMatchObject({ kind: 'l1-fault', type: 'translation', level: 2, ipa: 0x6000_0000 });
    expect(W.access(mmu, 0x5000_3000)).toMatchObject({ kind: 'l1-fault', type: 'translation', level: 3 });
    expect(W.access(mmu, 0x5000_2008)).toMatchObject({ kind: 'l1-fault', type: 'accessFlag', level: 3 });
    expect(W.access(mmu, 0x5000_1008)).toMatchObject({ pa: 0x4010_1008 });
    expect(W.access(mmu, 0x5000_1008, 'write')).toMatchObject({ kind: 'l1-fault', type: 'permission', level: 3, ipa: 0x5000_1008 });
    // IPA beyond L1's 32-bit input size (T0SZ = 32): translation fault, level 0
    expect(W.access(mmu, 0x1_0000_0000)).toMatchObject({ kind: 'l1-fault', type: 'translation', level: 0 });
  });

  it('our stage 2 missing (MMIO, unmapped RAM, L1 tables outside RAM) comes back as a host fault', () => {
    const W = new World();
    const { ctx, w } = W.l1(1);
    setLeaf(w, 0x0900_0000, 3, page(0x0900_0000, { memAttr: 0x1, xn: 2 })); // the UART, Device-nGnRE
    const mmu = W.nested.select(ctx);
    expect(W.access(mmu, 0x0900_0018)).toEqual({ kind: 'host-fault', ipa: 0x0900_0018, forL1Walk: false, permission: false });
    // an L1 table at an L1 PA our stage 2 does not map (S1PTW-like: the L1 walk itself needs our stage 2)
    const { ctx: bad } = W.l1(2);
    bad.vttbr = (2n << 48n) | 0x7000_0000n;
    const m2 = W.nested.select(bad);
    expect(W.access(m2, 0x5000_0000)).toMatchObject({ kind: 'host-fault', forL1Walk: true, ipa: 0x7000_0000 + 1 * 8 });
  });

  it('permissions: the more restrictive of both stages, per read/write/EL1 exec/EL0 exec (FEAT_XNX)', () => {
    const W = new World(4, { hostPages: true });
    const { ctx, w } = W.l1(1);
    setLeaf(w, 0x5000_0000, 3, page(0x4020_0000, { xn: 3 })); // L1: RW, not executable at EL0
    setLeaf(w, 0x5000_1000, 3, page(0x4020_1000)); // L1: RWX
    // ours: 0x4020_1000 read-only and not executable at EL1 (XN = 01)
    expect(W.hostBuilder.map(0x4020_1000, 0x4020_1000, 0x1000, { r: true, w: false, x: true, raw: { memAttr: 0xf, xn: 1 } }).ok).toBe(true);
    const mmu = W.nested.select(ctx);
    const a = W.access(mmu, 0x5000_0000) as { perms: number };
    expect(a.perms).toBe(PERM_R | PERM_W | PERM_X);
    expect(W.access(mmu, 0x5000_0000, 'fetch', 0)).toMatchObject({ kind: 'l1-fault', type: 'permission' });
    const b = W.access(mmu, 0x5000_1000) as { perms: number };
    expect(b.perms).toBe(PERM_R); // RO from us, not executable at EL1 from us
    expect(W.access(mmu, 0x5000_1000, 'write')).toMatchObject({ kind: 'host-fault', permission: true, ipa: 0x4020_1000 });
    expect(encodeS2Perms(PERM_R | PERM_W | ((PERM_R | PERM_X) << 3))).toEqual({ s2ap: 3, xn: 1 });
    expect(encodeS2Perms(PERM_R | PERM_X | (PERM_R << 3))).toEqual({ s2ap: 1, xn: 3 });
  });

  it('memory types: Device beats Normal, the weaker cacheability wins, our Normal-WB defers to L1, FWB kept in L1 mode (D8.6.5, D8.6.6)', () => {
    // L1 MemAttr, L1 FWB, our MemAttr, our FWB -> shadow MemAttr
    expect(composeS2MemAttr(0x1, false, 0xf, false)).toBe(0x1); // L1 Device-nGnRE over our WB
    expect(composeS2MemAttr(0xf, false, 0x5, false)).toBe(0x5); // our NC over L1 WB
    expect(composeS2MemAttr(0xa, false, 0x5, false)).toBe(0x5); // WT vs NC: NC
    expect(composeS2MemAttr(0xf, false, 0xa, false)).toBe(0xa); // WB vs WT: WT
    expect(composeS2MemAttr(0x1, false, 0x0, false)).toBe(0x0); // nGnRE vs nGnRnE: nGnRnE
    expect(composeS2MemAttr(0x7, true, 0xf, false)).toBe(0x7); // L1 FWB "use stage 1" over our WB
    expect(composeS2MemAttr(0x6, true, 0x5, false)).toBe(0x5); // L1 FWB force-WB, our NC: FWB force-NC
    expect(composeS2MemAttr(0x7, true, 0x1, false)).toBe(0x1); // our Device: FWB Device-nGnRE
    expect(composeS2MemAttr(0xf, false, 0x6, true)).toBe(0xf); // our FWB force-WB does not restrict

    const W = new World();
    const { ctx, w } = W.l1(1);
    setLeaf(w, 0x5000_0000, 3, page(0x4030_0000, { memAttr: 0x1 }));
    const mmu = W.nested.select(ctx);
    expect(W.access(mmu, 0x5000_0000, 'fetch')).toMatchObject({ memType: 'Device-nGnRE' }); // fetch would be Normal with S1 off
    const f = W.l1(3, { fwb: true });
    setLeaf(f.w, 0x5000_0000, 3, page(0x4030_0000, { memAttr: 0x5 })); // FWB force-NC
    const m3 = W.nested.select(f.ctx);
    expect(m3.config.fwb).toBe(true);
    expect(W.access(m3, 0x5000_0000, 'fetch')).toMatchObject({ memType: 'Normal-NC' });
  });

  it('an L1 block over our pages is shadowed page by page, tagged with the L1 leaf (seed 003 TTL-like tag)', () => {
    const W = new World(4, { hostPages: true });
    const { ctx, w } = W.l1(1);
    setLeaf(w, 0x5000_0000, 2, makeS2Block(0x4040_0000, 12, 2));
    const mmu = W.nested.select(ctx);
    W.access(mmu, 0x5000_0000);
    W.access(mmu, 0x5010_0000);
    expect([...mmu.entries.values()].map((e) => [e.ipa, e.size, e.l1LeafSize, e.l1Level])).toEqual([
      [0x5000_0000, 0x1000, 0x20_0000, 2],
      [0x5010_0000, 0x1000, 0x20_0000, 2],
    ]);
    // with our blocks, the shadow leaf is the whole 2 MiB
    const W2 = new World();
    const b = W2.l1(1);
    setLeaf(b.w, 0x5000_0000, 2, makeS2Block(0x4040_0000, 12, 2));
    const m2 = W2.nested.select(b.ctx);
    expect(W2.access(m2, 0x5012_3456)).toMatchObject({ pa: 0x4052_3456 });
    expect([...m2.entries.values()].map((e) => e.size)).toEqual([0x20_0000]);
  });
});

describe('shadow MMUs: one per {VMID, VTTBR, VTCR}, a bounded array recycled LRU (seed 003)', () => {
  it('separate contexts (different VMIDs, same VMID with another VTTBR) get separate shadows and VMIDs', () => {
    const W = new World();
    const a = W.l1(1);
    const b = W.l1(2);
    const c = W.l1(1); // same VMID, other tables
    setLeaf(a.w, 0x5000_0000, 3, page(0x4050_0000));
    setLeaf(b.w, 0x5000_0000, 3, page(0x4051_0000));
    setLeaf(c.w, 0x5000_0000, 3, page(0x4052_0000));
    const ma = W.nested.select(a.ctx);
    const mb = W.nested.select(b.ctx);
    const mc = W.nested.select(c.ctx);
    expect(new Set([ma.vmid, mb.vmid, mc.vmid]).size).toBe(3);
    expect(W.access(ma, 0x5000_0000)).toMatchObject({ pa: 0x4050_0000 });
    expect(W.access(mb, 0x5000_0000)).toMatchObject({ pa: 0x4051_0000 });
    expect(W.access(mc, 0x5000_0000)).toMatchObject({ pa: 0x4052_0000 });
    expect(W.access(ma, 0x5000_0000)).toMatchObject({ pa: 0x4050_0000 });
    expect(W.nested.select(a.ctx)).toBe(ma);
    expect(W.nested.select({ ...a.ctx, vtcr: a.ctx.vtcr | (1n << 8n) })).not.toBe(ma); // VTCR differs
    expect(W.nested.stats.shadowMmus).toBe(4);
  });

  it('when the array is full the least recently used shadow is recycled and its VMID leaves the TLB', () => {
    const W = new World(2);
    const a = W.l1(1);
    const b = W.l1(2);
    const c = W.l1(3);
    for (const x of [a, b, c]) setLeaf(x.w, 0x5000_0000, 3, page(0x4060_0000));
    const ma = W.nested.select(a.ctx);
    W.access(ma, 0x5000_0000);
    const mb = W.nested.select(b.ctx);
    W.access(mb, 0x5000_0000);
    W.nested.select(a.ctx); // a is now more recent than b
    W.enter(mb);
    expect(W.tlb.lookup(W.regime, 0x5000_0000)).toBeDefined();
    const mc = W.nested.select(c.ctx);
    expect(mc).toBe(mb); // b's slot, recycled
    expect(W.nested.stats.recycled).toBe(1);
    expect(mc.entries.size).toBe(0);
    W.enter(mc);
    expect(W.tlb.lookup(W.regime, 0x5000_0000)).toBeUndefined();
    expect(W.nested.select(a.ctx)).toBe(ma);
    expect(ma.entries.size).toBe(1);
  });
});

// -------------------------------------------------------------------------------------------

/** Encodings from the TLBI instruction descriptions (op1, CRn, CRm, op2). */
const ENC: Record<string, [number, number, number, number]> = {
  VMALLS12E1: [4, 8, 7, 6], VMALLS12E1IS: [4, 8, 3, 6], VMALLS12E1OS: [4, 8, 1, 6],
  VMALLE1: [0, 8, 7, 0], VMALLE1IS: [0, 8, 3, 0], VMALLE1OS: [0, 8, 1, 0],
  IPAS2E1: [4, 8, 4, 1], IPAS2E1IS: [4, 8, 0, 1], IPAS2E1OS: [4, 8, 4, 0],
  IPAS2LE1: [4, 8, 4, 5], IPAS2LE1IS: [4, 8, 0, 5], IPAS2LE1OS: [4, 8, 4, 4],
  RIPAS2E1: [4, 8, 4, 2], RIPAS2E1IS: [4, 8, 0, 2], RIPAS2E1OS: [4, 8, 4, 3],
  RIPAS2LE1: [4, 8, 4, 6], RIPAS2LE1IS: [4, 8, 0, 6], RIPAS2LE1OS: [4, 8, 4, 7],
  ALLE1: [4, 8, 7, 4], ALLE1IS: [4, 8, 3, 4], ALLE1OS: [4, 8, 1, 4],
  VAE1IS: [0, 8, 3, 1], ALLE2IS: [4, 8, 3, 0],
};
function op(name: string): TlbiOp {
  const nxs = name.endsWith('NXS');
  const [op1, crn, crm, op2] = ENC[nxs ? name.slice(0, -3) : name]!;
  const o = decodeTlbi(op1, nxs ? 9 : crn, crm, op2);
  expect(o?.name).toBe(name);
  return o!;
}

describe('TLBI encodings (Arm ARM C5.5, TLBI instruction descriptions; FEAT_XS nXS forms at CRn = 9)', () => {
  it('decodes every form by encoding, with scope, shareability, last-level, range and nXS', () => {
    for (const n of Object.keys(ENC)) {
      op(n);
      op(n + 'NXS');
    }
    expect(op('RIPAS2LE1OSNXS')).toMatchObject({ base: 'RIPAS2LE1', scope: 'ripas2', shareability: 'OS', nxs: true, lastLevel: true, range: true });
    expect(op('IPAS2E1IS')).toMatchObject({ scope: 'ipas2', lastLevel: false, range: false });
    expect(op('VMALLS12E1')).toMatchObject({ scope: 'vmalls12e1', shareability: 'NSH' });
    expect(op('ALLE2IS').scope).toBe('el2');
    expect(decodeTlbi(4, 8, 0, 0)).toBeUndefined(); // unallocated
    const all = allTlbiOps();
    expect(all.length).toBe(2 * 63);
    expect(new Set(all.map((o) => o.name)).size).toBe(all.length);
  });
});

describe('TLBI emulation: exactly the affected shadow entries and model-TLB entries of the right VMID (D8.13)', () => {
  /** Two L1 VMIDs (1 and 2), each with pages at 0x5000_0000.. 0x5000_3000 and a 2 MiB block at 0x5020_0000, all filled and in the TLB. */
  function twoVms(): { W: World; m1: ShadowS2Mmu; m1b: ShadowS2Mmu; m2: ShadowS2Mmu; live: (m: ShadowS2Mmu) => number[] } {
    const W = new World(4, { hostPages: true });
    const mk = (vmid: number, pa: number, block: number) => {
      const x = W.l1(vmid);
      for (let i = 0; i < 4; i++) setLeaf(x.w, 0x5000_0000 + i * 0x1000, 3, page(pa + i * 0x1000));
      setLeaf(x.w, 0x5020_0000, 2, makeS2Block(block, 12, 2));
      const m = W.nested.select(x.ctx);
      for (let i = 0; i < 4; i++) W.access(m, 0x5000_0000 + i * 0x1000);
      W.access(m, 0x5020_0000);
      W.access(m, 0x5030_0000);
      return m;
    };
    const m1 = mk(1, 0x4070_0000, 0x4080_0000);
    const m1b = mk(1, 0x4071_0000, 0x40c0_0000); // a second context of VMID 1 (another VTTBR)
    const m2 = mk(2, 0x4072_0000, 0x40a0_0000);
    /** IPAs with a shadow entry; and check the model TLB agrees for each */
    const live = (m: ShadowS2Mmu): number[] => {
      W.enter(m);
      const ipas = [0x5000_0000, 0x5000_1000, 0x5000_2000, 0x5000_3000, 0x5020_0000, 0x5030_0000];
      const inShadow = ipas.filter((i) => [...m.entries.values()].some((e) => i >= e.ipa && i < e.ipa + e.size));
      const inTlb = ipas.filter((i) => W.tlb.lookup(W.regime, i) !== undefined);
      expect(inTlb.every((i) => inShadow.includes(i))).toBe(true); // never a TLB entry without its shadow
      return inShadow;
    };
    return { W, m1, m1b, m2, live };
  }
  const ALL = [0x5000_0000, 0x5000_1000, 0x5000_2000, 0x5000_3000, 0x5020_0000, 0x5030_0000];
  const tlbCount = (W: World, m: ShadowS2Mmu, ipas: number[]) => {
    W.enter(m);
    return ipas.filter((i) => W.tlb.lookup(W.regime, i) !== undefined).length;
  };

  for (const name of ['VMALLS12E1', 'VMALLS12E1IS', 'VMALLS12E1OS', 'VMALLS12E1ISNXS']) {
    it(`${name}: every shadow of the current VMID is emptied, other VMIDs untouched`, () => {
      const { W, m1, m1b, m2, live } = twoVms();
      const r = W.nested.tlbi(op(name), 0n, 1);
      expect(r.vmids.sort()).toEqual([m1.vmid, m1b.vmid].sort());
      expect(r.removed).toBe(12);
      expect(live(m1)).toEqual([]);
      expect(live(m1b)).toEqual([]);
      expect(live(m2)).toEqual(ALL);
      expect(tlbCount(W, m2, ALL)).toBe(6);
    });
  }

  for (const name of ['VMALLE1', 'VMALLE1IS', 'VMALLE1OSNXS']) {
    it(`${name}: stage-1 only: the shadows stay, the combined TLB entries of the VMID go`, () => {
      const { W, m1, m1b, m2, live } = twoVms();
      const r = W.nested.tlbi(op(name), 0n, 1);
      expect(r.removed).toBe(0);
      expect(live(m1)).toEqual(ALL);
      expect(live(m1b)).toEqual(ALL);
      expect(tlbCount(W, m1, ALL)).toBe(0);
      expect(tlbCount(W, m1b, ALL)).toBe(0);
      expect(tlbCount(W, m2, ALL)).toBe(6);
    });
  }

  for (const name of ['ALLE1', 'ALLE1IS', 'ALLE1OS', 'ALLE1ISNXS']) {
    it(`${name}: every shadow of every VMID is emptied`, () => {
      const { W, m1, m1b, m2, live } = twoVms();
      expect(W.nested.tlbi(op(name), 0n, 1).removed).toBe(18);
      for (const m of [m1, m1b, m2]) {
        expect(live(m)).toEqual([]);
        expect(tlbCount(W, m, ALL)).toBe(0);
      }
    });
  }

  for (const name of ['IPAS2E1', 'IPAS2E1IS', 'IPAS2E1OS', 'IPAS2LE1', 'IPAS2LE1IS', 'IPAS2LE1OS', 'IPAS2E1ISNXS', 'IPAS2LE1ISNXS']) {
    it(`${name}: the entries from L1's leaf covering the IPA, in the current VMID's shadows only`, () => {
      const { W, m1, m1b, m2, live } = twoVms();
      // Xt = IPA[47:12] (TLBI IPAS2E1 register format), no TTL
      W.nested.tlbi(op(name), BigInt(0x5000_1000 / 4096), 1);
      const rest = ALL.filter((i) => i !== 0x5000_1000);
      expect(live(m1)).toEqual(rest);
      expect(live(m1b)).toEqual(rest);
      expect(live(m2)).toEqual(ALL);
      expect(tlbCount(W, m2, ALL)).toBe(6);
      // an IPA inside an L1 2 MiB block (shadowed as pages): every page from that block goes
      W.nested.tlbi(op(name), BigInt(0x5031_2000 / 4096), 1);
      expect(live(m1)).toEqual(rest.filter((i) => i < 0x5020_0000));
    });
  }

  it('IPAS2E1IS with a TTL hint (FEAT_TTL, Xt[47:44]): the hinted level-2 region is invalidated', () => {
    const { W, m1, m2, live } = twoVms();
    // TTL = 0b0110: 4 KB granule, level 2 -> the 2 MiB around 0x5000_1000 (pages 0..3 and nothing else)
    W.nested.tlbi(op('IPAS2E1IS'), (0b0110n << 44n) | BigInt(0x5000_1000 / 4096), 1);
    expect(live(m1)).toEqual([0x5020_0000, 0x5030_0000]);
    expect(live(m2)).toEqual(ALL);
    // TTL level 3: just that page
    const t = twoVms();
    t.W.nested.tlbi(op('IPAS2LE1IS'), (0b0111n << 44n) | BigInt(0x5000_2000 / 4096), 1);
    expect(t.live(t.m1)).toEqual(ALL.filter((i) => i !== 0x5000_2000));
  });

  for (const name of ['RIPAS2E1', 'RIPAS2E1IS', 'RIPAS2E1OS', 'RIPAS2LE1', 'RIPAS2LE1IS', 'RIPAS2LE1OS', 'RIPAS2E1ISNXS', 'RIPAS2LE1OSNXS']) {
    it(`${name}: an IPA range (TG, SCALE, NUM, BaseADDR), current VMID only`, () => {
      const { W, m1, m1b, m2, live } = twoVms();
      // TG = 01 (4 KB), SCALE 0, NUM 0: 2 pages from 0x5000_1000; TTL[38:37] = 11 (level 3)
      const xt = (1n << 46n) | (0n << 44n) | (0n << 39n) | (3n << 37n) | BigInt(0x5000_1000 / 4096);
      W.nested.tlbi(op(name), xt, 1);
      const rest = ALL.filter((i) => i !== 0x5000_1000 && i !== 0x5000_2000);
      expect(live(m1)).toEqual(rest);
      expect(live(m1b)).toEqual(rest);
      expect(live(m2)).toEqual(ALL);
      // SCALE 1, NUM 1: (1 + 1) * 2^6 = 128 pages (512 KiB) from 0x5020_0000: the block's pages there go
      W.nested.tlbi(op(name), (1n << 46n) | (1n << 44n) | (1n << 39n) | BigInt(0x5020_0000 / 4096), 1);
      expect(live(m1)).toEqual([0x5000_0000, 0x5000_3000]);
      // TG = 00 is reserved: nothing is invalidated
      W.nested.tlbi(op(name), BigInt(0x5000_0000 / 4096), 1);
      expect(live(m1)).toEqual([0x5000_0000, 0x5000_3000]);
    });
  }

  it('VAE1IS (stage 1 by VA) reaches the model TLB of the VMID\'s shadows; EL2 forms leave the shadows alone', () => {
    const { W, m1, m2, live } = twoVms();
    const r = W.nested.tlbi(op('VAE1IS'), 0n, 1);
    expect(r.scope).toBe('va-e1');
    expect(live(m1)).toEqual(ALL);
    expect(W.nested.tlbi(op('ALLE2IS'), 0n, 1)).toEqual({ scope: 'el2', removed: 0, vmids: [] });
    expect(live(m2)).toEqual(ALL);
    expect(W.nested.stats.tlbi).toEqual({ VAE1: 1, ALLE2: 1 });
  });
});

describe('break-before-make by L1 is never served a stale mapping', () => {
  it('invalid descriptor, TLBI IPAS2E1IS, VMALLE1IS, new descriptor: the next access faults, then sees the new page', () => {
    const W = new World();
    const { ctx, w } = W.l1(1);
    const slot = setLeaf(w, 0x5000_0000, 3, page(0x4090_0000));
    const mmu = W.nested.select(ctx);
    expect(W.access(mmu, 0x5000_0010)).toMatchObject({ pa: 0x4090_0010 });
    // break
    W.ram.set(slot, 0n);
    // a shadow is a TLB: until L1 invalidates, the old translation may still be used (D8.16.1)
    expect(W.access(mmu, 0x5000_0010)).toMatchObject({ pa: 0x4090_0010 });
    W.nested.tlbi(op('IPAS2E1IS'), BigInt(0x5000_0000 / 4096), 1);
    W.nested.tlbi(op('VMALLE1IS'), 0n, 1);
    expect(W.access(mmu, 0x5000_0010)).toMatchObject({ kind: 'l1-fault', type: 'translation', level: 3 });
    // make
    W.ram.set(slot, page(0x4091_0000));
    expect(W.access(mmu, 0x5000_0010)).toMatchObject({ pa: 0x4091_0010 });
    expect(W.nested.stats.shadowFaults).toBe(3);
  });

  it('a permission upgrade by L1 (RO -> RW) is picked up by refilling over the live shadow entry', () => {
    const W = new World();
    const { ctx, w } = W.l1(1);
    const slot = setLeaf(w, 0x5000_0000, 3, page(0x40a0_0000, { s2ap: 1 }));
    const mmu = W.nested.select(ctx);
    expect(W.access(mmu, 0x5000_0000)).toMatchObject({ pa: 0x40a0_0000 });
    expect(W.access(mmu, 0x5000_0000, 'write')).toMatchObject({ kind: 'l1-fault', type: 'permission' });
    W.ram.set(slot, page(0x40a0_0000, { s2ap: 3 }));
    expect(W.access(mmu, 0x5000_0000, 'write')).toMatchObject({ pa: 0x40a0_0000, perms: PERM_R | PERM_W | PERM_X });
    expect(mmu.entries.size).toBe(1);
  });

  it('a shadow whose table pool runs out is discarded whole and refilled (like a full TLB)', () => {
    const W = new World(1);
    const { ctx, w } = W.l1(1);
    // 64 pool pages; every 1 GiB of IPA needs new level-1/2/3 tables
    for (let g = 0; g < 80; g++) setLeaf(w, 0x8000_0000 + g * 0x20_0000, 3, page(0x40b0_0000));
    const mmu = W.nested.select(ctx);
    for (let g = 0; g < 80; g++) expect(W.access(mmu, 0x8000_0000 + g * 0x20_0000)).toMatchObject({ pa: 0x40b0_0000 });
    expect(W.nested.stats.resets).toBeGreaterThan(0);
    expect(W.access(mmu, 0x8000_0000)).toMatchObject({ pa: 0x40b0_0000 });
  });
});
