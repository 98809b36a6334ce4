// The hypervisor's stage 2 (hyp/stage2.ts), exercised from a real guest and through its API.
//
// Rules encoded here:
//  - KVM user_mem_abort: guest RAM is mapped at stage 2 one fault at a time (lazily); a 2 MiB
//    block where the whole block is RAM and block mapping is on, else the 4 KB page.
//  - Arm ARM DDI0487 D8.3 "Translation table descriptor formats", stage-2 block/page
//    descriptors: MemAttr[5:2], S2AP[7:6], SH[9:8], AF[10], XN[54:53]; D8.5.5 stage-2 MemAttr
//    encodings (HCR_EL2.FWB = 0): 0b0001 Device-nGnRE, 0b0101 Normal Non-cacheable, 0b1111
//    Normal Write-Back.
//  - Seed 001 (KVM "Introduce new flag for non-cacheable IO memory"): device mappings are
//    Device-nGnRE (MemAttr 1) or Normal-NC (MemAttr 5), never executable (XN set), and a request
//    for an executable Device or Normal-NC mapping is refused with -EINVAL.
//  - Arm ARM D8.14.1 "Using break-before-make when updating translation table entries": an entry
//    is made invalid, the TLBs are invalidated by address (TLBI IPAS2E1), and only then is the new
//    entry written.
import { afterEach, describe, expect, it } from 'vitest';
import { Vcpu } from '../../emulator/cpu/vcpu.js';
import { Unicorn } from '../../emulator/unicorn/uc.js';
import type { Exit } from '../../emulator/cpu/exits.js';
import type { TranslateOutcome, TranslationResult } from '../../emulator/mmu/translate.js';
import { Hypervisor, type HypervisorConfig } from '../../hyp/hypervisor.js';
import { Stage2, S2_POOL_BASE } from '../../hyp/stage2.js';
import { HypStats } from '../../hyp/stats.js';
import { SR } from '../../emulator/cpu/sysregs.js';

const BASE = 0x4000_0000;
const RAM_SIZE = 0x40_0000; // 4 MiB: two whole 2 MiB blocks
const PT = { base: 0x0c00_0000, size: 0x1_0000 }; // passthrough-style device region (VIRT.PASSTHROUGH)

const A64 = {
  ldrX1X22: 0xf94002c1, // ldr x1, [x22]
  strW2X20: 0xb9000282, // str w2, [x20]
  ldrW3X20: 0xb9400283, // ldr w3, [x20]
  ldrW3X20p4: 0xb9400683, // ldr w3, [x20, #4]
  brX21: 0xd61f02a0, // br x21
  self: 0x14000000, // b .
};

let open: Vcpu[] = [];
afterEach(() => {
  for (const v of open) v.close();
  open = [];
});

function boot(code: number[], cfg: Partial<HypervisorConfig>, ramSize = RAM_SIZE) {
  const v = new Vcpu({ ramBase: BASE, ramSize });
  open.push(v);
  code.forEach((w, i) => v.ram.write32(BASE + i * 4, w));
  v.pc = BASE;
  // The device region's backing (what a VFIO BAR mmap is), as the virt board maps it.
  const backing = Unicorn.allocShared(PT.size);
  v.uc.mapShared(PT.base, backing);
  const hyp = new Hypervisor(cfg);
  hyp.attach(v, { ram: { base: BASE, size: ramSize }, passthrough: PT });
  const exits: Exit[] = [];
  v.onExit = (e) => exits.push(e);
  return { v, hyp, exits, backing };
}

/** The last stage-2 leaf descriptor of a recorded walk (not the S1PTW steps). */
function s2Leaf(out: TranslateOutcome): bigint {
  const recs = (out.walk ?? []).filter((r) => r.stage === 2 && !r.forS1Walk);
  expect(recs.length).toBeGreaterThan(0);
  return BigInt(recs[recs.length - 1]!.descriptor);
}
const memAttr = (d: bigint) => Number((d >> 2n) & 0xfn);
const s2ap = (d: bigint) => Number((d >> 6n) & 3n);
const xn = (d: bigint) => Number((d >> 53n) & 3n);
const af = (d: bigint) => Number((d >> 10n) & 1n);

function ok(out: TranslateOutcome): TranslationResult {
  if (!out.ok) throw new Error(`expected a translation, got a stage-${out.stage} ${out.type} fault at level ${out.level}`);
  return out;
}

describe('guest RAM is mapped at stage 2 lazily, one fault at a time (KVM user_mem_abort)', () => {
  const code = [A64.ldrX1X22, A64.self];

  it("stage2Mapping 'block': first touch of each 2 MiB of RAM is one fault mapping a level-2 block (512 pages)", () => {
    const { v, hyp, exits } = boot(code, { stage2Mapping: 'block' });
    expect(hyp.stats.stage2).toMatchObject({ faults: 0, mappedPages: 0 });
    const before = v.translator.inspect(BASE);
    expect(before.ok).toBe(false);
    expect(before.ok ? null : [before.stage, before.type]).toEqual([2, 'translation']);
    v.ram.write32(BASE + 0x20_3000, 0x1234_5678);
    v.setX(22, BigInt(BASE + 0x20_3000)); // in the second 2 MiB block
    expect(v.runFor(2)).toBeNull();
    expect(v.x(1)).toBe(0x1234_5678n);
    expect(exits.map((e) => e.reason)).toEqual(['iabt_s2', 'dabt_s2']);
    expect(exits.map((e) => (e as { ipa: number }).ipa)).toEqual([BASE, BASE + 0x20_3000]);
    expect(hyp.stats.stage2).toMatchObject({ faults: 2, mappedPages: 1024, mappedBytes: 0x40_0000 });
    const t = ok(v.translator.inspect(BASE + 0x1_2340));
    expect(t.s2Level).toBe(2);
    expect(t.s2SizeLog2).toBe(21);
    const d = s2Leaf(v.translator.inspect(BASE + 0x1_2340));
    expect(Number(d & 3n)).toBe(1); // block descriptor
    // RAM: Normal WB (MemAttr 0b1111), read/write, AF set, executable.
    expect([memAttr(d), s2ap(d), af(d), xn(d)]).toEqual([0xf, 3, 1, 0]);
    expect(t.attrs.s2Name).toBe('Normal-WB');
    // Root (two concatenated level-1 tables) + one level-2 table.
    expect(hyp.toJSON().stage2).toMatchObject({ tablePages: 3, vmid: 1, mapping: 'block' });
    // Another access in an already-mapped block does not fault again.
    v.setX(22, BigInt(BASE + 0x3f_fff8));
    v.pc = BASE;
    expect(v.runFor(2)).toBeNull();
    expect(hyp.stats.stage2.faults).toBe(2);
  });

  it("stage2Mapping 'page': each first touch maps one 4 KB page at level 3", () => {
    const { v, hyp, exits } = boot(code, { stage2Mapping: 'page' });
    v.setX(22, BigInt(BASE + 0x20_3000));
    expect(v.runFor(2)).toBeNull();
    expect(exits.map((e) => e.reason)).toEqual(['iabt_s2', 'dabt_s2']);
    expect(hyp.stats.stage2).toMatchObject({ faults: 2, mappedPages: 2, mappedBytes: 0x2000 });
    const t = ok(v.translator.inspect(BASE + 0x20_3008));
    expect(t.s2Level).toBe(3);
    expect(t.s2SizeLog2).toBe(12);
    expect(Number(s2Leaf(v.translator.inspect(BASE + 0x20_3008)) & 3n)).toBe(3); // page descriptor
    // The neighbouring page is still unmapped.
    const next = v.translator.inspect(BASE + 0x20_4000);
    expect(next.ok ? null : [next.stage, next.type, next.level]).toEqual([2, 'translation', 3]);
    expect(hyp.toJSON().stage2).toMatchObject({ mapping: 'page' });
  });

  it("'block' falls back to a page when the 2 MiB block is not all RAM (1 MiB of RAM)", () => {
    const { v, hyp } = boot(code, { stage2Mapping: 'block' }, 0x10_0000);
    v.setX(22, BigInt(BASE + 0x8_0000));
    expect(v.runFor(2)).toBeNull();
    expect(hyp.stats.stage2).toMatchObject({ faults: 2, mappedPages: 2 });
    expect(ok(v.translator.inspect(BASE)).s2Level).toBe(3);
  });
});

describe('passthrough device region (seed 001): MemAttr by --device-s2, never executable', () => {
  // Guest: store then load the first word of the region, spin.
  const code = [A64.strW2X20, A64.ldrW3X20, A64.self];

  for (const [type, attr, name] of [
    ['normal-nc', 0x5, 'Normal-NC'],
    ['device-ngnre', 0x1, 'Device-nGnRE'],
  ] as const) {
    it(`deviceS2 ${type}: the first access maps the whole region with MemAttr ${attr} and XN; the data reaches the backing`, () => {
      const { v, hyp, exits, backing } = boot(code, { deviceS2: type });
      v.setX(2, 0xa5a5_0001n);
      v.setX(20, BigInt(PT.base));
      expect(v.runFor(3)).toBeNull();
      expect(v.x(3)).toBe(0xa5a5_0001n);
      expect(new DataView(backing.bytes.buffer, backing.bytes.byteOffset).getUint32(0, true)).toBe(0xa5a5_0001);
      // One stage-2 fault for the code's block, one for the region; the load hit the new mapping.
      expect(exits.map((e) => e.reason)).toEqual(['iabt_s2', 'dabt_s2']);
      expect(hyp.stats.stage2).toMatchObject({ faults: 2, mappedPages: 512 + 16 });
      expect(hyp.stats.exits.userspace).toBe(0);
      for (const off of [0, 0x8000, 0xfffc]) {
        const out = v.translator.inspect(PT.base + off);
        const d = s2Leaf(out);
        expect(memAttr(d), `+0x${off.toString(16)}`).toBe(attr);
        // XN[1:0] = 0b10: not executable at EL1 or EL0 (D8.3, FEAT_XNX encoding; 0b10 without it too).
        expect(xn(d)).toBe(2);
        expect(s2ap(d)).toBe(3);
        expect(ok(out).attrs.s2Name).toBe(name);
        expect(ok(out).permsEl1 & 4).toBe(0);
      }
      // The page after the region is not part of it.
      expect(v.translator.inspect(PT.base + PT.size).ok).toBe(false);
      expect(hyp.toJSON().hyp).toMatchObject({ policies: { deviceS2: type } });
    });
  }

  it('an instruction fetch from the region is a stage-2 permission fault; the guest gets an instruction abort (as KVM injects a prefetch abort)', () => {
    const { v, hyp, exits } = boot([A64.ldrW3X20, A64.brX21], { deviceS2: 'normal-nc' });
    v.setX(20, BigInt(PT.base));
    v.setX(21, BigInt(PT.base));
    v.runFor(4);
    const iabt = exits.filter((e) => e.reason === 'iabt_s2' && e.pc === PT.base);
    const last = iabt[0]!;
    expect(last.reason).toBe('iabt_s2');
    expect(last.pc).toBe(PT.base);
    // ESR_EL2: EC 0x20 (instruction abort from a lower EL), IFSC 0b0011xx permission fault at level 3.
    expect(last.esr >>> 26).toBe(0x20);
    expect(last.esr & 0x3f).toBe(0x0f);
    // The guest's side: EC 0x21 (instruction abort, same EL), IFSC 0b010000 synchronous external abort (VBAR_EL1 = 0 is
    // not RAM either, so the vector fetch aborts again and again until the run ends as an exception loop).
    expect(Number(v.sysreg(SR.ESR_EL1)) >>> 26).toBe(0x21);
    expect(Number(v.sysreg(SR.ESR_EL1)) & 0x3f).toBe(0x10);
    expect(hyp.stats.mmio.externalAborts).toBeGreaterThanOrEqual(1);
  });
});

describe('Stage2 API: EINVAL for executable device mappings, break-before-make on remap', () => {
  it('mapDevice(..., exec = true) is refused with EINVAL for Device and Normal-NC; nothing is mapped', () => {
    const { v, hyp } = boot([A64.self], {});
    for (const type of ['device', 'normal-nc'] as const) {
      const r = hyp.stage2.mapDevice(PT.base, PT.base, PT.size, type, true);
      expect(r.ok).toBe(false);
      expect(r.ok ? null : r.error).toBe('EINVAL');
    }
    expect(hyp.stats.stage2.mappedPages).toBe(0);
    const out = v.translator.inspect(PT.base);
    expect(out.ok ? null : [out.stage, out.type]).toEqual([2, 'translation']);
    // The same request without exec is accepted.
    expect(hyp.stage2.mapDevice(PT.base, PT.base, PT.size, 'device').ok).toBe(true);
    expect(hyp.stats.stage2.mappedPages).toBe(16);
  });

  it('standalone Stage2: tables live in the host pool, VTTBR carries VMID and the root', () => {
    const stats = new HypStats();
    const s2 = new Stage2(stats, { vmid: 7, mapping: 'page' });
    expect(s2.vttbr).toBe(BigInt(S2_POOL_BASE) | (7n << 48n));
    // VTCR_EL2 (D19.2.170): T0SZ 24 (40-bit IPA), SL0 1 (start level 1), TG0 4 KB, PS 40-bit.
    expect(Number(s2.vtcr & 0x3fn)).toBe(24);
    expect(Number((s2.vtcr >> 6n) & 3n)).toBe(1);
    expect(Number((s2.vtcr >> 14n) & 3n)).toBe(0);
    expect(Number((s2.vtcr >> 16n) & 7n)).toBe(2);
    expect(s2.mapRam(BASE + 0x5123, { base: BASE, size: RAM_SIZE }).ok).toBe(true);
    expect(stats.stage2).toMatchObject({ mappedPages: 1, mappedBytes: 0x1000 });
    expect(s2.mapDevice(PT.base, PT.base, PT.size, 'normal-nc', true)).toMatchObject({ ok: false, error: 'EINVAL' });
  });

  it('unmap: the entry is invalid when onInvalidateIpa runs (by IPA and size); remap installs the new type; a live guest faults again', () => {
    const { v, hyp, exits } = boot([A64.ldrW3X20, A64.ldrW3X20p4, A64.self], { deviceS2: 'device-ngnre' });
    v.setX(20, BigInt(PT.base));
    expect(v.runFor(1)).toBeNull(); // first load: maps RAM (fetch) and the region
    expect(exits.map((e) => e.reason)).toEqual(['iabt_s2', 'dabt_s2']);
    expect(memAttr(s2Leaf(v.translator.inspect(PT.base)))).toBe(0x1);

    const calls: { ipa: number; size: number; invalidThen: boolean }[] = [];
    const flushes0 = v.tlbFlushes;
    const inner = hyp.stage2.onInvalidateIpa!;
    hyp.stage2.onInvalidateIpa = (ipa, size) => {
      const then = v.translator.inspect(ipa);
      calls.push({ ipa, size, invalidThen: !then.ok && then.stage === 2 && then.type === 'translation' });
      inner(ipa, size);
    };
    const r = hyp.stage2.remapDevice(PT.base, PT.base, PT.size, 'normal-nc');
    expect(r.ok).toBe(true);
    // Break (invalid entry), invalidate by IPA, then make.
    expect(calls).toEqual([{ ipa: PT.base, size: PT.size, invalidThen: true }]);
    expect(v.tlbFlushes).toBe(flushes0 + 1); // the hypervisor's invalidation reached the vCPU's TLBs
    expect(memAttr(s2Leaf(v.translator.inspect(PT.base)))).toBe(0x5);
    expect(hyp.stats.stage2).toMatchObject({ unmaps: 1, tlbiIpa: 1, mappedPages: 512 + 16 });

    // A plain unmap: the guest's next access to the region faults at stage 2 again and is re-mapped.
    expect(hyp.stage2.unmap(PT.base, PT.size).ok).toBe(true);
    expect(calls).toHaveLength(2);
    expect(hyp.stats.stage2.mappedPages).toBe(512);
    expect(v.runFor(1)).toBeNull();
    expect(exits.map((e) => e.reason)).toEqual(['iabt_s2', 'dabt_s2', 'dabt_s2']);
    expect((exits[2] as { ipa: number }).ipa).toBe(PT.base + 4);
    expect(hyp.stats.stage2).toMatchObject({ faults: 3, mappedPages: 512 + 16 });
    // Re-mapped by the fault handler with the configured type (device-ngnre).
    expect(memAttr(s2Leaf(v.translator.inspect(PT.base)))).toBe(0x1);
  });

  // Regression (fixed; hyp/stage2.ts Stage2.map / Stage2Builder.map): mapping over a live, valid stage-2 entry
  // overwrites the descriptor in place: no break-before-make, no onInvalidateIpa, so the vCPU's
  // TLBs keep the old output address. Here the guest keeps reading the old PA (0xaa) while the
  // tables already say the new one; stats also count the 16 pages twice (mappedPages 544).
  // KVM's stage2_map_walker_try_leaf breaks the old entry (stage2_try_break_pte + TLBI by IPA).
  it('map over a live mapping (new PA): the guest sees the new PA at once (break-before-make)', () => {
    const { v, hyp, backing } = boot([A64.ldrW3X20, A64.ldrW3X20, A64.self], {});
    backing.bytes[0] = 0xaa;
    const other = Unicorn.allocShared(PT.size);
    other.bytes[0] = 0xbb;
    v.uc.mapShared(0x0c10_0000, other);
    v.setX(20, BigInt(PT.base));
    expect(v.runFor(1)).toBeNull();
    expect(v.x(3)).toBe(0xaan);
    const invalidations: number[] = [];
    const inner = hyp.stage2.onInvalidateIpa!;
    hyp.stage2.onInvalidateIpa = (ipa, size) => {
      invalidations.push(ipa);
      inner(ipa, size);
    };
    expect(hyp.stage2.mapDevice(PT.base, 0x0c10_0000, PT.size, 'device').ok).toBe(true);
    expect(ok(v.translator.inspect(PT.base)).pa).toBe(0x0c10_0000); // the tables say the new PA
    expect(v.runFor(1)).toBeNull();
    expect(v.x(3)).toBe(0xbbn); // observed: 0xaa (stale translation)
    expect(invalidations).toEqual([PT.base]); // observed: [] (no invalidation by IPA)
    expect(hyp.stats.stage2.mappedPages).toBe(512 + 16); // observed: 544
  });

  // Regression (fixed; hyp/stage2.ts Stage2.unmap): the stats subtract size / 4 KB whatever was really mapped,
  // so unmapping a range that holds no mapping makes stage2.mappedPages drop (528 -> 512 here).
  it('unmap of a range with no mapping leaves mappedPages unchanged', () => {
    const { v, hyp } = boot([A64.ldrW3X20, A64.self], {});
    v.setX(20, BigInt(PT.base));
    expect(v.runFor(1)).toBeNull();
    expect(hyp.stats.stage2.mappedPages).toBe(512 + 16);
    const r = hyp.stage2.unmap(0x0d00_0000, 0x1_0000);
    expect(r).toMatchObject({ ok: true, leavesWritten: 0 });
    expect(hyp.stats.stage2.mappedPages).toBe(512 + 16); // observed: 512
  });
});
