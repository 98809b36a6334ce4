/**
 * A trivial emulated device: a page of 32-bit registers that read back what
 * was written, and count the accesses they see. It stands for "an emulated
 * device next to a passthrough region" (seed 001): it is never mapped at
 * stage 2, so every access reaches it through a stage-2 fault and the
 * hypervisor's MMIO emulation, and the counters prove it.
 */
import type { AccessSize, MmioDevice } from '../memory/bus.js';
import { applyState, captureState, type RestoreContext, type SnapshotContext, type Snapshottable, type StateValue } from '../snapshot/state.js';

export class ScratchDevice implements Snapshottable, MmioDevice {
  /** Machine snapshots (emulator/snapshot/state.ts): every data field except name, base, size (wiring, host resources). */
  snapshot(ctx: SnapshotContext): StateValue {
    return captureState(this, ctx, ['name', 'base', 'size']);
  }
  restore(state: StateValue, ctx: RestoreContext): void {
    applyState(this, state, ctx);
  }

  private readonly regs: Uint32Array;
  reads = 0;
  writes = 0;

  constructor(
    readonly name: string,
    readonly base: number,
    readonly size: number,
  ) {
    this.regs = new Uint32Array(size / 4);
  }

  read(offset: number, size: AccessSize): number {
    this.reads++;
    const w = this.regs[offset >>> 2]! >>> ((offset & 3) * 8);
    return size >= 4 ? w >>> 0 : w & ((1 << (size * 8)) - 1);
  }

  write(offset: number, size: AccessSize, value: number): void {
    this.writes++;
    if (size >= 4) {
      this.regs[offset >>> 2] = value >>> 0;
      return;
    }
    const shift = (offset & 3) * 8;
    const mask = ((1 << (size * 8)) - 1) << shift;
    const i = offset >>> 2;
    this.regs[i] = ((this.regs[i]! & ~mask) | ((value << shift) & mask)) >>> 0;
  }
}
