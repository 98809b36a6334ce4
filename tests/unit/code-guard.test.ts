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

// CodeGuard.prefillSiblings: data entries of a fill's sibling 1 KiB pages recorded before Unicorn
// asks for them (the native fill cache answers those fills: fill-handler.ts dataSiblings) must
// leave the guard as their real fills would.
/** A guard over 16 KiB of RAM at BASE in a fresh core, and the RAM's words. */
const BASE = 0x4000_0000;
function guard(): { g: CodeGuard; uc: Unicorn; words: Uint32Array } {
  const uc = new Unicorn();
  const block = Unicorn.allocShared(0x4000);
  const words = new Uint32Array(block.bytes.buffer, block.bytes.byteOffset, 0x1000);
  uc.mapShared(BASE, block);
  const g = new CodeGuard(uc, BASE, 0x4000, { block, wordsAt: (pa) => ({ words, index: (pa - BASE) >>> 2 }) });
  return { g, uc, words };
}

describe('CodeGuard.prefillSiblings', () => {
  const fetch = (g: CodeGuard, pa: number, key: number): number => {
    const out = { pa, perms: Prot.ALL };
    g.fill(out, key, true);
    return out.pa;
  };

  it('a writable sibling recorded this way makes a later fetch through another entry execute a snapshot (W^X alias), as a write fill does', () => {
    const { g, uc } = guard();
    try {
      // Control: no writer, the real page executes.
      expect(fetch(g, BASE + 0x400, 0x1000_0401)).toBe(BASE + 0x400);
      // Page 3 of the 4 KiB page at BASE filled writable by entry 0x2000_0c01: pages 0-2 recorded
      // (page 1 is executed in this epoch: left to its own fill).
      expect(g.prefillSiblings(BASE, 3, 0x2000_0c01, Prot.READ | Prot.WRITE)).toBe(0b0101);
      expect(fetch(g, BASE + 0x800, 0x1000_0801)).toBeGreaterThanOrEqual(SHADOW_PA);
      expect(fetch(g, BASE, 0x1000_0001)).toBeGreaterThanOrEqual(SHADOW_PA);
    } finally {
      uc.close();
    }
  });

  it('records nothing where a fill would do more: a page executed or written in this epoch, or writable with code translated from it', () => {
    const { g, uc } = guard();
    try {
      fetch(g, BASE + 0x400, 0x1000_0401);
      expect(g.prefillSiblings(BASE, 0, 0x2000_0001, Prot.READ)).toBe(0b1100);
      g.fill({ pa: BASE + 0x1c00, perms: Prot.READ | Prot.WRITE }, 0x3000_0c01, false);
      expect(g.prefillSiblings(BASE + 0x1000, 0, 0x2000_0001, Prot.READ)).toBe(0b0110);
      // A new epoch: nothing held, but code was translated from page 0x400.
      g.tlbFlushed();
      expect(g.prefillSiblings(BASE, 0, 0x2000_0001, Prot.READ)).toBe(0b1110);
      expect(g.prefillSiblings(BASE, 0, 0x2000_0001, Prot.READ | Prot.WRITE)).toBe(0b1100);
      // Pages 2 and 3 are now written through those entries in this epoch.
      expect(g.prefillSiblings(BASE, 1, 0x2000_0401, Prot.READ)).toBe(0b0001);
      expect(g.prefillSiblings(BASE + 0x1000, 0, 0x2000_0001, Prot.READ | Prot.WRITE)).toBe(0b1110);
    } finally {
      uc.close();
    }
  });
});

// The fill handler's code-page scan tells fill() whether the page holds an untranslatable word, so
// the guard does not read the page again; without that word from the caller, it scans itself.
describe('CodeGuard.fill: untranslatable words from the caller\'s scan', () => {
  it('shadows exactly the pages the scan (the caller\'s, or its own) found a word on', () => {
    const { g, uc, words } = guard();
    try {
      words[0x400 / 4 + 7] = SWEPT[0]!;
      const fill = (pa: number, key: number, hint?: boolean): number => {
        const out = { pa, perms: Prot.ALL };
        expect(g.fill(out, key, true, hint)).toBe(out.pa >= SHADOW_PA ? Prot.EXEC : Prot.READ | Prot.EXEC);
        return out.pa;
      };
      expect(fill(BASE + 0x400, 0x1000_0401)).toBeGreaterThanOrEqual(SHADOW_PA);
      expect(fill(BASE + 0x800, 0x1000_0801)).toBe(BASE + 0x800);
      expect(fill(BASE + 0xc00, 0x1000_0c01, true)).toBeGreaterThanOrEqual(SHADOW_PA);
      expect(fill(BASE + 0x1000, 0x1000_1001, false)).toBe(BASE + 0x1000);
      expect(g.stats.shadowPages).toBe(2);
    } finally {
      uc.close();
    }
  });
});

// CodeGuard.noteScan / cachedScan: a clean code-page scan's outcome holds while no entry that can
// write the page has been recorded since the scan's epoch began, and until a TB flush (writes from
// outside the CPU: the debugger, Machine writes).
describe('CodeGuard scan outcomes (noteScan, cachedScan)', () => {
  it('are kept across epochs, dropped by a writable entry of the page, not taken while one may be live, and forgotten at a TB flush', () => {
    const { g, uc, words } = guard();
    try {
      expect(g.cachedScan(BASE + 0x400, false)).toBe(-1);
      g.noteScan(BASE + 0x400, false, false);
      g.noteScan(BASE + 0x800, true, true);
      expect(g.cachedScan(BASE + 0x400, false)).toBe(0);
      expect(g.cachedScan(BASE + 0x800, false)).toBe(1);
      expect(g.cachedScan(BASE + 0x800, true)).toBe(-1); // a WFE on it, and WFE is hooked now
      g.tlbFlushed();
      expect(g.cachedScan(BASE + 0x400, false)).toBe(0);
      // A writable entry of the page is recorded (a data fill, or a sibling's): the outcome goes.
      g.fill({ pa: BASE + 0x400, perms: Prot.READ | Prot.WRITE }, 0x3000_0401, false);
      expect(g.cachedScan(BASE + 0x400, false)).toBe(-1);
      expect(g.prefillSiblings(BASE, 0, 0x3000_0001, Prot.READ | Prot.WRITE)).toBe(0b1100);
      expect(g.cachedScan(BASE + 0x800, false)).toBe(-1);
      // Not recorded while such an entry may be live (this epoch); recorded in the next one.
      g.noteScan(BASE + 0x400, false, false);
      expect(g.cachedScan(BASE + 0x400, false)).toBe(-1);
      g.tlbFlushed();
      g.noteScan(BASE + 0x400, false, false);
      g.noteScan(BASE + 0xc00, false, false);
      expect(g.cachedScan(BASE + 0x400, false)).toBe(0);
      // A read-only entry changes nothing.
      g.fill({ pa: BASE + 0xc00, perms: Prot.READ }, 0x3000_0c01, false);
      expect(g.cachedScan(BASE + 0xc00, false)).toBe(0);
      uc.flushTb();
      expect(g.cachedScan(BASE + 0x400, false)).toBe(-1);
      expect(g.cachedScan(BASE + 0xc00, false)).toBe(-1);
    } finally {
      uc.close();
    }
  });
});
