/**
 * The native TLBI front's shared state (native/tlb-flush.c, "The native TLBI front"): which
 * encodings C may complete itself, the regions where Unicorn may hold entries filled from
 * translations larger than 4 KiB (there C defers to JavaScript: the model TLB knows which of
 * their pages to flush), and the queue of TLBIs C completed, which the model TLB must still
 * learn of. Views over the C struct, made once; nothing here calls the FFI.
 *
 * Also the IC IVAU gate's state (tlb-flush.c "The IC IVAU gate"): whether C may let an IC IVAU
 * run without JavaScript, and the physical 1 KiB pages whose code snapshot a TLB entry received
 * since Unicorn's TLB was last flushed whole (emulator/cpu/code-guard.ts keeps it).
 */
import { koffi } from './ffi.js';
import type { TlbFlushLib } from './ffi.js';

const TWO21 = 2 ** 21;
const TWO30 = 2 ** 30;

export class TlbiFront {
  /** [0] records queued, [1] enabled, [2] block tables overflowed (C defers everything). */
  readonly ctl: Uint32Array;
  /** Xt of each queued record as two little-endian 32-bit words. */
  readonly xt: Uint32Array;
  /** The packed encoding (op0:op1:CRn:CRm:op2) of each queued record. */
  readonly keys: Uint32Array;
  /** One bit per packed encoding C may complete (TLBI by VA rows routed native at EL1). */
  readonly bits: Uint8Array;
  private readonly blocks2m: Float64Array;
  private readonly blocks1g: Float64Array;
  private readonly handledView: BigUint64Array;
  private readonly slots: number;
  private used2m = 0;
  private used1g = 0;
  /** [0] IC IVAU gate enabled, [1] its page set overflowed (every IC IVAU to JavaScript); null: no gate in this library. */
  private readonly icCtl: Uint32Array | null = null;
  private readonly icHandledView: BigUint64Array | null = null;
  private readonly icPages: Float64Array | null = null;
  private icUsed = 0;

  constructor(
    readonly ptr: unknown,
    layout: NonNullable<TlbFlushLib['front']>['layout'],
    icLayout: NonNullable<TlbFlushLib['front']>['icLayout'] = null,
  ) {
    const size = layout(0);
    const dims = layout(-1);
    const ring = dims & 0xffff;
    this.slots = dims >>> 16;
    const ab = koffi.view(ptr, size);
    this.ctl = new Uint32Array(ab, 0, 4);
    this.handledView = new BigUint64Array(ab, 16, 1);
    this.xt = new Uint32Array(ab, layout(1), ring * 2);
    this.keys = new Uint32Array(ab, layout(2), ring);
    this.bits = new Uint8Array(ab, layout(3), 65536 / 8);
    this.blocks2m = new Float64Array(ab, layout(4), this.slots);
    this.blocks1g = new Float64Array(ab, layout(5), this.slots);
    const icAt = icLayout?.(ptr, 0) ?? 0;
    if (icAt > 0) {
      this.icCtl = new Uint32Array(ab, icAt, 2);
      this.icHandledView = new BigUint64Array(ab, icAt + 8, 1);
      this.icPages = new Float64Array(ab, icAt + 16, icLayout!(ptr, 1));
    }
  }

  /** Does this library have the IC IVAU gate? */
  get hasIcGate(): boolean {
    return this.icCtl !== null;
  }

  /** IC IVAUs C let run without JavaScript (their page held no code snapshot). */
  get icHandled(): number {
    return this.icHandledView === null ? 0 : Number(this.icHandledView[0]!);
  }

  /** May C let an IC IVAU whose page holds no snapshot run natively (one vCPU, IC IVAU routed native)? */
  setIcGate(on: boolean): void {
    if (this.icCtl !== null) this.icCtl[0] = on ? 1 : 0;
  }

  /** A TLB entry received a code snapshot of the RAM page at physical `pa` (1 KiB aligned): IC IVAU there goes to JavaScript. */
  addIcPage(pa: number): void {
    const set = this.icPages;
    if (set === null) return;
    const k = Math.floor(pa / 0x400);
    const n = set.length;
    for (let i = 0; i < n; i++) {
      const j = (k + i) % n;
      const cur = set[j]!;
      if (cur === k + 1) return;
      if (cur === 0) {
        set[j] = k + 1;
        if (++this.icUsed * 2 > n) this.icCtl![1] = 1;
        return;
      }
    }
    this.icCtl![1] = 1;
  }

  /** Unicorn's TLB was flushed whole: no entry holds a snapshot. */
  clearIcPages(): void {
    if (this.icPages === null) return;
    if (this.icUsed > 0) this.icPages.fill(0);
    this.icUsed = 0;
    this.icCtl![1] = 0;
  }

  /** TLBIs C completed so far. */
  get handled(): number {
    return Number(this.handledView[0]!);
  }

  /**
   * A fill answered from a translation of 2^sizeLog2 bytes at `va` (signed): beyond 4 KiB, a TLBI
   * of any page in its region goes to JavaScript until Unicorn's TLB is next flushed whole.
   */
  noteBlock(va: number, sizeLog2: number): void {
    if (sizeLog2 <= 12) return;
    if (sizeLog2 <= 21) {
      if (this.insert(this.blocks2m, Math.floor(va / TWO21))) this.used2m++;
      if (this.used2m * 2 > this.slots) this.ctl[2] = 1;
    } else if (sizeLog2 <= 30) {
      if (this.insert(this.blocks1g, Math.floor(va / TWO30))) this.used1g++;
      if (this.used1g * 2 > this.slots) this.ctl[2] = 1;
    } else this.ctl[2] = 1;
  }

  /** Unicorn's TLB was flushed whole: it holds nothing from any block. */
  clearBlocks(): void {
    if (this.used2m > 0) this.blocks2m.fill(0);
    if (this.used1g > 0) this.blocks1g.fill(0);
    this.used2m = this.used1g = 0;
    this.ctl[2] = 0;
  }

  /** Open addressing as tlb-flush.c's in_blocks reads it: slot k mod slots and on, value 2k + 1. Returns true when added. */
  private insert(set: Float64Array, k: number): boolean {
    const n = this.slots;
    const v = 2 * k + 1;
    const start = ((k % n) + n) % n;
    for (let i = 0; i < n; i++) {
      const j = (start + i) % n;
      const cur = set[j]!;
      if (cur === v) return false;
      if (cur === 0) {
        set[j] = v;
        return true;
      }
    }
    this.ctl[2] = 1;
    return false;
  }
}
