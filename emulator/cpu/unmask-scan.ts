/**
 * Where an interrupt that is pending but masked must next be looked at.
 *
 * An interrupt becomes visible at the instruction after the one that unmasks
 * it (Arm ARM D1.3.6 "Asynchronous exception masking": a write to PSTATE.{I,F}
 * by MSR DAIFClr / MSR DAIF, or an exception return restoring them from SPSR,
 * takes effect for the next instruction; QEMU ends its translation block after
 * each of them and takes the interrupt there). Unicorn is never told about our
 * interrupts, so the run loop itself must stop right after such an
 * instruction. While an interrupt is pending and masked, each slice runs the
 * straight-line code from PC up to and including the first instruction that
 * can change PSTATE.I or leave the straight line (branches, exception
 * returns, exception-generating instructions): the next slice starts where the
 * unmask became visible, or at a branch target that is scanned again.
 */

/**
 * The number of instructions from `words[index]` up to and including the first
 * one that can unmask or change the flow, at most `max` and never past `end`
 * (the words of one translated page). At least 1.
 */
export function straightLineCount(words: Uint32Array, index: number, end: number, max: number): number {
  const last = Math.min(end, index + max);
  for (let i = index; i < last; i++) {
    if (endsStraightLine(words[i]! >>> 0)) return i - index + 1;
  }
  return Math.max(1, last - index);
}

/**
 * A64 "Branches, exception generating and system instructions" (op0 = x101,
 * C4.1): every branch (B, BL, B.cond, CBZ/CBNZ, TBZ/TBNZ, BR/BLR/RET/ERET and
 * their pointer-authenticated forms) and exception generation (SVC, HVC, SMC,
 * BRK, HLT) end the straight line; of the system instructions only the PSTATE
 * mask writes do: MSR DAIFClr, #imm (MSR immediate, op1 = 3, op2 = 7) and
 * MSR DAIF, Xt (S3_3_C4_C2_1).
 */
export function endsStraightLine(w: number): boolean {
  if (((w >>> 26) & 7) !== 5) return false;
  if ((w >>> 24) === 0xd5) {
    return ((w & 0xfffff0ff) >>> 0) === 0xd50340ff || ((w & 0xffffffe0) >>> 0) === 0xd51b4220;
  }
  return true;
}
