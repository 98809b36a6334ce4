/**
 * The data access an aborted instruction was making, in the form the vCPU
 * needs for fault syndromes: exact address (a VA in the signed-64 reading,
 * emulator/types.ts), sizes, direction, and whether an ISV = 1 syndrome can
 * describe it. A thin adapter over the A64 decoder in decode.ts.
 */
import { decodeMemAccess, issValid, type RegReader } from './decode.js';
import type { DecodedAccess } from './exits.js';

export interface MemoryAccess {
  /** First byte accessed (for DC by VA: the operand, which is what FAR reports). */
  address: number;
  /** Bytes per register transferred (SAS for ISV syndromes). */
  size: number;
  /** Bytes transferred in all (pairs, SIMD structures, DC ZVA block). */
  totalSize: number;
  write: boolean;
  rt: number;
  signExtend: boolean;
  sf: boolean;
  acqRel: boolean;
  /** Single general-purpose register, no writeback: ISV = 1 is allowed (Arm ARM D17.2.37; KVM's rule). */
  isv: boolean;
  /** LDTR/STTR family: checked with EL0 permissions at EL1. */
  unprivileged: boolean;
  /** DC/IC by VA: reported with CM = 1. */
  cacheMaintenance: boolean;
  /** Everything else a device emulation needs (exits.ts DecodedAccess). */
  decoded: DecodedAccess;
}

/** `readX(n)`: Xn for address generation, n = 31 meaning SP. */
export function decodeMemoryAccess(insn: number, readX: RegReader, pc?: number): MemoryAccess | null {
  const a = decodeMemAccess(insn, readX, pc === undefined ? {} : { pc: BigInt.asUintN(64, BigInt(pc)) });
  if (a === null) return null;
  const cm = a.isCacheMaintenance;
  const address = Number(BigInt.asIntN(64, cm || a.isDcZva ? a.operand : a.address));
  return {
    address,
    size: a.elementSize,
    totalSize: a.size,
    write: a.isWrite,
    rt: a.rt,
    signExtend: a.signExtend,
    sf: a.sf,
    acqRel: a.isAcqRel,
    isv: issValid(a),
    unprivileged: a.isUnprivileged,
    cacheMaintenance: cm,
    decoded: {
      address,
      elementSize: a.elementSize,
      totalSize: a.size,
      write: a.isWrite,
      rt: a.rt,
      rt2: a.rt2,
      signExtend: a.signExtend,
      sf: a.sf,
      simd: a.isSimd,
      structure: a.isStructure,
      exclusive: a.isExclusive,
      atomic: a.isAtomic || (a.isRead && a.isWrite),
      cacheMaintenance: cm || a.isDcZva,
      rn: a.rn,
      writebackValue: a.writeback ? a.writebackValue : null,
    },
  };
}
