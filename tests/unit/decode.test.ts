/**
 * A64 load/store decoding for fault syndromes. Encodings were produced once with
 *   aarch64-linux-gnu-as -march=armv8.4-a t.s && aarch64-linux-gnu-objdump -d t.o
 * and are embedded with the assembly text (Arm ARM DDI0487 C4.1 "Loads and Stores",
 * C6.2 instruction pages; ESR ISS: D17.2.40 ESR_EL2, EC 0x24).
 */
import { describe, it, expect } from 'vitest';
import { decodeMemAccess, accessTouchesPage, faultAddress, isUnprivilegedLoadStore, issValid, type MemAccess } from '../../emulator/cpu/decode.js';
import { decodeMemoryAccess } from '../../emulator/cpu/access.js';
import { FSC, issDataAbort } from '../../emulator/cpu/esr.js';

const SP = 0x8000_0000n;
function regs(over: Record<number, bigint> = {}): (n: number) => bigint {
  return (n) => (n in over ? over[n]! : n === 31 ? SP : BigInt(0x10000 * (n + 1)));
}
const X = (n: number): bigint => BigInt(0x10000 * (n + 1));

type Exp = Partial<MemAccess> & { address: bigint; size: number };
interface Case {
  asm: string;
  word: number;
  exp: Exp | null;
  over?: Record<number, bigint>;
  pc?: bigint;
}

const cases: Case[] = [
  { asm: 'ldr x1, [x2, #16]', word: 0xf9400841, exp: { address: X(2) + 16n, size: 8, isWrite: false, sf: true, rt: 1, rn: 2 } },
  { asm: 'ldrb w3, [sp, #4095]', word: 0x397fffe3, exp: { address: SP + 4095n, size: 1, isWrite: false, sf: false, rn: 31 } },
  { asm: 'strh w4, [x5, #2]', word: 0x790004a4, exp: { address: X(5) + 2n, size: 2, isWrite: true, rt: 4 } },
  { asm: 'ldrsw x6, [x7, #8]', word: 0xb98008e6, exp: { address: X(7) + 8n, size: 4, signExtend: true, sf: true } },
  { asm: 'ldrsb w8, [x9]', word: 0x39c00128, exp: { address: X(9), size: 1, signExtend: true, sf: false } },
  { asm: 'ldrsh x10, [x11, #6]', word: 0x79800d6a, exp: { address: X(11) + 6n, size: 2, signExtend: true, sf: true } },
  { asm: 'ldur x1, [x2, #-8]', word: 0xf85f8041, exp: { address: X(2) - 8n, size: 8, writeback: false } },
  { asm: 'stur w3, [x4, #255]', word: 0xb80ff083, exp: { address: X(4) + 255n, size: 4, isWrite: true } },
  { asm: 'ldr x1, [x2, #-16]!', word: 0xf85f0c41, exp: { address: X(2) - 16n, size: 8, writeback: true, writebackValue: X(2) - 16n } },
  { asm: 'str x1, [sp, #-32]!', word: 0xf81e0fe1, exp: { address: SP - 32n, size: 8, isWrite: true, writeback: true } },
  { asm: 'ldr w1, [x2], #4', word: 0xb8404441, exp: { address: X(2), size: 4, writeback: true, writebackValue: X(2) + 4n } },
  { asm: 'strb w1, [x2], #-1', word: 0x381ff441, exp: { address: X(2), size: 1, isWrite: true, writebackValue: X(2) - 1n } },
  { asm: 'ldr x1, [x2, x3]', word: 0xf8636841, exp: { address: X(2) + X(3), size: 8 } },
  { asm: 'ldr x1, [x2, x3, lsl #3]', word: 0xf8637841, exp: { address: X(2) + X(3) * 8n, size: 8 } },
  { asm: 'ldr w1, [x2, w3, uxtw #2]', word: 0xb8635841, over: { 3: 0xffff_ffff_ffff_fff0n }, exp: { address: X(2) + 0xffff_fff0n * 4n, size: 4 } },
  { asm: 'ldrb w1, [x2, w3, sxtw]', word: 0x3863c841, over: { 3: 0xffff_ffff_ffff_fff0n }, exp: { address: X(2) - 16n, size: 1 } },
  { asm: 'str x1, [x2, x3, sxtx #3]', word: 0xf823f841, over: { 3: 0xffff_ffff_ffff_fff0n }, exp: { address: X(2) - 128n, size: 8, isWrite: true } },
  { asm: 'ldr x1, 1f (at .text+0x44)', word: 0x58000021, pc: 0x1000_0044n, exp: { address: 0x1000_0048n, size: 8, rn: -1 } },
  { asm: 'ldrsw x2, 1b (at .text+0x48)', word: 0x98000002, pc: 0x1000_0048n, exp: { address: 0x1000_0048n, size: 4, signExtend: true, sf: true } },
  { asm: 'ldr q0, 1b (at .text+0xf0)', word: 0x9cfffac0, pc: 0x1000_00f0n, exp: { address: 0x1000_0048n, size: 16, isSimd: true } },
  { asm: 'ldp x1, x2, [x3, #16]', word: 0xa9410861, exp: { address: X(3) + 16n, size: 16, elementSize: 8, isPair: true, rt: 1, rt2: 2 } },
  { asm: 'stp x29, x30, [sp, #-16]!', word: 0xa9bf7bfd, exp: { address: SP - 16n, size: 16, isWrite: true, isPair: true, writeback: true, rt: 29, rt2: 30 } },
  { asm: 'ldp w1, w2, [x3], #8', word: 0x28c10861, exp: { address: X(3), size: 8, elementSize: 4, writebackValue: X(3) + 8n } },
  { asm: 'ldpsw x1, x2, [x3, #-8]', word: 0x697f0861, exp: { address: X(3) - 8n, size: 8, signExtend: true, sf: true } },
  { asm: 'ldnp x1, x2, [x3, #32]', word: 0xa8420861, exp: { address: X(3) + 32n, size: 16, isPair: true } },
  { asm: 'ldtr x1, [x2, #8]', word: 0xf8408841, exp: { address: X(2) + 8n, size: 8, isUnprivileged: true } },
  { asm: 'sttrb w1, [x2, #-1]', word: 0x381ff841, exp: { address: X(2) - 1n, size: 1, isWrite: true, isUnprivileged: true } },
  { asm: 'ldtrsh x1, [x2]', word: 0x78800841, exp: { address: X(2), size: 2, isUnprivileged: true, signExtend: true, sf: true } },
  { asm: 'ldxr x1, [x2]', word: 0xc85f7c41, exp: { address: X(2), size: 8, isExclusive: true, isAcqRel: false } },
  { asm: 'stxr w3, x1, [x2]', word: 0xc8037c41, exp: { address: X(2), size: 8, isWrite: true, isExclusive: true } },
  { asm: 'ldaxr w1, [x2]', word: 0x885ffc41, exp: { address: X(2), size: 4, isExclusive: true, isAcqRel: true } },
  { asm: 'stlxr w3, w1, [sp]', word: 0x8803ffe1, exp: { address: SP, size: 4, isWrite: true, isExclusive: true, isAcqRel: true } },
  { asm: 'ldxp x1, x2, [x3]', word: 0xc87f0861, exp: { address: X(3), size: 16, isPair: true, isExclusive: true, rt2: 2 } },
  { asm: 'ldar x1, [x2]', word: 0xc8dffc41, exp: { address: X(2), size: 8, isAcqRel: true, isExclusive: false } },
  { asm: 'stlr w1, [x2]', word: 0x889ffc41, exp: { address: X(2), size: 4, isWrite: true, isAcqRel: true } },
  { asm: 'ldaddal x1, x2, [x3]', word: 0xf8e10062, exp: { address: X(3), size: 8, isAtomic: true, isWrite: true, isRead: true, isAcqRel: true } },
  { asm: 'swp w1, w2, [x3]', word: 0xb8218062, exp: { address: X(3), size: 4, isAtomic: true, mnemonic: 'SWP' } },
  { asm: 'cas x1, x2, [x3]', word: 0xc8a17c62, exp: { address: X(3), size: 8, isAtomic: true, mnemonic: 'CAS' } },
  { asm: 'casp x0, x1, x2, x3, [x4]', word: 0x48207c82, exp: { address: X(4), size: 16, isAtomic: true, isPair: true, mnemonic: 'CASP' } },
  { asm: 'stadd w1, [x2]', word: 0xb821005f, exp: { address: X(2), size: 4, isAtomic: true, mnemonic: 'LDADD' } },
  { asm: 'ldapr x1, [x2]', word: 0xf8bfc041, exp: { address: X(2), size: 8, isAcqRel: true, isAtomic: false, isWrite: false } },
  { asm: 'ldapur w1, [x2, #-4]', word: 0x995fc041, exp: { address: X(2) - 4n, size: 4, isAcqRel: true } },
  { asm: 'stlur x1, [x2, #8]', word: 0xd9008041, exp: { address: X(2) + 8n, size: 8, isWrite: true, isAcqRel: true } },
  { asm: 'ldr q0, [x1, #32]', word: 0x3dc00820, exp: { address: X(1) + 32n, size: 16, isSimd: true } },
  { asm: 'str d1, [x2, #-8]!', word: 0xfc1f8c41, exp: { address: X(2) - 8n, size: 8, isSimd: true, isWrite: true, writeback: true } },
  { asm: 'ldr s2, [x3], #4', word: 0xbc404462, exp: { address: X(3), size: 4, isSimd: true, writebackValue: X(3) + 4n } },
  { asm: 'ldr b3, [x4, x5]', word: 0x3c656883, exp: { address: X(4) + X(5), size: 1, isSimd: true } },
  { asm: 'ldur h4, [x5, #-2]', word: 0x7c5fe0a4, exp: { address: X(5) - 2n, size: 2, isSimd: true } },
  { asm: 'ldp q0, q1, [x2, #64]', word: 0xad420440, exp: { address: X(2) + 64n, size: 32, isSimd: true, isPair: true } },
  { asm: 'stp d0, d1, [sp, #-16]!', word: 0x6dbf07e0, exp: { address: SP - 16n, size: 16, isSimd: true, isWrite: true, writeback: true } },
  { asm: 'ld1 {v0.16b}, [x1]', word: 0x4c407020, exp: { address: X(1), size: 16, isSimd: true, writeback: false } },
  { asm: 'ld1 {v0.4s, v1.4s}, [x1], #32', word: 0x4cdfa820, exp: { address: X(1), size: 32, writebackValue: X(1) + 32n } },
  { asm: 'st4 {v0.8h-v3.8h}, [x1], x2', word: 0x4c820420, exp: { address: X(1), size: 64, isWrite: true, writebackValue: X(1) + X(2) } },
  { asm: 'ld1 {v0.8b-v2.8b}, [x1]', word: 0x0c406020, exp: { address: X(1), size: 24 } },
  { asm: 'dc zva, x1', word: 0xd50b7421, over: { 1: 0x2_0037n }, exp: { address: 0x2_0000n, size: 64, isWrite: true, isDcZva: true, operand: 0x2_0037n } },
  { asm: 'dc civac, x2', word: 0xd50b7e22, exp: { address: X(2), size: 1, isCacheMaintenance: true, isWrite: false } },
  { asm: 'dc ivac, x3', word: 0xd5087623, exp: { address: X(3), size: 1, isCacheMaintenance: true, isWrite: true } },
  { asm: 'dc cvau, x4', word: 0xd50b7b24, exp: { address: X(4), size: 1, isCacheMaintenance: true } },
  { asm: 'ic ivau, x5', word: 0xd50b7525, exp: { address: X(5), size: 1, isCacheMaintenance: true } },
  { asm: 'prfm pldl1keep, [x1]', word: 0xf9800020, exp: null },
  { asm: 'add x1, x2, x3', word: 0x8b030041, exp: null },
];

describe('decodeMemAccess against assembler encodings (Arm ARM C4.1 loads and stores)', () => {
  it.each(cases.map((c) => [c.asm, c] as const))('%s', (_asm, c) => {
    const a = decodeMemAccess(c.word, regs(c.over), { pc: c.pc });
    if (c.exp === null) {
      expect(a).toBeNull();
      return;
    }
    expect(a).not.toBeNull();
    expect(a).toMatchObject(c.exp);
  });
});

describe('LDTR/STTR detection for the fill hook', () => {
  it('isUnprivilegedLoadStore is true exactly for the LDTR/STTR family', () => {
    for (const w of [0xf8408841, 0x381ff841, 0x78800841]) expect(isUnprivilegedLoadStore(w)).toBe(true);
    for (const w of [0xf85f8041, 0xf9400841, 0xf85f0c41, 0xb8404441, 0x3c656883, 0xc85f7c41]) expect(isUnprivilegedLoadStore(w)).toBe(false);
  });
});

describe('FAR for page-crossing accesses (Arm ARM D17.2 FAR_EL1: an address within the faulting access)', () => {
  const ld = decodeMemAccess(0xf9400841, regs({ 2: 0xfec0n }))!; // ldr x1, [x2, #16] -> 0xfed0..0xfed7
  const cross = decodeMemAccess(0xf9400841, regs({ 2: 0x3f4n }))!; // 0x404..: within one 1K page
  const pair = decodeMemAccess(0xa9410861, regs({ 3: 0x3f8n }))!; // ldp x1, x2, [x3, #16] -> 0x408..0x417
  it('an access that starts in the faulting page reports its first byte', () => {
    expect(faultAddress(ld, 0xfc00n, 1024)).toBe(0xfed0n);
    expect(faultAddress(cross, 0x400n, 1024)).toBe(0x404n);
  });
  it('an access that crosses into the faulting page reports the first byte of that page', () => {
    const a = decodeMemAccess(0xf9400841, regs({ 2: 0xfecn }))!; // ldr x1, [x2, #16] -> 0xffc..0x1003
    expect(faultAddress(a, 0x1000n, 1024)).toBe(0x1000n);
    expect(faultAddress(a, 0xc00n, 1024)).toBe(0xffcn);
    const b = decodeMemAccess(0xa9410861, regs({ 3: 0xff0n }))!; // ldp 16 bytes at 0x1000
    expect(faultAddress(b, 0x1000n, 4096)).toBe(0x1000n);
    const c = decodeMemAccess(0xa9410861, regs({ 3: 0xfe8n }))!; // ldp at 0xff8..0x1007
    expect(accessTouchesPage(c, 0x0n, 4096)).toBe(true);
    expect(accessTouchesPage(c, 0x1000n, 4096)).toBe(true);
    expect(faultAddress(c, 0x1000n, 4096)).toBe(0x1000n);
    expect(faultAddress(c, 0x0n, 4096)).toBe(0xff8n);
    expect(accessTouchesPage(pair, 0x400n, 1024)).toBe(true); // 0x408..0x417
    expect(accessTouchesPage(pair, 0x0n, 1024)).toBe(false);
    expect(accessTouchesPage(pair, 0x800n, 1024)).toBe(false);
  });
  it('DC by VA and DC ZVA report the Xt operand', () => {
    const z = decodeMemAccess(0xd50b7421, regs({ 1: 0x2_0037n }))!;
    expect(faultAddress(z, 0x2_0000n, 1024)).toBe(0x2_0037n);
  });
});

describe('Data Abort ISS from a decoded access (Arm ARM D17.2.40 ESR_EL2, EC 0x24; ISV valid only for single GPR loads/stores without writeback)', () => {
  // The syndrome is built by esr.ts alone; the decoder (through access.ts, as the fill
  // handler uses it) supplies the instruction-syndrome fields.
  const iss = (fsc: number, word: number, s1ptw = false): number => {
    const a = decodeMemoryAccess(word, regs(), 0x1000)!;
    const isv = a.isv && !s1ptw ? { sas: Math.log2(a.size) as 0 | 1 | 2 | 3, sse: a.signExtend, srt: a.rt, sf: a.sf, ar: a.acqRel } : undefined;
    return issDataAbort({ fsc, wnr: (a.write && !a.cacheMaintenance) || s1ptw, s1ptw, cm: a.cacheMaintenance, ...(isv ? { isv } : {}) });
  };
  it('LDR X1, [X2, #16]: ISV, SAS=0b11, SRT=1, SF, DFSC translation L3', () => {
    expect(iss(FSC.translation(3), 0xf9400841)).toBe((1 << 24) | (3 << 22) | (1 << 16) | (1 << 15) | 0b000111);
  });
  it('STRH W4, [X5, #2]: SAS=0b01, SRT=4, WnR, permission L2', () => {
    expect(iss(FSC.permission(2), 0x790004a4)).toBe((1 << 24) | (1 << 22) | (4 << 16) | (1 << 6) | 0b001110);
  });
  it('LDRSB W8: SSE = 1, SF = 0; LDAR: AR = 1; LDTR: ISV = 1', () => {
    expect(iss(FSC.translation(1), 0x39c00128)).toBe((1 << 24) | (0 << 22) | (1 << 21) | (8 << 16) | 0b000101);
    expect(iss(FSC.translation(3), 0xc8dffc41) & (1 << 14)).toBe(1 << 14);
    expect(iss(FSC.translation(3), 0xf8408841) >>> 24).toBe(1);
    expect(decodeMemoryAccess(0xb8408841, regs())!.unprivileged).toBe(true);
  });
  it('ISV = 0 for pairs, SIMD, writeback, exclusives, atomics, and on S1PTW', () => {
    for (const w of [0xa9410861, 0x3dc00820, 0xf85f0c41, 0xb8404441, 0xc85f7c41, 0xf8e10062]) {
      const a = decodeMemAccess(w, regs())!;
      expect(issValid(a)).toBe(false);
      expect(decodeMemoryAccess(w, regs())!.isv).toBe(false);
      expect(iss(FSC.translation(3), w) >>> 24).toBe(0);
    }
    expect(iss(FSC.translation(2), 0xf9400841, true)).toBe((1 << 7) | (1 << 6) | 0b000110); // S1PTW: a walk, reported as a write (fill-handler)
  });
  it('cache maintenance: CM = 1 and WnR = 1, ISV = 0', () => {
    const a = decodeMemoryAccess(0xd50b7e22, regs())!;
    expect(a.cacheMaintenance).toBe(true);
    expect(a.isv).toBe(false);
    expect(iss(FSC.permission(3), 0xd50b7e22)).toBe((1 << 8) | (1 << 6) | 0b001111);
  });
});

describe('single-structure SIMD loads/stores and LDRAA/LDRAB (exact FAR for their stage-2 faults)', () => {
  const r = regs({ 4: 0x30n, 6: 0x0055_0000_4000_1008n /* a PAC in bits [54:48] */ });
  it('LD1 {v0.s}[1], [x1]: one 4-byte element at Xn, no writeback', () => {
    const a = decodeMemAccess(0x0d409020, r)!;
    expect([a.address, a.size, a.elementSize, a.isWrite, a.isSimd, a.isStructure, a.writeback]).toEqual([X(1), 4, 4, false, true, true, false]);
  });
  it('LD4R {v4.8h-v7.8h}, [x2], #8: four 2-byte elements, post-index by the total', () => {
    const a = decodeMemAccess(0x4dffe444, r)!;
    expect([a.address, a.size, a.elementSize, a.rt, a.rt2, a.writebackValue]).toEqual([X(2), 8, 2, 4, 7, X(2) + 8n]);
  });
  it('ST2 {v30.d, v31.d}[1], [x3], x4: a store of two doublewords, post-index by Xm', () => {
    const a = decodeMemAccess(0x4da4847e, r)!;
    expect([a.address, a.size, a.isWrite, a.rt, a.rt2, a.writebackValue]).toEqual([X(3), 16, true, 30, 31, X(3) + 0x30n]);
  });
  it('LDRAA x5, [x6, #-8]!: the address is Xn with its PAC removed, plus the offset; written back; ISV = 0', () => {
    const a = decodeMemAccess(0xf87ffcc5, r)!;
    expect([a.address, a.size, a.isPac, a.writeback, a.writebackValue]).toEqual([0x4000_1000n, 8, true, true, 0x4000_1000n]);
    expect(issValid(a)).toBe(false);
  });
  it('LDRAB x7, [x8, #4088]: scaled offset, no writeback', () => {
    const a = decodeMemAccess(0xf8bff507, r)!;
    expect([a.address, a.mnemonic, a.writeback]).toEqual([X(8) + 4088n, 'LDRAB', false]);
  });
});
