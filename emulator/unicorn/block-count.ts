/**
 * Per-block instruction counting (native/insn-count.c, issue 10): the TypeScript side of the
 * native counter one Unicorn instance uses instead of uc_emu_start's per-instruction count
 * hook. It keeps Unicorn's own counter convention (instructions *started* in the slice, the one
 * at PC included), so the run loop reads the same numbers either way (uc.ts sliceCounter).
 *
 * The three offsets the C file needs into QEMU's private structures (CPUState.cflags_next_tb,
 * CPUState.mem_io_pc, and where unicorn_fill_tlb's `retaddr` argument lies from the
 * `uc_tlb_entry` it hands the fill hook) are calibrated once per process on a throw-away
 * Unicorn (calibrateBlockCounting in uc.ts) and each is checked by its effect, never assumed:
 * a libunicorn where any check fails keeps the per-instruction count.
 */
import { koffi, type InsnCountLib } from './ffi.js';

/** native flags (insn-count.c) */
const F_FETCH = 1;

export interface BlockCountOffsets {
  readonly cflags: number;
  readonly ioPc: number;
  readonly retaddr: number;
}

export class BlockCounter {
  private readonly u32: Uint32Array;

  constructor(
    readonly lib: InsnCountLib,
    readonly ptr: unknown,
  ) {
    this.u32 = new Uint32Array(koffi.view(ptr, lib.headerSize()));
  }

  setOffsets(o: BlockCountOffsets): void {
    this.lib.setOffsets(this.ptr, o.cflags, o.ioPc, o.retaddr);
  }

  begin(budget: number): void {
    this.lib.begin(this.ptr, budget);
  }

  /**
   * Instructions started in this slice with PC (exact) at `pc`: inside the block entered last,
   * the ones before PC in it and the one at PC; past it, every instruction of every block entered.
   */
  started(pc: number): number {
    const h = this.u32;
    const count = h[0]! + h[1]! * 0x1_0000_0000;
    const n = h[8]!;
    if (n !== 0 && (h[9]! & F_FETCH) === 0) {
      const start = (h[5]! | 0) * 0x1_0000_0000 + h[4]!;
      const d = pc - start;
      if (d >= 0 && d < n * 4) return h[6]! + h[7]! * 0x1_0000_0000 + d / 4 + 1;
    }
    return count;
  }

  /** A hook moved PC (from `pc`, exact) while the CPU runs: the rest of the block does not run. */
  settle(pc: number): void {
    this.lib.settle(this.ptr, pc);
  }

  /** Inside an MMIO callback: make PC exact (CPUState.mem_io_pc). */
  syncIoPc(): boolean {
    return this.lib.syncIoPc(this.ptr) === 1;
  }

  /** A data access asked the CPU to stop: at the end of the block (see insn-count.c). */
  stopNext(): void {
    this.lib.stopNext(this.ptr);
  }

  /** Blocks entered, budget splits and PC restorations so far (statistics). */
  get stats(): { blocks: number; splits: number; restores: number } {
    const h = this.u32;
    return { blocks: h[10]! + h[11]! * 0x1_0000_0000, splits: h[12]! + h[13]! * 0x1_0000_0000, restores: h[14]! + h[15]! * 0x1_0000_0000 };
  }
}
