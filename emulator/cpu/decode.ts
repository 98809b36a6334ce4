/**
 * A64 load/store decoding for exact fault syndromes (FAR and ESR ISS).
 *
 * Unicorn's TLB-fill hook is told only the page-aligned VA of a refused fill. To
 * raise the architectural Data Abort the model decodes the instruction at PC:
 * the exact first-byte address, size, direction, privilege (LDTR/STTR), and the
 * ISS fields that are valid only for simple loads and stores.
 *
 * Encodings: Arm ARM DDI0487 C4.1.x "Loads and Stores" encoding index, C6.2 instruction
 * pages. Register reader convention: `reg(n)` returns Xn for n = 0..30 and SP for
 * n = 31; where an encoding names XZR (Rt, Rm, Rs, DC Xt) the decoder uses 0 and
 * does not call reg(31). Addresses are BigInt, wrapped to 64 bits.
 *
 * Covered: unsigned-immediate, unscaled (LDUR/STUR), pre/post-index, register offset
 * (UXTW/LSL/SXTW/SXTX with shift), literal, LDP/STP/LDNP/STNP/LDPSW/STGP (all index
 * modes), LDTR/STTR family, exclusives (LDXR/STXR/LDAXR/STLXR/LDXP/STXP...), LDAR/STLR/
 * LDLAR/STLLR, LDAPR, LDAPUR/STLUR, atomics (LDADD..LDUMIN, SWP, CAS, CASP), SIMD&FP
 * LDR/STR B/H/S/D/Q (all forms), LDP/STP S/D/Q, LD1-LD4/ST1-ST4 multiple structures
 * (no offset and post-index), DC ZVA and DC/IC maintenance by VA.
 * Not covered (decode returns null): SVE, MTE tag loads/stores, LD64B/ST64B, FEAT_LRCPC3
 * forms, prefetches (PRFM/PRFUM never fault).
 *
 * This file picks the encoding group and reports FAR and ISV; the groups are decoded in
 * decode-ldst.ts (general and SIMD&FP registers) and decode-simd.ts (structures), on the record
 * and fields of decode-access.ts.
 *
 * These modules decode; they build no syndrome. ESR values (ISS fields, DFSC, ISV) are
 * assembled in one place, esr.ts, from what the decoder found (access.ts adapts the
 * decode for the fill handler, which calls esr.ts's issDataAbort).
 */

import { base, bits, insnFields, M64, type DecodeOptions, type Insn, type MemAccess, type RegReader } from './decode-access.js';
import { decodeExclusive, decodeLiteral, decodePair, decodeRcpcUnscaled, decodeRegisterGroup } from './decode-ldst.js';
import { decodeSimdMultiple, decodeSimdSingle } from './decode-simd.js';

export type { DecodeOptions, MemAccess, RegReader };

/** Fast check for the LDTR/STTR family (unprivileged; the fill hook needs it on every data fill at EL1). */
export function isUnprivilegedLoadStore(insn: number): boolean {
  return ((insn & 0x3f200c00) >>> 0) === 0x38000800;
}

const DC_OPS: Record<string, string> = {
  // key: op1:CRm:op2 (CRn = 7)
  '0:6:1': 'DC IVAC',
  '3:4:1': 'DC ZVA',
  '3:10:1': 'DC CVAC',
  '3:11:1': 'DC CVAU',
  '3:12:1': 'DC CVAP',
  '3:13:1': 'DC CVADP',
  '3:14:1': 'DC CIVAC',
  '3:5:1': 'IC IVAU',
};

/** SYS with CRn = 7: DC and IC maintenance by VA (Arm ARM C5.3), and DC ZVA. */
function decodeCacheOp(i: Insn): MemAccess | null {
  const insn = i.word;
  const rt = i.rt;
  const op1 = bits(insn, 18, 16);
  const crn = bits(insn, 15, 12);
  const crm = bits(insn, 11, 8);
  const op2 = bits(insn, 7, 5);
  if (crn !== 7) return null;
  const name = DC_OPS[`${op1}:${crm}:${op2}`];
  if (name === undefined) return null;
  const va = i.xzr(rt);
  if (name === 'DC ZVA') {
    const n = i.opts.dczvaBytes ?? 64;
    const start = va & ~BigInt(n - 1) & M64;
    return base({ mnemonic: name, address: start, size: n, isWrite: true, rt, rn: -1, isDcZva: true, operand: va });
  }
  // DC IVAC needs write permission (reported as a write); the others need read (Arm ARM D7.5.x)
  return base({ mnemonic: name, address: va, size: 1, isWrite: name === 'DC IVAC', rt, isCacheMaintenance: true, operand: va });
}

/**
 * Decode the memory access of a load/store/DC instruction, or null when `insn` does
 * not access memory through the MMU in a way this decoder knows.
 */
export function decodeMemAccess(insn: number, reg: RegReader, opts: DecodeOptions = {}): MemAccess | null {
  insn >>>= 0;
  const i = insnFields(insn, reg, opts);
  if (((insn & 0xfff80000) >>> 0) === 0xd5080000) return decodeCacheOp(i);
  // loads and stores: op0 = x1x0
  if ((insn & 0x0a000000) !== 0x08000000) return null;
  if ((insn & 0x3f000000) >>> 0 === 0x08000000) return decodeExclusive(i);
  if ((insn & 0x3b000000) >>> 0 === 0x18000000) return decodeLiteral(i);
  if ((insn & 0x3a000000) >>> 0 === 0x28000000) return decodePair(i);
  if ((insn & 0x3f200c00) >>> 0 === 0x19000000) return decodeRcpcUnscaled(i);
  // multiple structures: no offset, post-index
  if ((insn & 0xbfbf0000) >>> 0 === 0x0c000000 || (insn & 0xbfa00000) >>> 0 === 0x0c800000) return decodeSimdMultiple(i);
  // single structure: no offset, post-index
  if ((insn & 0xbf9f0000) >>> 0 === 0x0d000000 || (insn & 0xbf800000) >>> 0 === 0x0d800000) return decodeSimdSingle(i);
  // the "load/store register" group: bits[29:27] = 111
  if ((insn & 0x38000000) >>> 0 !== 0x38000000) return null;
  return decodeRegisterGroup(i);
}

/** True when [access.address, +size) overlaps [pageVa, pageVa + pageSize) (64-bit, no wrap-around). */
export function accessTouchesPage(access: Pick<MemAccess, 'address' | 'size'>, pageVa: bigint, pageSize: number): boolean {
  const start = access.address;
  const end = start + BigInt(access.size);
  const pStart = pageVa & ~BigInt(pageSize - 1) & M64;
  const pEnd = pStart + BigInt(pageSize);
  return start < pEnd && end > pStart;
}

/**
 * FAR for a fault on the page containing `faultPageVa`.
 *
 * Choice: the address of the first byte of the access that lies in the faulting
 * page - the access start when it begins there, else the faulting page's first
 * byte (an access that starts in a good page and crosses into a bad one). The Arm
 * ARM only requires the FAR to hold an address within the faulting access that
 * generated the fault (D17.2.x FAR_EL1, and "Misaligned accesses" crossing a
 * translation boundary); QEMU reports exactly this value because it probes the
 * second page at its first byte, and Linux's fault handling works on the page.
 * For DC/IC by VA and DC ZVA the FAR is the address operand as written in Xt.
 */
export function faultAddress(access: MemAccess, faultPageVa: bigint, pageSize: number): bigint {
  if (access.isCacheMaintenance || access.isDcZva) return access.operand;
  const pStart = faultPageVa & ~BigInt(pageSize - 1) & M64;
  const start = access.address;
  if (start >= pStart && start < pStart + BigInt(pageSize)) return start;
  return pStart;
}

/**
 * Whether ISS.ISV may be 1 (KVM's rule, Arm ARM D17.2.40 ESR_EL2 ISS for EC 0x24):
 * single general-purpose-register loads and stores, including acquire/release and
 * LDTR/STTR, but not pairs, SIMD&FP, exclusives, atomics, writeback forms, or cache
 * maintenance / DC ZVA.
 */
export function issValid(a: MemAccess | null): boolean {
  if (a === null) return false;
  return !(a.isPair || a.isSimd || a.isExclusive || a.isAtomic || a.writeback || a.isCacheMaintenance || a.isDcZva || a.isPac);
}
