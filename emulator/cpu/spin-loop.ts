/**
 * Is a vCPU spinning: is its PC inside a short loop that waits with YIELD or WFE and can change
 * nothing but its own registers? The SMP scheduler's spin warp (smp-scheduler.ts) asks this at
 * the end of a full quantum; when every powered vCPU is idle or spinning, no instruction any of
 * them runs can change what another one sees, so only a timer can end the wait and virtual time
 * jumps to the next deadline (as QEMU's icount warp does for idle CPUs).
 *
 * Why the guest cannot tell: a YIELD is a hint and a WFE may wait for an event or an interrupt
 * (Arm ARM C6.2 "YIELD", "WFE"; D1.6 "Mechanisms for entering a low-power state"); how long
 * either takes is not architected. A loop that only loads, computes in registers and branches
 * sees the same values on every iteration while nobody else writes memory; a countdown in a
 * register (kvm-unit-tests' `while (!irq_received && tries--) cpu_relax();`) still counts the
 * same iterations, each of them just took longer.
 *
 * The check is static and reads only guest code, so it is deterministic: the loop is found by
 * scanning forward from PC to the first backward branch whose target is at or before PC (the
 * loop's back edge, at most MAX_LOOP instructions), and every instruction of [target, back edge]
 * must be one of (Arm ARM C4.1 "A64 instruction set encoding"):
 *   - data processing, immediate (op0 = 100x) or register (x101), SIMD&FP data processing (x111);
 *   - a load (op0 = x1x0, decoded: no store, no atomic, no store-exclusive);
 *   - B, B.cond, CBZ/CBNZ, TBZ/TBNZ (C4.1.3; BL, BR, BLR, RET leave the loop: no);
 *   - the hints NOP, YIELD, WFE, SEVL and the barriers CLREX, DSB, DMB, ISB (C4.1.3 "Hints",
 *     "Barriers"); no other system instruction (an MRS of the counter is the counter-polling
 *     warp's case, virtual-time.ts; WFI idles the vCPU, which the scheduler handles itself);
 * and at least one of them must be a YIELD or a WFE.
 */
import { decodeMemAccess } from './decode.js';

/** Longest loop recognised (instructions from the back edge's target to the back edge). */
export const MAX_LOOP = 16;

const YIELD = 0xd503203f;
const WFE = 0xd503205f;

/** What one instruction is to the spin check. */
type SpinClass =
  | { kind: 'pure' } // computes in registers or loads
  | { kind: 'wait' } // YIELD or WFE
  | { kind: 'branch'; target: number; always: boolean }
  | { kind: 'other' };

const PURE: SpinClass = { kind: 'pure' };
const WAIT: SpinClass = { kind: 'wait' };
const OTHER: SpinClass = { kind: 'other' };
const noRegs = (): bigint => 0n;

const sext = (v: number, bits: number): number => (v << (32 - bits)) >> (32 - bits);

/** Classify the instruction `w` at `va` (C4.1). */
export function classify(w: number, va: number): SpinClass {
  w >>>= 0;
  // Branches, exception generating and system instructions: op0 = 101x.
  if ((w & 0x1c000000) >>> 0 === 0x14000000) {
    if ((w & 0xfc000000) >>> 0 === 0x14000000) return { kind: 'branch', target: va + sext(w & 0x3ffffff, 26) * 4, always: true }; // B
    if ((w & 0xff000010) >>> 0 === 0x54000000) return { kind: 'branch', target: va + sext((w >>> 5) & 0x7ffff, 19) * 4, always: false }; // B.cond
    if ((w & 0x7e000000) >>> 0 === 0x34000000) return { kind: 'branch', target: va + sext((w >>> 5) & 0x7ffff, 19) * 4, always: false }; // CBZ/CBNZ
    if ((w & 0x7e000000) >>> 0 === 0x36000000) return { kind: 'branch', target: va + sext((w >>> 5) & 0x3fff, 14) * 4, always: false }; // TBZ/TBNZ
    if (w === YIELD || w === WFE) return WAIT;
    if (w === 0xd503201f || w === 0xd50320bf) return PURE; // NOP, SEVL
    // CLREX (op2 = 010), DSB (100), DMB (101), ISB (110): CRm is the option, Rt = 11111.
    if ((w & 0xfffff01f) >>> 0 === 0xd503301f) {
      const op2 = (w >>> 5) & 7;
      if (op2 === 2 || op2 === 4 || op2 === 5 || op2 === 6) return PURE;
    }
    return OTHER;
  }
  // Data processing: immediate (100x), register (x101), SIMD&FP (x111).
  if ((w & 0x1c000000) >>> 0 === 0x10000000) return PURE;
  if ((w & 0x0e000000) >>> 0 === 0x0a000000) return PURE;
  if ((w & 0x0e000000) >>> 0 === 0x0e000000) return PURE;
  // Loads and stores (x1x0): only a load that writes nothing to memory.
  if ((w & 0x0a000000) >>> 0 === 0x08000000) {
    const a = decodeMemAccess(w, noRegs);
    return a !== null && !a.isWrite && a.isAtomic !== true ? PURE : OTHER;
  }
  return OTHER;
}

/**
 * Does `pc` sit in a spin loop (see the header)? `read(va)` is the instruction word the vCPU
 * would fetch at `va`, or null when it cannot be fetched.
 */
export function inSpinLoop(pc: number, read: (va: number) => number | null): boolean {
  // Find the back edge: the first backward branch at or after pc whose target is at or before pc.
  let edge = -1;
  let start = -1;
  for (let k = 0; k < MAX_LOOP; k++) {
    const va = pc + 4 * k;
    const w = read(va);
    if (w === null) return false;
    const c = classify(w, va);
    if (c.kind === 'other') return false;
    if (c.kind !== 'branch') continue;
    if (c.target <= pc) {
      edge = va;
      start = c.target;
      break;
    }
    // A forward branch may leave the loop (an exit test); an unconditional one, or a backward
    // one into an inner loop that does not hold pc, ends the straight line: not recognised.
    if (c.always || c.target <= va) return false;
  }
  if (edge < 0 || (edge - start) / 4 + 1 > MAX_LOOP) return false;
  let waits = false;
  for (let va = start; va <= edge; va += 4) {
    const w = read(va);
    if (w === null) return false;
    const c = classify(w, va);
    if (c.kind === 'other') return false;
    if (c.kind === 'wait') waits = true;
  }
  return waits;
}
