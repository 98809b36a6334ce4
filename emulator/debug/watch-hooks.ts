/**
 * The debugger's watchpoints with several vCPUs (--smp N): a data-access hook per watchpoint on
 * every vCPU's core, so the vCPU that makes the access is the one that stops, wherever the
 * scheduler is. (With one vCPU the target decodes each instruction's address before running
 * it, vcpu-target.ts runWatched; with several, which vCPU runs next is the scheduler's business.)
 *
 * GDB wants the stop *before* the access (AArch64 watchpoints are non-steppable: it removes them,
 * steps, re-inserts). The core's hook runs before the access but cannot cancel it: the vCPU stops
 * there (PC on the instruction, not counted) and take() puts back what the instruction changed
 * (its registers, the bytes a store overwrote: emulator/cpu/abandoned-access.ts), so the guest is
 * exactly as before the instruction, which then runs once when GDB steps over it.
 */
import type { Vcpu } from '../cpu/vcpu.js';
import { captureAbandoned, type AbandonedAccess } from '../cpu/abandoned-access.js';
import { MemAccess } from '../unicorn/uc.js';
import type { WatchKind } from './target.js';
import { watchHit, type WatchRange } from './watch-range.js';

/** A watchpoint hit: the vCPU, the instruction, the watched address it touched. */
export interface WatchHit {
  readonly vcpu: number;
  readonly pc: number;
  readonly kind: WatchKind;
  readonly addr: bigint;
}

/** The widest single access the core reports (LD4/ST4 of Q registers, DC ZVA): the hook starts this far below the range. */
const WIDEST_ACCESS = 64n;

export class WatchHooks {
  private readonly hooks = new Map<string, number[]>();
  private hit: (WatchHit & { readonly undo: AbandonedAccess }) | null = null;

  /** `armed(i)`: whether vCPU i's hooks act now (not during a resume's first instruction, nor the stepped vCPU's step). */
  constructor(
    private readonly vcpus: readonly Vcpu[],
    private readonly armed: (vcpu: number) => boolean,
  ) {}

  add(w: WatchRange): void {
    const key = keyOf(w);
    if (this.hooks.has(key)) return;
    const end = BigInt.asUintN(64, w.addr + BigInt(w.length) - 1n);
    const lo = w.addr > WIDEST_ACCESS ? w.addr - WIDEST_ACCESS : 0n;
    this.hooks.set(
      key,
      this.vcpus.map((v, i) => v.uc.onMemAccess(lo, end, (type, address, size) => this.onAccess(i, w, type === MemAccess.WRITE, address, size))),
    );
  }

  remove(w: WatchRange): void {
    const handles = this.hooks.get(keyOf(w));
    if (handles === undefined) return;
    handles.forEach((h, i) => this.vcpus[i]!.uc.removeHook(h));
    this.hooks.delete(keyOf(w));
  }

  /** The hit the last run stopped on (null: none), with the guest put back as before its instruction. */
  take(): WatchHit | null {
    const h = this.hit;
    if (h === null) return null;
    this.hit = null;
    h.undo.restore();
    return { vcpu: h.vcpu, pc: h.pc, kind: h.kind, addr: h.addr };
  }

  /** Inside vCPU i's uc_emu_start, before an access of `size` bytes at `address` that may touch the range. */
  private onAccess(i: number, w: WatchRange, write: boolean, address: number, size: number): void {
    if (this.hit !== null || !this.armed(i)) return;
    const addr = watchHit(w, BigInt.asUintN(64, BigInt(address)), size, write);
    if (addr === null) return;
    const v = this.vcpus[i]!;
    this.hit = { vcpu: i, pc: v.pc, kind: w.kind, addr, undo: captureAbandoned(v, address, size, write) };
    v.stopBeforeCurrent();
  }
}

function keyOf(w: WatchRange): string {
  return `${w.kind}/${w.addr}/${w.length}`;
}
