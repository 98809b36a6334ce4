/**
 * A64 general-purpose and SIMD&FP single-register loads and stores, by encoding group (Arm ARM
 * C4.1 "Loads and Stores", C6.2/C7.2 instruction pages): exclusives and ordered, CAS/CASP,
 * literal, pairs, RCpc unscaled, and the "load/store register" group (unsigned immediate, LDRAA/
 * LDRAB, 9-bit immediate forms with LDTR/STTR, register offset, atomics). decode.ts picks the
 * group; each decoder returns the access or null (prefetch, unallocated).
 */
import { base, bits, gprForm, sext, simdForm, wrap, type Insn, type MemAccess } from './decode-access.js';

/** Exclusives, ordered (LDAR/STLR/LDLAR/STLLR), CAS and CASP (C4.1 "Load/store exclusive", "Compare and swap"). */
export function decodeExclusive(i: Insn): MemAccess | null {
  const insn = i.word;
  const { rt, rn } = i;
  const size = insn >>> 30;
  const o2 = bits(insn, 23, 23);
  const L = bits(insn, 22, 22);
  const o1 = bits(insn, 21, 21);
  const o0 = bits(insn, 15, 15);
  const rt2 = bits(insn, 14, 10);
  const addr = i.xn();
  const el = 1 << size;
  if (o2 === 0 && o1 === 0) {
    return base({
      mnemonic: L ? (o0 ? 'LDAXR' : 'LDXR') : o0 ? 'STLXR' : 'STXR',
      address: addr, size: el, isWrite: L === 0, rt, rn, isExclusive: true, isAcqRel: o0 === 1, sf: size === 3,
    });
  }
  if (o2 === 0 && o1 === 1) {
    if (size >= 2) {
      return base({
        mnemonic: L ? (o0 ? 'LDAXP' : 'LDXP') : o0 ? 'STLXP' : 'STXP',
        address: addr, size: 2 * el, elementSize: el, isWrite: L === 0, rt, rt2, rn, isPair: true, isExclusive: true, isAcqRel: o0 === 1, sf: size === 3,
      });
    }
    if (rt2 !== 31) return null;
    const e = size === 0 ? 4 : 8; // CASP: sz = insn[30]
    return base({ mnemonic: 'CASP', address: addr, size: 2 * e, elementSize: e, isWrite: true, isRead: true, rt, rt2: rt + 1, rn, isPair: true, isAtomic: true, isAcqRel: L === 1 || o0 === 1, sf: size === 1 });
  }
  if (o2 === 1 && o1 === 0) {
    return base({
      mnemonic: L ? (o0 ? 'LDAR' : 'LDLAR') : o0 ? 'STLR' : 'STLLR',
      address: addr, size: el, isWrite: L === 0, rt, rn, isAcqRel: true, sf: size === 3,
    });
  }
  if (rt2 !== 31) return null;
  return base({ mnemonic: 'CAS', address: addr, size: el, isWrite: true, isRead: true, rt, rn, isAtomic: true, isAcqRel: L === 1 || o0 === 1, sf: size === 3 });
}

/** Load register (literal): PC-relative, GPR and SIMD&FP; PRFM (literal) never faults. */
export function decodeLiteral(i: Insn): MemAccess | null {
  const insn = i.word;
  const { rt } = i;
  const opc = insn >>> 30;
  const V = bits(insn, 26, 26);
  const pc = i.opts.pc;
  if (pc === undefined) throw new RangeError('decodeMemAccess: literal load needs opts.pc');
  const address = wrap(pc + sext(bits(insn, 23, 5), 19) * 4n);
  if (V) {
    if (opc === 3) return null;
    const n = 4 << opc;
    return base({ mnemonic: `LDR ${['S', 'D', 'Q'][opc]} (literal)`, address, size: n, isWrite: false, rt, isSimd: true });
  }
  if (opc === 3) return null; // PRFM (literal)
  return base({ mnemonic: opc === 2 ? 'LDRSW (literal)' : 'LDR (literal)', address, size: opc === 1 ? 8 : 4, isWrite: false, rt, signExtend: opc === 2, sf: opc !== 0 });
}

/** Load/store pair: no-allocate, post-index, offset, pre-index; GPR, SIMD&FP, LDPSW, STGP. */
export function decodePair(i: Insn): MemAccess | null {
  const insn = i.word;
  const { rt, rn } = i;
  const opc = insn >>> 30;
  const V = bits(insn, 26, 26);
  const mode = bits(insn, 24, 23); // 00 no-allocate offset, 01 post, 10 offset, 11 pre
  const L = bits(insn, 22, 22);
  const rt2 = bits(insn, 14, 10);
  let el: number;
  let sign = false;
  let name: string;
  if (V) {
    if (opc === 3) return null;
    el = 4 << opc;
    name = `${L ? 'LD' : 'ST'}${mode === 0 ? 'NP' : 'P'} ${['S', 'D', 'Q'][opc]}`;
  } else if (opc === 0) {
    el = 4;
    name = `${L ? 'LD' : 'ST'}${mode === 0 ? 'NP' : 'P'} W`;
  } else if (opc === 1) {
    if (mode === 0) return null;
    el = L ? 4 : 8;
    sign = L === 1;
    name = L ? 'LDPSW' : 'STGP';
  } else if (opc === 2) {
    el = 8;
    name = `${L ? 'LD' : 'ST'}${mode === 0 ? 'NP' : 'P'} X`;
  } else return null;
  const off = sext(bits(insn, 21, 15), 7) * BigInt(name === 'STGP' ? 16 : el);
  const b = i.xn();
  const post = mode === 1;
  const wb = mode === 1 || mode === 3;
  const address = post ? b : wrap(b + off);
  return base({
    mnemonic: name, address, size: 2 * el, elementSize: el, isWrite: L === 0, rt, rt2, rn,
    isPair: true, isSimd: V === 1, signExtend: sign, sf: V === 0 && (opc === 2 || sign),
    writeback: wb, writebackValue: wb ? wrap(b + off) : null,
  });
}

/** LDAPUR / STLUR (RCpc, unscaled immediate). */
export function decodeRcpcUnscaled(i: Insn): MemAccess | null {
  const insn = i.word;
  const { rt, rn } = i;
  const size = insn >>> 30;
  const opc = bits(insn, 23, 22);
  const f = gprForm(size, opc);
  if (f === null) return null;
  const address = wrap(i.xn() + sext(bits(insn, 20, 12), 9));
  const name = f.isWrite ? 'STLUR' : f.signExtend ? 'LDAPURS' : 'LDAPUR';
  return base({ mnemonic: name, address, size: f.bytes, isWrite: f.isWrite, rt, rn, isAcqRel: true, signExtend: f.signExtend, sf: f.sf });
}


/** The "load/store register" group (bits[29:27] = 111), by bits[25:24], bit 21 and op4 (bits[11:10]). */
export function decodeRegisterGroup(i: Insn): MemAccess | null {
  const insn = i.word;
  if (bits(insn, 25, 24) === 1) return decodeUnsignedImm(i);
  if (bits(insn, 25, 24) !== 0) return null;
  const size = insn >>> 30;
  const V = bits(insn, 26, 26);
  if (size === 3 && V === 0 && bits(insn, 21, 21) === 1 && bits(insn, 10, 10) === 1) return decodeLdra(i);
  if (bits(insn, 21, 21) === 0) return decodeImm9(i);
  const op4 = bits(insn, 11, 10);
  if (op4 === 2) return decodeRegOffset(i);
  if (op4 === 0 && V === 0) return decodeAtomic(i);
  return null;
}

/** Load/store register (unsigned immediate), GPR and SIMD&FP. */
export function decodeUnsignedImm(i: Insn): MemAccess | null {
  const insn = i.word;
  const size = insn >>> 30;
  const V = bits(insn, 26, 26);
  const opc = bits(insn, 23, 22);
  const { rt, rn } = i;
  if (V) {
    const f = simdForm(size, opc);
    if (f === null) return null;
    const address = wrap(i.xn() + BigInt(bits(insn, 21, 10) * f.bytes));
    return base({ mnemonic: f.name, address, size: f.bytes, isWrite: f.isWrite, rt, rn, isSimd: true });
  }
  const f = gprForm(size, opc);
  if (f === null) return null;
  const address = wrap(i.xn() + BigInt(bits(insn, 21, 10) * f.bytes));
  return base({ mnemonic: f.name, address, size: f.bytes, isWrite: f.isWrite, rt, rn, signExtend: f.signExtend, sf: f.sf });
}

/**
 * LDRAA / LDRAB (FEAT_PAuth, C6.2 "LDRAA, LDRAB"): size = 11, V = 0, bit 21 = 1, bit 10 = 1;
 * address = AuthDA/AuthDB(Xn) + simm10 * 8, pre-indexed when W (bit 11). Authentication only
 * replaces the bits above the VA size (the PAC field): when it succeeds the address is Xn with
 * those bits restored from bit 55, which is what is decoded here (48-bit VAs, TBI not assumed);
 * a failed authentication makes a non-canonical address, which the caller does not find in
 * the refused page and then falls back to the page.
 */
export function decodeLdra(i: Insn): MemAccess | null {
  const insn = i.word;
  const { rt, rn } = i;
  const simm = BigInt.asIntN(10, BigInt((bits(insn, 22, 22) << 9) | bits(insn, 20, 12))) * 8n;
  const raw = i.xn();
  const stripped = (raw & 0x0000_ffff_ffff_ffffn) | ((raw >> 55n) & 1n ? 0xffff_0000_0000_0000n : 0n);
  const address = wrap(stripped + simm);
  const wb = bits(insn, 11, 11) === 1;
  return base({
    mnemonic: `${bits(insn, 23, 23) ? 'LDRAB' : 'LDRAA'}${wb ? ' (pre)' : ''}`,
    address, size: 8, isWrite: false, rt, rn, sf: true, isPac: true, writeback: wb, writebackValue: wb ? address : null,
  });
}

/** Load/store register with a 9-bit immediate: unscaled, post-index, unprivileged (LDTR/STTR), pre-index. */
export function decodeImm9(i: Insn): MemAccess | null {
  const insn = i.word;
  const size = insn >>> 30;
  const V = bits(insn, 26, 26);
  const opc = bits(insn, 23, 22);
  const { rt, rn } = i;
  const kind = bits(insn, 11, 10);
  const imm = sext(bits(insn, 20, 12), 9);
  const b = i.xn();
  let name: string;
  let bytes: number;
  let isWrite: boolean;
  let sign = false;
  let sf = false;
  if (V) {
    if (kind === 2) return null;
    const f = simdForm(size, opc);
    if (f === null) return null;
    ({ bytes, isWrite } = f);
    name = kind === 0 ? f.name.replace(/^(LD|ST)R/, '$1UR') : f.name;
  } else {
    const f = gprForm(size, opc);
    if (f === null) return null; // PRFUM / unallocated
    ({ bytes, isWrite } = f);
    sign = f.signExtend;
    sf = f.sf;
    name = kind === 0 ? f.name.replace(/^(LD|ST)R/, '$1UR') : kind === 2 ? f.name.replace(/^(LD|ST)R/, '$1TR') : f.name;
  }
  const post = kind === 1;
  const wb = kind === 1 || kind === 3;
  return base({
    mnemonic: name + (kind === 1 ? ' (post)' : kind === 3 ? ' (pre)' : ''),
    address: post ? b : wrap(b + imm), size: bytes, isWrite, rt, rn, isSimd: V === 1,
    isUnprivileged: kind === 2, signExtend: sign, sf, writeback: wb, writebackValue: wb ? wrap(b + imm) : null,
  });
}

/** Load/store register (register offset): UXTW/LSL/SXTW/SXTX, optionally scaled by the access size. */
export function decodeRegOffset(i: Insn): MemAccess | null {
  const insn = i.word;
  const size = insn >>> 30;
  const V = bits(insn, 26, 26);
  const opc = bits(insn, 23, 22);
  const { rt, rn } = i;
  const xzr = i.xzr;
  const option = bits(insn, 15, 13);
  if ((option & 2) === 0) return null;
  const S = bits(insn, 12, 12);
  const rm = bits(insn, 20, 16);
  let m = xzr(rm);
  if (option === 2) m &= 0xffff_ffffn;
  else if (option === 6) m = BigInt.asIntN(32, m);
  let bytes: number;
  let isWrite: boolean;
  let sign = false;
  let sf = false;
  let name: string;
  if (V) {
    const f = simdForm(size, opc);
    if (f === null) return null;
    ({ bytes, isWrite, name } = f);
  } else {
    const f = gprForm(size, opc);
    if (f === null) return null;
    ({ bytes, isWrite, name } = f);
    sign = f.signExtend;
    sf = f.sf;
  }
  const shift = S ? BigInt(Math.log2(bytes)) : 0n;
  const address = wrap(i.xn() + (m << shift));
  return base({ mnemonic: `${name} (register)`, address, size: bytes, isWrite, rt, rn, isSimd: V === 1, signExtend: sign, sf });
}

/** Atomic memory operations (FEAT_LSE), SWP, LDAPR. */
export function decodeAtomic(i: Insn): MemAccess | null {
  const insn = i.word;
  const size = insn >>> 30;
  const { rt, rn } = i;
  const A = bits(insn, 23, 23);
  const Rr = bits(insn, 22, 22);
  const o3 = bits(insn, 15, 15);
  const aop = bits(insn, 14, 12);
  const addr = i.xn();
  const bytes = 1 << size;
  if (o3 === 1 && aop === 4) {
    if (A !== 1 || Rr !== 0) return null;
    return base({ mnemonic: 'LDAPR', address: addr, size: bytes, isWrite: false, rt, rn, isAcqRel: true, sf: size === 3 });
  }
  if (o3 === 1 && aop !== 0) return null;
  const names = ['LDADD', 'LDCLR', 'LDEOR', 'LDSET', 'LDSMAX', 'LDSMIN', 'LDUMAX', 'LDUMIN'];
  const name = o3 === 1 ? 'SWP' : names[aop]!;
  return base({ mnemonic: name, address: addr, size: bytes, isWrite: true, isRead: true, rt, rn, isAtomic: true, isAcqRel: A === 1 || Rr === 1, sf: size === 3 });
}
