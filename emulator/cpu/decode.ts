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
 * This module decodes; it builds no syndrome. ESR values (ISS fields, DFSC, ISV) are
 * assembled in one place, esr.ts, from what the decoder found (access.ts adapts the
 * decode for the fill handler, which calls esr.ts's issDataAbort).
 */

export interface MemAccess {
  mnemonic: string;
  /** exact VA of the first byte accessed (for DC ZVA: the start of the zeroed block) */
  address: bigint;
  /** total bytes accessed (pairs: both registers; LD1..4: all registers; DC ZVA: block size) */
  size: number;
  /** bytes per register transfer (ISS.SAS when ISV = 1) */
  elementSize: number;
  isWrite: boolean;
  /** atomics read and write */
  isRead: boolean;
  isUnprivileged: boolean;
  isPair: boolean;
  isSimd: boolean;
  isAcqRel: boolean;
  isExclusive: boolean;
  isAtomic: boolean;
  /** DC/IC maintenance by VA (ESR.CM = 1) */
  isCacheMaintenance: boolean;
  isDcZva: boolean;
  /** LD1-4 / ST1-4 (multiple or single structure), LD1R-LD4R: lanes or interleaved elements, not whole registers */
  isStructure: boolean;
  /** LDRAA/LDRAB: the address is Xn with its pointer-authentication code removed (see below) */
  isPac: boolean;
  rt: number;
  /** second transfer register, -1 if none */
  rt2: number;
  /** base register (31 = SP), -1 for literal loads */
  rn: number;
  signExtend: boolean;
  /** the destination/source is a 64-bit register (ISS.SF) */
  sf: boolean;
  writeback: boolean;
  /** new base register value when writeback */
  writebackValue: bigint | null;
  /** the address operand as given by the instruction (FAR for DC/IC by VA) */
  operand: bigint;
}

export type RegReader = (n: number) => bigint;

export interface DecodeOptions {
  /** PC of the instruction (literal loads) */
  pc?: bigint;
  /** DC ZVA block size in bytes (4 << DCZID_EL0.BS); default 64 */
  dczvaBytes?: number;
}

const M64 = (1n << 64n) - 1n;
const wrap = (v: bigint): bigint => v & M64;
const sext = (v: number, bits: number): bigint => BigInt.asIntN(bits, BigInt(v));
const bits = (insn: number, hi: number, lo: number): number => (insn >>> lo) & ((1 << (hi - lo + 1)) - 1);

/** Fast check for the LDTR/STTR family (unprivileged; the fill hook needs it on every data fill at EL1). */
export function isUnprivilegedLoadStore(insn: number): boolean {
  return ((insn & 0x3f200c00) >>> 0) === 0x38000800;
}

function base(a: Partial<MemAccess> & Pick<MemAccess, 'mnemonic' | 'address' | 'size' | 'isWrite' | 'rt'>): MemAccess {
  return {
    elementSize: a.size,
    isRead: !a.isWrite,
    isUnprivileged: false,
    isPair: false,
    isSimd: false,
    isAcqRel: false,
    isExclusive: false,
    isAtomic: false,
    isCacheMaintenance: false,
    isDcZva: false,
    isStructure: false,
    isPac: false,
    rt2: -1,
    rn: -1,
    signExtend: false,
    sf: false,
    writeback: false,
    writebackValue: null,
    operand: a.address,
    ...a,
  };
}

interface GprForm {
  bytes: number;
  isWrite: boolean;
  signExtend: boolean;
  sf: boolean;
  name: string;
}

/** size/opc of the single-register GPR forms (C4.1 "Load/store register" tables); null = prefetch/unallocated */
function gprForm(size: number, opc: number): GprForm | null {
  const bytes = 1 << size;
  const suffix = size === 0 ? 'B' : size === 1 ? 'H' : '';
  switch (opc) {
    case 0:
      return { bytes, isWrite: true, signExtend: false, sf: size === 3, name: `STR${suffix}` };
    case 1:
      return { bytes, isWrite: false, signExtend: false, sf: size === 3, name: `LDR${suffix}` };
    case 2:
      if (size === 3) return null; // PRFM
      return { bytes, isWrite: false, signExtend: true, sf: true, name: `LDRS${size === 2 ? 'W' : suffix}` };
    default:
      if (size >= 2) return null;
      return { bytes, isWrite: false, signExtend: true, sf: false, name: `LDRS${suffix}` };
  }
}

/** SIMD&FP single register: scale = opc[1]:size (C4.1 "Load/store register (SIMD&FP)") */
function simdForm(size: number, opc: number): { bytes: number; isWrite: boolean; name: string } | null {
  const scale = ((opc >> 1) << 2) | size;
  if (scale > 4) return null;
  const reg = ['B', 'H', 'S', 'D', 'Q'][scale]!;
  return { bytes: 1 << scale, isWrite: (opc & 1) === 0, name: `${(opc & 1) === 0 ? 'STR' : 'LDR'} ${reg}` };
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

/**
 * Decode the memory access of a load/store/DC instruction, or null when `insn` does
 * not access memory through the MMU in a way this decoder knows.
 */
export function decodeMemAccess(insn: number, reg: RegReader, opts: DecodeOptions = {}): MemAccess | null {
  insn >>>= 0;
  const rt = insn & 31;
  const rn = (insn >>> 5) & 31;
  const xn = (): bigint => reg(rn); // Rn = 31 is SP in every load/store base
  const xzr = (n: number): bigint => (n === 31 ? 0n : reg(n));

  // ---- SYS: DC / IC by VA -------------------------------------------------------------------
  if (((insn & 0xfff80000) >>> 0) === 0xd5080000) {
    const op1 = bits(insn, 18, 16);
    const crn = bits(insn, 15, 12);
    const crm = bits(insn, 11, 8);
    const op2 = bits(insn, 7, 5);
    if (crn !== 7) return null;
    const name = DC_OPS[`${op1}:${crm}:${op2}`];
    if (name === undefined) return null;
    const va = xzr(rt);
    if (name === 'DC ZVA') {
      const n = opts.dczvaBytes ?? 64;
      const start = va & ~BigInt(n - 1) & M64;
      return base({ mnemonic: name, address: start, size: n, isWrite: true, rt, rn: -1, isDcZva: true, operand: va });
    }
    // DC IVAC needs write permission (reported as a write); the others need read (Arm ARM D7.5.x)
    return base({ mnemonic: name, address: va, size: 1, isWrite: name === 'DC IVAC', rt, isCacheMaintenance: true, operand: va });
  }

  // ---- loads and stores: op0 = x1x0 --------------------------------------------------------
  if ((insn & 0x0a000000) !== 0x08000000) return null;

  // exclusives, ordered, CAS, CASP
  if ((insn & 0x3f000000) >>> 0 === 0x08000000) {
    const size = insn >>> 30;
    const o2 = bits(insn, 23, 23);
    const L = bits(insn, 22, 22);
    const o1 = bits(insn, 21, 21);
    const o0 = bits(insn, 15, 15);
    const rs = bits(insn, 20, 16);
    const rt2 = bits(insn, 14, 10);
    const addr = xn();
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

  // load register (literal)
  if ((insn & 0x3b000000) >>> 0 === 0x18000000) {
    const opc = insn >>> 30;
    const V = bits(insn, 26, 26);
    const pc = opts.pc;
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

  // load/store pair (no-allocate, post-index, offset, pre-index)
  if ((insn & 0x3a000000) >>> 0 === 0x28000000) {
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
    const b = xn();
    const post = mode === 1;
    const wb = mode === 1 || mode === 3;
    const address = post ? b : wrap(b + off);
    return base({
      mnemonic: name, address, size: 2 * el, elementSize: el, isWrite: L === 0, rt, rt2, rn,
      isPair: true, isSimd: V === 1, signExtend: sign, sf: V === 0 && (opc === 2 || sign),
      writeback: wb, writebackValue: wb ? wrap(b + off) : null,
    });
  }

  // LDAPUR / STLUR (RCpc, unscaled immediate)
  if ((insn & 0x3f200c00) >>> 0 === 0x19000000) {
    const size = insn >>> 30;
    const opc = bits(insn, 23, 22);
    const f = gprForm(size, opc);
    if (f === null) return null;
    const address = wrap(xn() + sext(bits(insn, 20, 12), 9));
    const name = f.isWrite ? 'STLUR' : f.signExtend ? 'LDAPURS' : 'LDAPUR';
    return base({ mnemonic: name, address, size: f.bytes, isWrite: f.isWrite, rt, rn, isAcqRel: true, signExtend: f.signExtend, sf: f.sf });
  }

  // SIMD load/store multiple structures (LD1-LD4 / ST1-ST4), no offset or post-index
  const noOff = (insn & 0xbfbf0000) >>> 0 === 0x0c000000;
  const postIdx = (insn & 0xbfa00000) >>> 0 === 0x0c800000;
  if (noOff || postIdx) {
    const Q = bits(insn, 30, 30);
    const L = bits(insn, 22, 22);
    const opcode = bits(insn, 15, 12);
    const regsByOpcode: Record<number, [number, number]> = { 0: [4, 4], 2: [4, 1], 4: [3, 3], 6: [3, 1], 7: [1, 1], 8: [2, 2], 10: [2, 1] };
    const r = regsByOpcode[opcode];
    if (r === undefined) return null;
    const [nregs, structs] = r;
    const total = nregs * (Q ? 16 : 8);
    const b = xn();
    let wbv: bigint | null = null;
    if (postIdx) {
      const rm = bits(insn, 20, 16);
      wbv = wrap(b + (rm === 31 ? BigInt(total) : reg(rm)));
    }
    return base({
      mnemonic: `${L ? 'LD' : 'ST'}${structs} (${nregs} reg${nregs > 1 ? 's' : ''})`,
      address: b, size: total, elementSize: 1 << bits(insn, 11, 10), isWrite: L === 0, rt, rt2: nregs > 1 ? (rt + nregs - 1) % 32 : -1, rn,
      isSimd: true, isStructure: true, writeback: postIdx, writebackValue: wbv,
    });
  }

  // SIMD load/store single structure (LD1-LD4 / ST1-ST4 to one lane, LD1R-LD4R), no offset or
  // post-index (C4.1 "Advanced SIMD load/store single structure"): selem registers of one element.
  const oneNoOff = (insn & 0xbf9f0000) >>> 0 === 0x0d000000;
  const onePost = (insn & 0xbf800000) >>> 0 === 0x0d800000;
  if (oneNoOff || onePost) {
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
    const b = xn();
    let wbv: bigint | null = null;
    if (onePost) {
      const rm = bits(insn, 20, 16);
      wbv = wrap(b + (rm === 31 ? BigInt(total) : reg(rm)));
    }
    return base({
      mnemonic: `${L ? 'LD' : 'ST'}${selem}${opcode >> 1 === 3 ? 'R' : ''} (single structure)`,
      address: b, size: total, elementSize: el, isWrite: L === 0, rt, rt2: selem > 1 ? (rt + selem - 1) % 32 : -1, rn,
      isSimd: true, isStructure: true, writeback: onePost, writebackValue: wbv,
    });
  }

  // from here: the "load/store register" group: bits[29:27] = 111
  if ((insn & 0x38000000) >>> 0 !== 0x38000000) return null;
  const size = insn >>> 30;
  const V = bits(insn, 26, 26);
  const opc = bits(insn, 23, 22);

  // unsigned immediate
  if (bits(insn, 25, 24) === 1) {
    if (V) {
      const f = simdForm(size, opc);
      if (f === null) return null;
      const address = wrap(xn() + BigInt(bits(insn, 21, 10) * f.bytes));
      return base({ mnemonic: f.name, address, size: f.bytes, isWrite: f.isWrite, rt, rn, isSimd: true });
    }
    const f = gprForm(size, opc);
    if (f === null) return null;
    const address = wrap(xn() + BigInt(bits(insn, 21, 10) * f.bytes));
    return base({ mnemonic: f.name, address, size: f.bytes, isWrite: f.isWrite, rt, rn, signExtend: f.signExtend, sf: f.sf });
  }
  if (bits(insn, 25, 24) !== 0) return null;

  // LDRAA / LDRAB (FEAT_PAuth, C6.2 "LDRAA, LDRAB"): size = 11, V = 0, bit 21 = 1, bit 10 = 1;
  // address = AuthDA/AuthDB(Xn) + simm10 * 8, pre-indexed when W (bit 11). Authentication only
  // replaces the bits above the VA size (the PAC field): when it succeeds the address is Xn with
  // those bits restored from bit 55, which is what is decoded here (48-bit VAs, TBI not assumed);
  // a failed authentication makes a non-canonical address, which the caller does not find in
  // the refused page and then falls back to the page.
  if (size === 3 && V === 0 && bits(insn, 21, 21) === 1 && bits(insn, 10, 10) === 1) {
    const simm = BigInt.asIntN(10, BigInt((bits(insn, 22, 22) << 9) | bits(insn, 20, 12))) * 8n;
    const raw = xn();
    const stripped = (raw & 0x0000_ffff_ffff_ffffn) | ((raw >> 55n) & 1n ? 0xffff_0000_0000_0000n : 0n);
    const address = wrap(stripped + simm);
    const wb = bits(insn, 11, 11) === 1;
    return base({
      mnemonic: `${bits(insn, 23, 23) ? 'LDRAB' : 'LDRAA'}${wb ? ' (pre)' : ''}`,
      address, size: 8, isWrite: false, rt, rn, sf: true, isPac: true, writeback: wb, writebackValue: wb ? address : null,
    });
  }

  if (bits(insn, 21, 21) === 0) {
    // imm9: unscaled / post-index / unprivileged / pre-index
    const kind = bits(insn, 11, 10);
    const imm = sext(bits(insn, 20, 12), 9);
    const b = xn();
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

  const op4 = bits(insn, 11, 10);
  if (op4 === 2) {
    // register offset
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
    const address = wrap(xn() + (m << shift));
    return base({ mnemonic: `${name} (register)`, address, size: bytes, isWrite, rt, rn, isSimd: V === 1, signExtend: sign, sf });
  }
  if (op4 === 0 && V === 0) {
    // atomic memory operations (FEAT_LSE), SWP, LDAPR
    const A = bits(insn, 23, 23);
    const Rr = bits(insn, 22, 22);
    const o3 = bits(insn, 15, 15);
    const aop = bits(insn, 14, 12);
    const addr = xn();
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
  return null;
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
