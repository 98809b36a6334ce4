// Unicorn's TLB flushed page by page (emulator/unicorn/native/tlb-flush.c, Unicorn.flushTlbPages):
// after the fill hook's answer for a VA changes, only a flush of that VA's 1 KiB pages makes the
// CPU ask again; the other pages keep their (still right) entries. Without the flush the CPU keeps
// reading the old page, which is what a TLBI by VA must prevent (README "The native TLB page flush").
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Prot, Reg, Unicorn } from '../../emulator/unicorn/uc.js';
import { nativeTlbLib } from '../../emulator/unicorn/ffi.js';
import { packageRoot } from '../../emulator/package-root.js';

const RAM = 0x4000_0000;
const CODE = RAM; // ldr x1, [x0]; ldr x2, [x0]  (the second only so that a 1-instruction slice ends cleanly)
const PAGE_A = RAM + 0x1000;
const PAGE_B = RAM + 0x2000;
const VA = 0x1000_0000;

const built = existsSync(join(packageRoot(), 'vendor/native/libhypemu-tlb-flush.so')) && process.env.HYPEMU_TLB_PAGE_FLUSH !== 'off';

function machine(): { uc: Unicorn; target: { page: number }; fills: number[]; load: (va: number) => bigint } {
  const uc = new Unicorn();
  const ram = Unicorn.allocShared(0x4000);
  const dv = new DataView(ram.bytes.buffer, ram.bytes.byteOffset, 0x4000);
  dv.setUint32(0, 0xf9400001, true); // ldr x1, [x0]
  dv.setUint32(4, 0xf9400002, true); // ldr x2, [x0]
  for (let off = 0; off < 0x1000; off += 8) {
    dv.setBigUint64(PAGE_A - RAM + off, 0xa000n + BigInt(off), true);
    dv.setBigUint64(PAGE_B - RAM + off, 0xb000n + BigInt(off), true);
  }
  uc.mapShared(RAM, ram);
  const target = { page: PAGE_A };
  const fills: number[] = [];
  uc.onTlbFill((va) => {
    if (va >= RAM && va < RAM + 0x4000) return { pa: va, perms: Prot.ALL };
    if (va >= VA && va < VA + 0x1000) {
      fills.push(va);
      return { pa: target.page + (va - VA), perms: Prot.READ | Prot.WRITE };
    }
    return null;
  });
  const load = (va: number): bigint => {
    uc.regWrite(Reg.X0, va);
    expect(uc.emuStart(CODE, 1)).toBe(0);
    return uc.regRead(Reg.X0 + 1);
  };
  return { uc, target, fills, load };
}

describe('Unicorn.flushTlbPages (native tlb_flush_page)', () => {
  it.skipIf(!built)('drops exactly the 1 KiB pages named: the next access asks the fill hook again', () => {
    const { uc, target, fills, load } = machine();
    try {
      expect(load(VA + 0x800)).toBe(0xa800n);
      expect(load(VA + 0x10)).toBe(0xa010n);
      expect(fills).toEqual([VA + 0x800, VA]);
      target.page = PAGE_B;
      // Not flushed: both entries stand (what a TLBI by VA must not leave behind).
      expect(load(VA + 0x800)).toBe(0xa800n);
      // The sub-page at +0x800 only: that one is asked again, the one at +0 is still cached.
      expect(uc.flushTlbPages(new Float64Array([VA + 0x800]), 1)).toBe(true);
      // The CPU-state search (first call) wrote markers to X0/X1 and put them back.
      expect(uc.regRead(Reg.X0)).toBe(BigInt(VA + 0x800));
      expect(uc.regRead(Reg.X0 + 1)).toBe(0xa800n);
      expect(load(VA + 0x800)).toBe(0xb800n);
      expect(load(VA + 0x10)).toBe(0xa010n);
      expect(fills).toEqual([VA + 0x800, VA, VA + 0x800]);
      // The whole 4 KiB page: every sub-page is asked again.
      expect(uc.flushTlbPages(new Float64Array([VA, VA + 0x400, VA + 0x800, VA + 0xc00]), 4)).toBe(true);
      expect(load(VA + 0x10)).toBe(0xb010n);
      expect(load(VA + 0xc08)).toBe(0xbc08n);
    } finally {
      uc.close();
    }
  });
});

// tb_gen_code's dirty scan routed to a flush of the block's pages (tlb-flush.c
// hypemu_tlb_reset_dirty_patch, README "tb_gen_code's dirty scan"): a store through a writable
// entry that was already made dirty (its first store took notdirty_write) before a block was
// translated from the page must still invalidate that block. If the replacement did nothing, the
// second store would take the fast path and the old block would run again.
describe('tb_gen_code dirty scan (native replacement)', () => {
  const patched = built && process.env.HYPEMU_RESET_DIRTY !== 'off';
  it.skipIf(!patched)('a store to a page whose entry was dirty before a block was translated from it still invalidates the block', () => {
    const uc = new Unicorn();
    expect(nativeTlbLib()?.patchResetDirty?.()).toBe(0); // done at open; again is a no-op
    const ram = Unicorn.allocShared(0x4000);
    const dv = new DataView(ram.bytes.buffer, ram.bytes.byteOffset, 0x4000);
    const STORE = RAM; // str w2, [x0]
    const TARGET = RAM + 0x400; // movz x1, #n; then the same again (a 1-instruction slice ends cleanly)
    const movz = (n: number): number => 0xd2800001 | (n << 5);
    dv.setUint32(0, 0xb9000002, true);
    dv.setUint32(4, 0xb9000002, true);
    dv.setUint32(0x404, movz(9), true);
    uc.mapShared(RAM, ram);
    uc.onTlbFill((va) => (va >= RAM && va < RAM + 0x4000 ? { pa: va, perms: Prot.ALL } : null));
    const store = (insn: number): void => {
      uc.regWrite(Reg.X0, TARGET);
      uc.regWrite(Reg.X0 + 2, insn);
      expect(uc.emuStart(STORE, 1)).toBe(0);
    };
    const run = (): bigint => {
      expect(uc.emuStart(TARGET, 1)).toBe(0);
      return uc.regRead(Reg.X0 + 1);
    };
    try {
      store(movz(1)); // the entry's first store: notdirty_write, then the entry is dirty
      expect(run()).toBe(1n); // a block translated from the page
      store(movz(2));
      expect(run()).toBe(2n);
      store(movz(3));
      expect(run()).toBe(3n);
    } finally {
      uc.close();
    }
  });
});
