// Issue 9: no guest instruction ends the process; the guest sees its own
// translation of every address. Guests in guest-images/ (also run under QEMU).
import { describe, expect, it } from 'vitest';
import { guest, hypemu } from './helpers.js';

describe('untranslatable (unallocated FP16 words; top of the VA space)', () => {
  it('every word is UNDEFINED, also as self-modified code, and the top 1 KiB faults as the architecture says', async () => {
    const r = await hypemu(['run', guest('untranslatable'), '-q'], { stats: true });
    expect(r.stdout).not.toContain('FAIL');
    expect(r.stdout).toContain('RESULT untranslatable: 0 failures');
    expect(r.status).toBe(0);
    expect(r.stats!.exceptions.byTarget.EL1.unknown).toBe(24);
  });
});

describe('code-alias (code rewritten through another VA of its page, Arm ARM B2.4.4)', () => {
  it('runs as rewritten: the second store through one alias entry drops the old translation too', async () => {
    const r = await hypemu(['run', guest('code-alias'), '-q']);
    expect(r.stdout).not.toContain('FAIL');
    expect(r.stdout).toContain('RESULT code-alias: 0 failures');
    expect(r.status).toBe(0);
  });
  // Without QEMU's invalidation by physical address (a libunicorn that hides
  // tb_invalidate_phys_range; HYPEMU_TB_INVALIDATE=off stands for it), the code guard drops code by
  // stopping the slice from the fill hook and flushing all translated code: a host stop, which must
  // count exactly what ran (it was counted as a stop before an instruction: 174,090 against 174,092).
  it('retires the same instructions and prints the same bytes when code is dropped by a TB flush instead', async () => {
    const byAddress = await hypemu(['run', guest('code-alias'), '-q'], { stats: true });
    const byFlush = await hypemu(['run', guest('code-alias'), '-q'], { stats: true, env: { HYPEMU_TB_INVALIDATE: 'off' } });
    expect(byFlush.status).toBe(0);
    expect(byFlush.stdout).toBe(byAddress.stdout);
    expect(byAddress.stats?.instructions).toBeGreaterThan(0);
    expect(byFlush.stats?.instructions).toBe(byAddress.stats?.instructions);
    expect(byFlush.stats?.exits).toEqual(byAddress.stats?.exits);
  });
});

describe('irq-unmask (Arm ARM D1.3.6: an interrupt is taken at the instruction after its unmask; validated under QEMU 7.2)', () => {
  it('a pending timer IRQ is taken right after MSR DAIFClr / MSR DAIF / ERET, after the unmask that follows WFI, and by the ISB after a timer write', async () => {
    const r = await hypemu(['run', guest('irq-unmask'), '-q']);
    expect(r.stdout).not.toContain('FAIL');
    expect(r.stdout.match(/^PASS /gm)?.length).toBe(6);
    expect(r.stdout).toContain('RESULT irq-unmask: 0 failures');
    expect(r.status).toBe(0);
  });

  it('the same points, byte for byte, with the native interrupt window (irq-window.c) and with straight-line slicing (HYPEMU_IRQ_WINDOW=off)', async () => {
    const on = await hypemu(['run', guest('irq-unmask'), '-q'], { stats: true });
    process.env.HYPEMU_IRQ_WINDOW = 'off';
    const off = await hypemu(['run', guest('irq-unmask'), '-q'], { stats: true }).finally(() => delete process.env.HYPEMU_IRQ_WINDOW);
    expect(off.stdout).toContain('RESULT irq-unmask: 0 failures');
    expect(on.stdout).toBe(off.stdout);
    expect(on.stats!.instructions).toBe(off.stats!.instructions);
    expect(on.stats!.exceptions).toEqual(off.stats!.exceptions);
  });
});

describe('at-s1 (Arm ARM C5.5 AT S1E1R/W, S1E0R/W: stage 1 only; PAR_EL1; validated under QEMU 7.2)', () => {
  it('reports the IPA for RAM never touched and for a device page, stage-1 faults, and S1E1RP UNDEFINED without FEAT_PAN2', async () => {
    const r = await hypemu(['run', guest('at-s1'), '-q']);
    expect(r.stdout).not.toContain('FAIL');
    expect(r.stdout).toContain('RESULT at-s1: 0 failures');
    expect(r.status).toBe(0);
    // Exact PAR_EL1 values: bit 11 RES1, NS (bit 9) as QEMU sets it, SH 0b10 for Device memory (PAR_EL1.SH).
    expect(r.stdout).toContain('MMU off: S1E1R of untouched RAM is VA = PA: PAR_EL1 4c002b00');
    expect(r.stdout).toContain('S1E1R of untouched RAM: the IPA, Normal WB, Inner Shareable: PAR_EL1 ff0000004c000b80');
    expect(r.stdout).toContain('S1E1R of a device page: its PA, Device-nGnRE, SH 0b10: PAR_EL1 400000008000b00');
    expect(r.stdout).toContain('S1E1W of an EL1 read-only page: permission fault, level 3: PAR_EL1 81f');
    expect(r.stdout).toContain('S1E1R with no level-3 entry: translation fault, level 3: PAR_EL1 80f');
    expect(r.stdout).toContain('ID_AA64MMFR1_EL1.PAN 0, S1E1RP: UNDEFINED');
  });
});

describe('mmio-simd (ISV = 0 SIMD&FP accesses to an emulated device, emulated by decoding)', () => {
  it('LDR/STR B/H/S/D/Q, LDP/STP/LDNP/STNP and writeback forms reach the device; counted as decoded', async () => {
    const r = await hypemu(['run', guest('mmio-simd'), '-q'], { stats: true });
    expect(r.stdout).not.toContain('FAIL');
    expect(r.stdout).toContain('RESULT mmio-simd: 0 failures');
    expect(r.status).toBe(0);
    expect(r.stats!.mmio.decoded).toBe(19);
    expect(r.stats!.mmio.externalAborts).toBe(0);
  });
});

describe('ldtr-layouts (Arm ARM C6.2 LDTR/STTR at EL1: EL0 permissions wherever the instruction sits; validated under QEMU 7.2)', () => {
  it('every LDTR/STTR of an EL1-only page faults: block starts, page edges, blocks across pages, rewritten code, a second VA', async () => {
    const r = await hypemu(['run', guest('ldtr-layouts'), '-q']);
    expect(r.stdout).not.toContain('FAIL');
    expect(r.stdout.match(/^PASS /gm)?.length).toBe(13);
    expect(r.status).toBe(0);
  });
});
