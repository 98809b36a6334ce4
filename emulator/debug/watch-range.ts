/**
 * GDB watchpoints (Z2 write, Z3 read, Z4 access, each over [addr, addr + length)) and when a data
 * access hits one: the one rule every target applies, whether it decodes the next instruction's
 * address before running it (vcpu-target.ts, one vCPU), sees the core's data-access hook
 * (watch-hooks.ts, several vCPUs) or executes a toy instruction (tests/unit/fake-target.ts).
 */
import type { WatchKind } from './target.js';

export interface WatchRange {
  readonly kind: WatchKind;
  readonly addr: bigint;
  readonly length: number;
}

/**
 * The watched address an access of `size` bytes at `start` touches (the first watched byte: GDB's
 * `watch:ADDR` in the stop reply), or null when the access misses the range or is of the kind
 * the watchpoint does not watch.
 */
export function watchHit(w: WatchRange, start: bigint, size: number, write: boolean): bigint | null {
  if (w.kind !== 'access' && (w.kind === 'write') !== write) return null;
  if (start + BigInt(size) <= w.addr || start >= w.addr + BigInt(w.length)) return null;
  return start > w.addr ? start : w.addr;
}

const same = (a: WatchRange, b: WatchRange): boolean => a.kind === b.kind && a.addr === b.addr && a.length === b.length;

/** The watchpoints a target holds, in insertion order; inserting one twice is a no-op (DebugTarget.addBreakpoint). */
export class WatchList {
  private readonly list: WatchRange[] = [];

  get size(): number {
    return this.list.length;
  }

  /** False when the same watchpoint is already set. */
  add(w: WatchRange): boolean {
    if (this.list.some((x) => same(x, w))) return false;
    this.list.push({ kind: w.kind, addr: w.addr, length: w.length });
    return true;
  }

  /** False when it was not set. */
  remove(w: WatchRange): boolean {
    const i = this.list.findIndex((x) => same(x, w));
    if (i < 0) return false;
    this.list.splice(i, 1);
    return true;
  }

  /** The first watchpoint an access hits: its kind and the watched address touched; null when none. */
  firstHit(start: bigint, size: number, write: boolean): { readonly watch: WatchKind; readonly addr: bigint } | null {
    for (const w of this.list) {
      const addr = watchHit(w, start, size, write);
      if (addr !== null) return { watch: w.kind, addr };
    }
    return null;
  }
}
