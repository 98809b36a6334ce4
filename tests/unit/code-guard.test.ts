// The words Unicorn 2.1.1 cannot translate (emulator/cpu/code-guard.ts), as
// found by scripts/untranslatable-sweep.mjs: over every word with its register
// fields zero (the decoder's decision does not depend on them), exactly these
// sixteen killed the process (SIGABRT in disas_simd_three_reg_same_fp16).
import { describe, expect, it } from 'vitest';
import { CodeGuard, SHADOW_PA, isUntranslatable } from '../../emulator/cpu/code-guard.js';
import { Prot, Unicorn } from '../../emulator/unicorn/uc.js';

const SWEPT = [
  0x0e402c00, 0x0ec01c00, 0x0ec02400, 0x0ec02c00, 0x2e400c00, 0x2ec00c00, 0x2ec01c00, 0x2ec03c00,
  0x4e402c00, 0x4ec01c00, 0x4ec02400, 0x4ec02c00, 0x6e400c00, 0x6ec00c00, 0x6ec01c00, 0x6ec03c00,
];

describe('isUntranslatable (Advanced SIMD three same FP16, unallocated U:a:opcode)', () => {
  it('matches the brute-force sweep exactly over the 2^17 register-free words', () => {
    const found: number[] = [];
    for (let i = 0; i < 1 << 17; i++) {
      const w = ((((i >>> 6) & 0x7ff) << 21) | ((i & 0x3f) << 10)) >>> 0;
      if (isUntranslatable(w)) found.push(w);
    }
    expect(found).toEqual(SWEPT);
  });
  it('ignores the register fields: 8 groups x 2^16 words = 524,288', () => {
    let n = 0;
    for (const w of SWEPT.slice(0, 8)) for (let r = 0; r < 1 << 15; r++) {
      const regs = (r & 0x3ff) | ((r >>> 10) << 16);
      if (isUntranslatable((w | regs) >>> 0) && isUntranslatable((w | regs | (1 << 30)) >>> 0)) n += 2;
    }
    expect(n).toBe(524_288);
  });
  it('two-register misc FP16 (vector and scalar): 298 of the group\'s 512 operation encodings, as swept (--regs fp16misc)', () => {
    let n = 0;
    for (let i = 0; i < 512; i++) {
      const w = (0x0e780800 | (((i >>> 8) & 1) << 30) | (((i >>> 7) & 1) << 29) | (((i >>> 6) & 1) << 28) | (((i >>> 5) & 1) << 23) | ((i & 0x1f) << 12)) >>> 0;
      if (isUntranslatable(w)) n++;
    }
    expect(n).toBe(298);
    // Found by scripts/fuzz (seeds 633, 834, 960): SIGABRT in disas_simd_two_reg_misc_fp16.
    for (const w of [0x2e781803, 0x0ef83b65, 0x4e7978cf]) expect(isUntranslatable(w)).toBe(true);
    // Allocated: FRINTN (vector), FRECPX (scalar), FABS (vector).
    for (const w of [0x0e798800, 0x5ef9f800, 0x0ef8f800]) expect(isUntranslatable(w)).toBe(false);
  });
  it('leaves the allocated FP16 operations alone (FADD, FMUL, FCMGE, FMINP)', () => {
    for (const w of [0x0e401400, 0x2e401c00, 0x2e402400, 0x2ec03400]) expect(isUntranslatable(w)).toBe(false);
  });
});

// CodeGuard.prefillData: a data entry recorded before Unicorn asks for it (the native fill cache
// answers that fill: fill-handler.ts dataSiblings) must leave the guard as a real fill would.
describe('CodeGuard.prefillData', () => {
  const BASE = 0x4000_0000;
  const guard = (): { g: CodeGuard; uc: Unicorn } => {
    const uc = new Unicorn();
    const block = Unicorn.allocShared(0x4000);
    const words = new Uint32Array(block.bytes.buffer, block.bytes.byteOffset, 0x1000);
    uc.mapShared(BASE, block);
    const g = new CodeGuard(uc, BASE, 0x4000, { block, wordsAt: (pa) => ({ words, index: (pa - BASE) >>> 2 }) });
    return { g, uc };
  };
  const fetch = (g: CodeGuard, pa: number, key: number): number => {
    const out = { pa, perms: Prot.ALL };
    g.fill(out, key, true);
    return out.pa;
  };

  it('a writable entry recorded this way makes a later fetch through another entry execute a snapshot (W^X alias), as a write fill does', () => {
    const { g, uc } = guard();
    try {
      // Control: no writer, the real page executes.
      expect(fetch(g, BASE + 0x400, 0x1000_0401)).toBe(BASE + 0x400);
      expect(g.prefillData(BASE + 0x800, 0x2000_0801, Prot.READ | Prot.WRITE)).toBe(true);
      expect(fetch(g, BASE + 0x800, 0x1000_0801)).toBeGreaterThanOrEqual(SHADOW_PA);
    } finally {
      uc.close();
    }
  });

  it('refuses (records nothing) where a fill would do more: a page executed or written in this epoch, or writable with code translated from it', () => {
    const { g, uc } = guard();
    try {
      fetch(g, BASE + 0x400, 0x1000_0401);
      expect(g.prefillData(BASE + 0x400, 0x2000_0401, Prot.READ)).toBe(false);
      g.fill({ pa: BASE + 0xc00, perms: Prot.READ | Prot.WRITE }, 0x3000_0c01, false);
      expect(g.prefillData(BASE + 0xc00, 0x2000_0c01, Prot.READ)).toBe(false);
      // A new epoch: nothing held, but code was translated from page 0x400.
      g.tlbFlushed();
      expect(g.prefillData(BASE + 0x400, 0x2000_0401, Prot.READ | Prot.WRITE)).toBe(false);
      expect(g.prefillData(BASE + 0x400, 0x2000_0401, Prot.READ)).toBe(true);
      expect(g.prefillData(BASE + 0xc00, 0x2000_0c01, Prot.READ | Prot.WRITE)).toBe(true);
    } finally {
      uc.close();
    }
  });
});
