/**
 * A64 Advanced SIMD load/store structures (Arm ARM C4.1 "Advanced SIMD load/store multiple
 * structures", "... single structure"): LD1-LD4/ST1-ST4 of whole registers or one lane, and
 * LD1R-LD4R, with no offset or post-index. The access spans every register (or element) moved.
 */
import { base, bits, wrap, type Insn, type MemAccess } from './decode-access.js';

/** SIMD load/store multiple structures (LD1-LD4 / ST1-ST4), no offset or post-index. */
export function decodeSimdMultiple(i: Insn): MemAccess | null {
  const insn = i.word;
  const postIdx = (insn & 0xbfa00000) >>> 0 === 0x0c800000;
  const { rt, rn } = i;
  const Q = bits(insn, 30, 30);
  const L = bits(insn, 22, 22);
  const opcode = bits(insn, 15, 12);
  const regsByOpcode: Record<number, [number, number]> = { 0: [4, 4], 2: [4, 1], 4: [3, 3], 6: [3, 1], 7: [1, 1], 8: [2, 2], 10: [2, 1] };
  const r = regsByOpcode[opcode];
  if (r === undefined) return null;
  const [nregs, structs] = r;
  const total = nregs * (Q ? 16 : 8);
  const b = i.xn();
  const wbv = postIdx ? postIndexed(i, b, total) : null;
  return base({
    mnemonic: `${L ? 'LD' : 'ST'}${structs} (${nregs} reg${nregs > 1 ? 's' : ''})`,
    address: b, size: total, elementSize: 1 << bits(insn, 11, 10), isWrite: L === 0, rt, rt2: nregs > 1 ? (rt + nregs - 1) % 32 : -1, rn,
    isSimd: true, isStructure: true, writeback: postIdx, writebackValue: wbv,
  });
}

/**
 * SIMD load/store single structure (LD1-LD4 / ST1-ST4 to one lane, LD1R-LD4R), no offset or
 * post-index (C4.1 "Advanced SIMD load/store single structure"): selem registers of one element.
 */
export function decodeSimdSingle(i: Insn): MemAccess | null {
  const insn = i.word;
  const onePost = (insn & 0xbf800000) >>> 0 === 0x0d800000;
  const { rt, rn } = i;
  const L = bits(insn, 22, 22);
  const R = bits(insn, 21, 21);
  const opcode = bits(insn, 15, 13);
  const S = bits(insn, 12, 12);
  const sz = bits(insn, 11, 10);
  const selem = (((opcode & 1) << 1) | R) + 1;
  let scale = opcode >> 1;
  if (scale === 3) {
    // LDnR: replicate, loads only, S = 0; element size from size
    if (L === 0 || S === 1) return null;
    scale = sz;
  } else if (scale === 1) {
    if ((sz & 1) === 1) return null;
  } else if (scale === 2) {
    if ((sz & 2) === 2) return null;
    if (sz === 1) {
      if (S === 1) return null;
      scale = 3;
    }
  }
  const el = 1 << scale;
  const total = selem * el;
  const b = i.xn();
  const wbv = onePost ? postIndexed(i, b, total) : null;
  return base({
    mnemonic: `${L ? 'LD' : 'ST'}${selem}${opcode >> 1 === 3 ? 'R' : ''} (single structure)`,
    address: b, size: total, elementSize: el, isWrite: L === 0, rt, rt2: selem > 1 ? (rt + selem - 1) % 32 : -1, rn,
    isSimd: true, isStructure: true, writeback: onePost, writebackValue: wbv,
  });
}

/** The post-indexed base: Xn + Xm, or + the bytes moved when Rm = 31 (C7.2 LD1 "post-index"). */
function postIndexed(i: Insn, xn: bigint, total: number): bigint {
  const rm = bits(i.word, 20, 16);
  return wrap(xn + (rm === 31 ? BigInt(total) : i.reg(rm)));
}
