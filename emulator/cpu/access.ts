/**
 * The data access an aborted instruction was making, in the form the vCPU
 * needs for fault syndromes: exact address, size, direction, and whether the
 * access is one the ISV = 1 syndrome can describe. Adapter over decode.ts.
 */
export interface MemoryAccess {
  /** First byte accessed (a VA in the signed-64 reading, see emulator/types.ts). */
  address: number;
  /** Bytes per register transferred. */
  size: number;
  /** Bytes transferred in all (pairs, SIMD structures). */
  totalSize: number;
  write: boolean;
  rt: number;
  signExtend: boolean;
  sf: boolean;
  acqRel: boolean;
  /** Single general-purpose register, no writeback: ISV = 1 is allowed (KVM's rule). */
  isv: boolean;
  /** LDTR/STTR family: checked with EL0 permissions at EL1. */
  unprivileged: boolean;
  /** DC by VA: reported with CM = 1. */
  cacheMaintenance: boolean;
}

export function decodeMemoryAccess(_insn: number, _readX: (n: number) => bigint): MemoryAccess | null {
  return null;
}
