/**
 * The data access an aborted instruction was making, decoded from the A64
 * instruction word (Arm ARM C4.1.66 "Loads and Stores" encoding index): the
 * exact address of the first byte, size, direction, and whether the access
 * is one that an ISV = 1 syndrome can describe (Arm ARM D17.2.37: "ISV is 1
 * for ... a single general-purpose register load or store without writeback";
 * KVM emulates MMIO only from such syndromes).
 *
 * The TLB-fill hook only sees the 1 KiB page, so the vCPU uses this to report
 * the exact FAR, WnR and CM, and the ISV fields for the hypervisor.
 */

export interface MemoryAccess {
  /** First byte accessed (a VA in the signed-64 reading, see emulator/types.ts). */
  address: number;
  /** Bytes per register transferred (SAS for ISV syndromes). */
  size: number;
  /** Bytes transferred in all (pairs, SIMD structures, DC ZVA block). */
  totalSize: number;
  write: boolean;
  /** Transfer register (SRT). */
  rt: number;
  /** Sign-extending load (SSE). */
  signExtend: boolean;
  /** The destination register is 64-bit (SF). */
  sf: boolean;
  /** Acquire/release semantics (AR). */
  acqRel: boolean;
  /** Single general-purpose register, no writeback: ISV = 1 is allowed. */
  isv: boolean;
  /** LDTR/STTR family: checked with EL0 permissions at EL1. */
  unprivileged: boolean;
  /** Cache maintenance by VA (DC CIVAC, ...): reported with CM = 1. */
  cacheMaintenance: boolean;
}

/** Reads Xn for address generation; n = 31 means SP here (base registers). */
export type BaseReader = (n: number) => bigint;

const signed = (v: number, bits: number): number => (v << (32 - bits)) >> (32 - bits);

function addr(base: bigint, offset: bigint | number): number {
  return Number(BigInt.asIntN(64, base + BigInt(offset)));
}

function make(a: Partial<MemoryAccess> & Pick<MemoryAccess, 'address' | 'size' | 'write' | 'rt'>): MemoryAccess {
  return {
    totalSize: a.size,
    signExtend: false,
    sf: false,
    acqRel: false,
    isv: false,
    unprivileged: false,
    cacheMaintenance: false,
    ...a,
  };
}

/**
 * opc/size decoding shared by the single-register GPR forms (C4.1.66, the
 * "Load/store register" groups): returns direction, sign extension and
 * destination width, or null for PRFM/unallocated.
 */
function gprOpc(size: number, opc: number): { write: boolean; signExtend: boolean; sf: boolean } | null {
  if (opc === 0) return { write: true, signExtend: false, sf: size === 3 };
  if (opc === 1) return { write: false, signExtend: false, sf: size === 3 };
  if (size === 3) return null; // PRFM (opc 2) / unallocated (opc 3)
  if (size === 2 && opc === 3) return null;
  // LDRS*: opc 2 → sign-extend to 64 bits, opc 3 → to 32 bits.
  return { write: false, signExtend: true, sf: opc === 2 };
}

/** Extend-and-shift of a register offset (C6.2 "ExtendReg"): option = UXTW 010, LSL/UXTX 011, SXTW 110, SXTX 111. */
function extendReg(value: bigint, option: number, shift: number): bigint {
  let v: bigint;
  switch (option) {
    case 0b010:
      v = BigInt.asUintN(32, value);
      break;
    case 0b110:
      v = BigInt.asIntN(32, value);
      break;
    case 0b111:
      v = BigInt.asIntN(64, value);
      break;
    default:
      v = BigInt.asUintN(64, value);
  }
  return v << BigInt(shift);
}

export function decodeMemoryAccess(insn: number, readX: BaseReader): MemoryAccess | null {
  const rt = insn & 31;
  const rn = (insn >>> 5) & 31;
  const size = insn >>> 30;
  const v = (insn >>> 26) & 1;
  const xzr = (n: number) => (n === 31 ? 0n : readX(n));

  // Load/store register (unsigned immediate): size 111 V 01 opc imm12 Rn Rt
  if ((insn & 0x3b00_0000) >>> 0 === 0x3900_0000) {
    const opc = (insn >>> 22) & 3;
    const imm12 = (insn >>> 10) & 0xfff;
    if (v) return simdSingle(insn, size, opc, readX(rn), imm12, false);
    const o = gprOpc(size, opc);
    if (!o) return null;
    return make({ address: addr(readX(rn), imm12 << size), size: 1 << size, rt, ...o, isv: true });
  }

  // Load/store register: unscaled (00), post-index (01), unprivileged (10), pre-index (11).
  if ((insn & 0x3b20_0000) >>> 0 === 0x3800_0000) {
    const opc = (insn >>> 22) & 3;
    const imm9 = signed((insn >>> 12) & 0x1ff, 9);
    const kind = (insn >>> 10) & 3;
    const base = readX(rn);
    const address = kind === 1 ? addr(base, 0) : addr(base, imm9); // post-index uses the base as is
    if (v) return simdSingle(insn, size, opc, base, 0, kind !== 0 && kind !== 2, kind === 1 ? 0 : imm9);
    const o = gprOpc(size, opc);
    if (!o) return null;
    const writeback = kind === 1 || kind === 3;
    return make({ address, size: 1 << size, rt, ...o, isv: !writeback, unprivileged: kind === 2 });
  }

  // Load/store register (register offset): size 111 V 00 opc 1 Rm option S 10 Rn Rt
  if ((insn & 0x3b20_0c00) >>> 0 === 0x3820_0800) {
    const opc = (insn >>> 22) & 3;
    const rm = (insn >>> 16) & 31;
    const option = (insn >>> 13) & 7;
    const s = (insn >>> 12) & 1;
    if (v) {
      const scale = opc >= 2 && size === 0 ? 4 : size;
      const off = extendReg(xzr(rm), option, s ? scale : 0);
      return simdSingle(insn, size, opc, readX(rn), 0, false, off);
    }
    const o = gprOpc(size, opc);
    if (!o) return null;
    const off = extendReg(xzr(rm), option, s ? size : 0);
    return make({ address: addr(readX(rn), off), size: 1 << size, rt, ...o, isv: true });
  }

  // Load/store pair: opc 101 V type(2) L imm7 Rt2 Rn Rt (type 00 no-allocate, 01 post, 10 offset, 11 pre).
  if ((insn & 0x3a00_0000) >>> 0 === 0x2800_0000) {
    const opc = insn >>> 30;
    const type = (insn >>> 23) & 3;
    const load = (insn >>> 22) & 1;
    const imm7 = signed((insn >>> 15) & 0x7f, 7);
    const scale = v ? 2 + opc : opc === 2 ? 3 : 2; // LDPSW (opc 01, GPR) transfers words
    const base = readX(rn);
    const address = type === 1 ? addr(base, 0) : addr(base, imm7 << scale);
    const each = 1 << scale;
    return make({
      address,
      size: each,
      totalSize: each * 2,
      write: load === 0,
      rt,
      signExtend: !v && opc === 1,
      sf: !v && opc !== 0,
    });
  }

  // Load/store exclusive, load-acquire/store-release (incl. pairs, LDAR/STLR, LDXP): size 001000 o2 L o1 Rs o0 Rt2 Rn Rt
  if ((insn & 0x3f00_0000) >>> 0 === 0x0800_0000) {
    const o2 = (insn >>> 23) & 1;
    const load = (insn >>> 22) & 1;
    const o1 = (insn >>> 21) & 1;
    const o0 = (insn >>> 15) & 1;
    const pair = o1 === 1 && o2 === 0;
    const each = 1 << size;
    // o2 = 1, o1 = 0: LDAR/STLR/LDLAR/STLLR, a non-exclusive single register: ISV allowed.
    const plainAcqRel = o2 === 1 && o1 === 0;
    return make({
      address: addr(readX(rn), 0),
      size: each,
      totalSize: pair ? each * 2 : each,
      write: load === 0,
      rt,
      sf: size === 3,
      acqRel: o0 === 1 || plainAcqRel,
      isv: plainAcqRel,
    });
  }

  // LDAPR/STLUR family (RCpc, unscaled offset): size 011001 opc 0 imm9 00 Rn Rt
  if ((insn & 0x3f20_0c00) >>> 0 === 0x1900_0000) {
    const opc = (insn >>> 22) & 3;
    const imm9 = signed((insn >>> 12) & 0x1ff, 9);
    const o = opc === 0 ? { write: true, signExtend: false, sf: size === 3 } : opc === 1 ? { write: false, signExtend: false, sf: size === 3 } : { write: false, signExtend: true, sf: opc === 2 };
    return make({ address: addr(readX(rn), imm9), size: 1 << size, rt, ...o, acqRel: true, isv: true });
  }

  // Atomic memory operations (LDADD..., SWP, LDAPR): size 111 V 00 A R 1 Rs o3 opc 00 Rn Rt
  if ((insn & 0x3b20_0c00) >>> 0 === 0x3820_0000 && v === 0) {
    const a = (insn >>> 23) & 1;
    const r = (insn >>> 22) & 1;
    // An atomic read-modify-write faults as a write (Arm ARM D17.2.37: WnR is 1 for atomics that write).
    return make({ address: addr(readX(rn), 0), size: 1 << size, rt, write: true, sf: size === 3, acqRel: a === 1 || r === 1 });
  }

  // CAS / CASP: size 001000 1 L 1 Rs o0 11111 Rn Rt (within the exclusive class above for o2=1,o1=1).
  // Load register (literal): opc 011 V 00 imm19 Rt, PC-relative; cannot name the PC here.
  if ((insn & 0x3b00_0000) >>> 0 === 0x1800_0000) return null;

  // Advanced SIMD load/store multiple structures (LD1-LD4/ST1-ST4), no offset / post-index.
  if ((insn & 0xbfbf_0000) >>> 0 === 0x0c00_0000 || (insn & 0xbfa0_0000) >>> 0 === 0x0c80_0000) {
    const q = (insn >>> 30) & 1;
    const load = (insn >>> 22) & 1;
    const opcode = (insn >>> 12) & 0xf;
    const regs: Record<number, number> = { 0b0000: 4, 0b0010: 4, 0b0100: 3, 0b0110: 3, 0b0111: 1, 0b1000: 2, 0b1010: 2 };
    const n = regs[opcode];
    if (n === undefined) return null;
    const bytes = (q ? 16 : 8) * n;
    return make({ address: addr(readX(rn), 0), size: 1 << ((insn >>> 10) & 3), totalSize: bytes, write: load === 0, rt });
  }

  // DC <op>, Xt by VA: SYS #3, C7, Cm, #op2 (and DC ZVA: op1 3, CRm 4, op2 1).
  if ((insn & 0xfff8_0000) >>> 0 === 0xd508_0000) {
    const op1 = (insn >>> 16) & 7;
    const crn = (insn >>> 12) & 15;
    const crm = (insn >>> 8) & 15;
    const op2 = (insn >>> 5) & 7;
    if (crn !== 7) return null;
    const va = xzr(rt);
    if (op1 === 3 && crm === 4 && op2 === 1) {
      // DC ZVA zeroes a 64-byte block (DCZID_EL0.BS = 4 on -cpu max) and faults as a write, not CM.
      return make({ address: addr(va & ~63n, 0), size: 8, totalSize: 64, write: true, rt });
    }
    // DC IVAC/CVAC/CVAU/CIVAC/CVAP...: cache maintenance, reported with CM = 1 (and WnR = 1 for IVAC).
    return make({ address: addr(va & ~63n, 0), size: 8, totalSize: 64, write: op1 === 0 && crm === 6 && op2 === 1, rt, cacheMaintenance: true });
  }

  return null;
}

/** SIMD&FP single register (B/H/S/D/Q): never ISV (D17.2.37: ISV = 0 for SIMD&FP). */
function simdSingle(
  insn: number,
  size: number,
  opc: number,
  base: bigint,
  imm12: number,
  _writeback: boolean,
  offset: bigint | number = 0,
): MemoryAccess {
  const scale = opc >= 2 ? 4 : size; // opc 1x with size 00 is the 128-bit Q form
  const bytes = 1 << scale;
  const off = typeof offset === 'bigint' ? offset : BigInt(offset);
  return make({
    address: addr(base, off + BigInt(imm12 << scale)),
    size: bytes,
    write: (opc & 1) === 0,
    rt: insn & 31,
  });
}
