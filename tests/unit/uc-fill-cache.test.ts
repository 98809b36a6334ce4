// The native fill cache (emulator/unicorn/native/fill-cache.c, Unicorn.cacheFill): a TLB entry
// the fill handler marked repeatable is answered again in C when Unicorn asks for it again after
// evicting it, without calling the handler, and never after Unicorn's TLB was flushed (whole or
// by page), the cache was dropped, the address space (TTBR0/1_EL1) differs, or at an LDTR/STTR
// site. QEMU's TLB is direct-mapped by VA (index = VA[17:10] with its 256 default entries, plus
// an 8-entry victim TLB), so 16 pages 256 KiB apart evict each other.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Prot, Reg, Unicorn } from '../../emulator/unicorn/uc.js';
import { packageRoot } from '../../emulator/package-root.js';

const RAM = 0x4000_0000;
const CODE = RAM; // ldr x1, [x0]; ldr x2, [x0]
const PAGE_A = RAM + 0x1000;
const PAGE_B = RAM + 0x2000;
const VA = 0x1000_0000;
const STRIDE = 0x4_0000;
const N = 16;
/** QEMU's MMU index at EL1 with PAN clear (the CPU resets at EL1h): the handler's key is VA + 1. */
const EL1 = 1;

const built = existsSync(join(packageRoot(), 'vendor/native/libhypemu-fill-cache.so')) && process.env.HYPEMU_FILL_CACHE !== 'off';

function machine() {
  const uc = new Unicorn();
  const ram = Unicorn.allocShared(0x4000);
  const dv = new DataView(ram.bytes.buffer, ram.bytes.byteOffset, 0x4000);
  dv.setUint32(0, 0xf9400001, true); // ldr x1, [x0]
  dv.setUint32(4, 0xf9400002, true); // ldr x2, [x0]
  for (let off = 0; off < 0x400; off += 8) {
    dv.setBigUint64(PAGE_A - RAM + off, 0xa000n + BigInt(off), true);
    dv.setBigUint64(PAGE_B - RAM + off, 0xb000n + BigInt(off), true);
  }
  uc.mapShared(RAM, ram);
  const state = { page: PAGE_A, cache: true };
  const fills: number[] = [];
  uc.onTlbFill((va) => {
    if (va >= RAM && va < RAM + 0x4000) return { pa: va, perms: Prot.ALL };
    if (va >= VA && va < VA + N * STRIDE && va % STRIDE === 0) {
      fills.push(va);
      if (state.cache) uc.cacheFill(va + EL1);
      return { pa: state.page, perms: Prot.READ | Prot.WRITE };
    }
    return null;
  });
  const load = (va: number): bigint => {
    uc.regWrite(Reg.X0, va);
    expect(uc.emuStart(CODE, 1)).toBe(0);
    return uc.regRead(Reg.X0 + 1);
  };
  /** Load every page once: the values read, and how many fills reached the handler. */
  const sweep = (): { values: bigint[]; handled: number } => {
    const before = fills.length;
    const values: bigint[] = [];
    for (let i = 0; i < N; i++) values.push(load(VA + i * STRIDE + 8));
    return { values, handled: fills.length - before };
  };
  return { uc, state, fills, load, sweep };
}

describe('native fill cache (Unicorn.cacheFill)', () => {
  it.skipIf(!built)('answers a refill of an evicted entry in C, with the handler\'s answer', () => {
    const { uc, sweep } = machine();
    try {
      expect(uc.hasFillCache).toBe(true);
      const first = sweep();
      expect(first.values).toEqual(Array(N).fill(0xa008n));
      expect(first.handled).toBe(N);
      const hits = uc.fillCacheHits;
      const again = sweep();
      expect(again.values).toEqual(Array(N).fill(0xa008n));
      // QEMU evicted (most of) them: Unicorn asked again, and C answered every one of those.
      expect(again.handled).toBe(0);
      expect(uc.fillCacheHits - hits).toBeGreaterThanOrEqual(N - 9);
    } finally {
      uc.close();
    }
  });

  it.skipIf(!built)('asks the handler again after a flush, a page flush, a drop, an address-space change, or at an LDTR/STTR site', () => {
    const { uc, state, fills, load, sweep } = machine();
    try {
      sweep();
      state.page = PAGE_B;
      // A cached answer is a TLB entry: still the old page until something invalidates it.
      expect(sweep().values).toEqual(Array(N).fill(0xa008n));
      // By page: only VA's entry goes (from Unicorn's TLB and from the cache).
      if (uc.flushTlbPages(new Float64Array([VA]), 1)) {
        expect(load(VA + 8)).toBe(0xb008n);
        expect(sweep().values.slice(1)).toEqual(Array(N - 1).fill(0xa008n));
      }
      // Whole flush: everything is asked for again.
      uc.flushTlb();
      let s = sweep();
      expect(s.values).toEqual(Array(N).fill(0xb008n));
      expect(s.handled).toBe(N);
      state.page = PAGE_A;
      uc.dropFillCache();
      uc.flushTlb();
      sweep();
      // Another TTBR0_EL1: no answer made under the old one is repeated.
      state.page = PAGE_B;
      uc.regWrite(Reg.TTBR0_EL1, 0x4000_3000);
      s = sweep();
      expect(s.handled).toBeGreaterThanOrEqual(N - 9);
      expect(s.values.filter((v) => v === 0xb008n).length).toBe(s.handled);
      // Switched off: every fill reaches the handler.
      uc.setFillCacheEnabled(false, false);
      expect(sweep().handled).toBeGreaterThanOrEqual(N - 9);
      uc.setFillCacheEnabled(true, false);
      // A data fill whose PC is an LDTR/STTR site has EL0's MMU index: never answered from the cache.
      sweep();
      uc.addUnprivilegedSite(CODE);
      const n = fills.length;
      s = sweep();
      expect(s.handled).toBeGreaterThanOrEqual(N - 9);
      expect(fills.length - n).toBe(s.handled);
    } finally {
      uc.close();
    }
  });

  it.skipIf(!built)('repeats nothing the handler did not mark', () => {
    const { uc, state, sweep } = machine();
    try {
      state.cache = false;
      sweep();
      expect(sweep().handled).toBeGreaterThanOrEqual(N - 9);
      expect(uc.fillCacheHits).toBe(0);
    } finally {
      uc.close();
    }
  });
});
