/**
 * Stage-2 builder (map/unmap visitors on the generic walker) and seed 001 rules
 * (KVM stage2_set_prot_attr: Device / Normal-NC never executable, MemAttr 0x1 / 0x5 / 0xF, FWB 1 / 5 / 6).
 */
import { describe, it, expect } from 'vitest';
import { TestRam, vtcr, HCR_VM, HCR_FWB } from './mmu-helpers.js';
import { decodeStage2, stage1Off } from '../../emulator/mmu/config.js';
import { Stage2Builder, s2MemAttrFor } from '../../emulator/mmu/stage2-builder.js';
import { createRegime, PERM_R, PERM_W, PERM_X } from '../../emulator/mmu/translate.js';
import { collectLeaves } from '../../emulator/mmu/walker.js';

function setup(hcr = HCR_VM, pagesOnly = false) {
  const ram = new TestRam(0x4000_0000, 16 << 20);
  const root = ram.alloc(8192, 8192);
  const s2 = decodeStage2({ vtcr: vtcr({ t0sz: 24, sl0: 1 }), vttbr: BigInt(root), hcr });
  const b = new Stage2Builder({ mem: ram.mem, geometry: s2.geometry, root, alloc: () => ram.alloc(4096), fwb: s2.fwb, pagesOnly });
  const regime = createRegime({ stage1: stage1Off(), stage2: s2, mem: ram.mem });
  return { ram, s2, b, regime };
}

describe('stage-2 builder', () => {
  it('uses a 1 GiB block, 2 MiB blocks and 4 KiB pages as alignment allows', () => {
    const t = setup();
    expect(t.b.map(0x8000_0000, 0x4000_0000, 0x4000_0000, { r: true, w: true, x: true })).toMatchObject({ ok: true, leavesWritten: 1, tablesAllocated: 0 });
    const r = t.b.map(0x1_0000_0000, 0x4020_0000, 0x20_3000, { r: true, w: false, x: false });
    expect(r).toMatchObject({ ok: true, leavesWritten: 4 }); // one 2M block + three pages
    const leaves = collectLeaves({ geometry: t.s2.geometry, mem: t.ram.mem, root: t.b.root }, 0, 2 ** 40 - 1).leaves;
    expect(leaves.map((l) => [l.level, l.size])).toEqual([[1, 2 ** 30], [2, 2 ** 21], [3, 4096], [3, 4096], [3, 4096]]);
    const o = t.regime.translate(0x1_0020_2abc, { kind: 'read', el: 1 });
    expect(o.ok && [o.pa, o.perms, o.s2Level]).toEqual([0x4040_2abc, PERM_R, 3]);
    const blk = t.regime.translate(0x8123_4567, { kind: 'fetch', el: 1 });
    expect(blk.ok && [blk.pa, blk.perms, blk.s2Level]).toEqual([0x4123_4567, PERM_R | PERM_W | PERM_X, 1]);
  });

  it('pagesOnly maps with level-3 pages only', () => {
    const t = setup(HCR_VM, true);
    expect(t.b.map(0x20_0000, 0x4020_0000, 0x20_0000, { r: true, w: true, x: false })).toMatchObject({ ok: true, leavesWritten: 512 });
  });

  it('seed 001: Device and Normal-NC mappings cannot be executable (EINVAL); MemAttr 0x1 / 0x5 / 0xF', () => {
    const t = setup();
    expect(t.b.map(0x0900_0000, 0x0900_0000, 0x1000, { r: true, w: true, x: true, mem: 'device' })).toMatchObject({ ok: false, error: 'EINVAL' });
    expect(t.b.map(0x0c00_0000, 0x0c00_0000, 0x1000, { r: true, w: true, x: true, mem: 'normal-nc' })).toMatchObject({ ok: false, error: 'EINVAL' });
    expect([s2MemAttrFor('device', false), s2MemAttrFor('normal-nc', false), s2MemAttrFor('normal', false)]).toEqual([1, 5, 0xf]);
    expect([s2MemAttrFor('device', true), s2MemAttrFor('normal-nc', true), s2MemAttrFor('normal', true)]).toEqual([1, 5, 6]);
    expect(t.b.map(0x4000_0000, 0x4080_0000, 0x1000, { r: true, w: true, x: false, mem: 'normal-nc' }).ok).toBe(true);
    const o = t.regime.translate(0x4000_0010, { kind: 'read', el: 1 });
    // MMU off: stage-1 Device-nGnRnE combined with stage-2 Normal-NC -> Device-nGnRnE (D8.6.5.1)
    expect(o.ok && o.attrs.name).toBe('Device-nGnRnE');
  });

  it('FWB builder: Normal maps as MemAttr 6 (force WB) so an MMU-off guest sees Normal-WB', () => {
    const t = setup(HCR_VM | HCR_FWB);
    expect(t.b.map(0x4000_0000, 0x4080_0000, 0x1000, { r: true, w: true, x: true }).ok).toBe(true);
    const o = t.regime.translate(0x4000_0010, { kind: 'read', el: 1 });
    expect(o.ok && o.attrs.name).toBe('Normal-WB');
  });

  it('unmap clears covered leaves and splits a straddling block', () => {
    const t = setup();
    t.b.map(0x20_0000, 0x4020_0000, 0x20_0000, { r: true, w: true, x: false }); // one 2M block
    const r = t.b.unmap(0x20_1000, 0x1000);
    expect(r).toMatchObject({ ok: true, leavesWritten: 1, tablesAllocated: 1 });
    expect(t.regime.translate(0x20_1000, { kind: 'read', el: 1 })).toMatchObject({ ok: false, stage: 2, type: 'translation', level: 3 });
    const o = t.regime.translate(0x20_2008, { kind: 'write', el: 1 });
    expect(o.ok && [o.pa, o.s2Level]).toEqual([0x4020_2008, 3]);
    const o2 = t.regime.translate(0x3f_fff8, { kind: 'read', el: 1 });
    expect(o2.ok && o2.pa).toBe(0x403f_fff8);
  });

  it('rejects unaligned ranges and IPAs above the input size; reports ENOMEM', () => {
    const t = setup();
    expect(t.b.map(0x1001, 0x4000_0000, 0x1000, { r: true, w: true, x: false })).toMatchObject({ ok: false, error: 'EINVAL' });
    expect(t.b.map(2 ** 40, 0x4000_0000, 0x1000, { r: true, w: true, x: false })).toMatchObject({ ok: false, error: 'EINVAL' });
    const ram = new TestRam();
    const root = ram.alloc(8192, 8192);
    const s2 = decodeStage2({ vtcr: vtcr({ t0sz: 24, sl0: 1 }), vttbr: BigInt(root), hcr: HCR_VM });
    const b = new Stage2Builder({ mem: ram.mem, geometry: s2.geometry, root, alloc: () => null, fwb: false });
    expect(b.map(0x1000, 0x4000_0000, 0x1000, { r: true, w: true, x: false })).toMatchObject({ ok: false, error: 'ENOMEM' });
  });
});
