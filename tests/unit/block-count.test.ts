// Per-block instruction counting (emulator/unicorn/native/insn-count.c, block-count.ts): Unicorn
// runs uncounted, a native block hook counts each translation block when it is entered, and the
// counter read anywhere (after a slice, inside a fill or MMIO hook) is Unicorn's own convention:
// instructions started, the one at PC included. What must hold, each checked against what the
// guest itself did (PC moved by 4 per straight-line instruction, x1 incremented by each ADD):
//  - a budget that ends inside a block stops exactly there (QEMU's cflags_next_tb short block);
//  - inside a data fill and an MMIO callback PC and the count are exact (not the block start);
//  - a refused data fill mid-block leaves PC on the load, the count on it;
//  - a stop asked from a data access runs the block to its end, and the count says so.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MemAccess, Prot, Reg, UC_ERR_EXCEPTION, UC_ERR_OK, Unicorn, blockCountOffsets } from '../../emulator/unicorn/uc.js';
import { packageRoot } from '../../emulator/package-root.js';

const RAM = 0x4000_0000;
const DATA = RAM + 0x2000; // another 1 KiB page: a data fill of its own
const HOLE = RAM + 0x3000; // refused
const MMIO = 0x0900_0000;
const ADD_X1 = 0x91000421; // add x1, x1, #1
const LDR_X2_X3 = 0xf9400062; // ldr x2, [x3]
const STR_W2_X4 = 0xb9000082; // str w2, [x4] (one 32-bit MMIO write)
const SELF = 0x14000000; // b .

const built = existsSync(join(packageRoot(), 'vendor/native/libhypemu-insn-count.so')) && process.env.HYPEMU_BLOCK_COUNT !== 'off';

let open: Unicorn[] = [];
afterEach(() => {
  for (const u of open) u.close();
  open = [];
});

/** RAM with `code` at RAM, identity fills for RAM (but HOLE) and the MMIO page. */
function machine(code: number[]) {
  const uc = new Unicorn();
  open.push(uc);
  const ram = Unicorn.allocShared(0x4000);
  const dv = new DataView(ram.bytes.buffer, ram.bytes.byteOffset, 0x4000);
  code.forEach((w, i) => dv.setUint32(i * 4, w, true));
  uc.mapShared(RAM, ram);
  expect(uc.enableBlockCounting()).toBe(true);
  const seen: Array<{ what: string; pc: number; started: number }> = [];
  let stopInFill = false;
  uc.onTlbFill((va, type) => {
    if (type !== MemAccess.FETCH && (va === DATA || va === HOLE)) {
      seen.push({ what: va === HOLE ? 'hole' : 'fill', pc: uc.regReadNum(Reg.PC), started: uc.sliceCounter() });
      if (stopInFill) uc.emuStop();
    }
    if (va === HOLE) return null;
    if ((va >= RAM && va < RAM + 0x4000) || (va >= MMIO && va < MMIO + 0x1000)) return { pa: va, perms: Prot.ALL };
    return null;
  });
  uc.mapMmio(MMIO, 0x1000, () => 0, () => {
    seen.push({ what: 'mmio', pc: uc.regReadNum(Reg.PC), started: uc.sliceCounter() });
  });
  uc.regWrite(Reg.X0 + 3, DATA);
  uc.regWrite(Reg.X0 + 4, MMIO);
  return { uc, seen, stopInFill: () => (stopInFill = true) };
}

describe.skipIf(!built)('per-block instruction counting', () => {
  it('calibrates on this libunicorn (offsets checked by effect)', () => {
    const o = blockCountOffsets();
    expect(o).not.toBeNull();
    expect(o!.cflags).toBeGreaterThanOrEqual(0);
  });

  it('a budget ending inside a 200-instruction block stops exactly there, for every split', () => {
    const n = 200;
    const { uc } = machine([...Array<number>(n).fill(ADD_X1), SELF]);
    let pc = RAM;
    let done = 0;
    for (let k = 1; done + k <= n; k += 7) {
      expect(uc.emuStart(pc, k)).toBe(UC_ERR_OK);
      expect(uc.countingMode).toBe('block');
      // Unicorn's convention: the budget's next instruction counts as started.
      expect(uc.sliceCounter()).toBe(k + 1);
      done += k;
      pc = uc.regReadNum(Reg.PC);
      expect(pc).toBe(RAM + 4 * done);
      expect(uc.regRead(Reg.X0 + 1)).toBe(BigInt(done));
    }
    expect(uc.blockCountStats!.splits).toBeGreaterThan(0);
  });

  it('while a code hook exists (a breakpoint) it counts per instruction; after, per block again; PC exact throughout', () => {
    const n = 40;
    const { uc } = machine([...Array<number>(n).fill(ADD_X1), SELF]);
    let pc = RAM;
    let done = 0;
    const step = (mode: 'block' | 'insn') => {
      expect(uc.emuStart(pc, 1)).toBe(UC_ERR_OK);
      expect(uc.countingMode).toBe(mode);
      done++;
      pc = uc.regReadNum(Reg.PC);
      expect(pc).toBe(RAM + 4 * done);
      expect(uc.regRead(Reg.X0 + 1)).toBe(BigInt(done));
    };
    step('block');
    const hh = uc.onCode(HOLE, HOLE, () => {});
    for (let i = 0; i < 5; i++) step('insn');
    uc.removeHook(hh);
    for (let i = 0; i < 5; i++) step('block');
  });

  it('inside a data fill and an MMIO store, PC and the count are those of the access, mid-block', () => {
    const code = [ADD_X1, ADD_X1, ADD_X1, LDR_X2_X3, ADD_X1, ADD_X1, STR_W2_X4, ADD_X1, SELF];
    const { uc, seen } = machine(code);
    expect(uc.emuStart(RAM, 8)).toBe(UC_ERR_OK);
    expect(seen).toEqual([
      { what: 'fill', pc: RAM + 12, started: 4 },
      { what: 'mmio', pc: RAM + 24, started: 7 },
    ]);
    expect(uc.regReadNum(Reg.PC)).toBe(RAM + 32);
    expect(uc.regRead(Reg.X0 + 1)).toBe(6n);
  });

  it('a refused data fill mid-block stops on the load: PC there, counted as started', () => {
    const { uc, seen } = machine([ADD_X1, ADD_X1, LDR_X2_X3, ADD_X1, ADD_X1, SELF]);
    uc.regWrite(Reg.X0 + 3, HOLE);
    expect(uc.emuStart(RAM, 100)).toBe(UC_ERR_EXCEPTION);
    expect(uc.regReadNum(Reg.PC)).toBe(RAM + 8);
    expect(uc.sliceCounter()).toBe(3);
    expect(uc.regRead(Reg.X0 + 1)).toBe(2n);
    expect(seen.map((s) => s.what)).toEqual(['hole']);
  });

  it('a stop asked from a data fill runs the block to its end, and counts all of it', () => {
    const { uc, seen, stopInFill } = machine([ADD_X1, LDR_X2_X3, ADD_X1, ADD_X1, ADD_X1, 0x14000002 /* b +8 */, ADD_X1, ADD_X1, SELF]);
    stopInFill();
    expect(uc.emuStart(RAM, 100)).toBe(UC_ERR_OK);
    expect(seen).toEqual([{ what: 'fill', pc: RAM + 4, started: 2 }]);
    // The block [0, 24) ran whole (through the branch), the one at its target did not start.
    expect(uc.regReadNum(Reg.PC)).toBe(RAM + 28);
    expect(uc.sliceCounter()).toBe(6);
    expect(uc.regRead(Reg.X0 + 1)).toBe(4n);
  });
});
