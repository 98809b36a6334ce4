/**
 * The flattened-devicetree format's constants (Devicetree Specification v0.4, chapter 5), shared
 * by the writer (dtb.ts) and the reader (dtb-parse.ts).
 */

export const FDT_MAGIC = 0xd00dfeed;
export const FDT_VERSION = 17;
export const FDT_LAST_COMP_VERSION = 16;

/** Structure block tokens (spec 5.4.1). */
export const FDT_BEGIN_NODE = 0x1;
export const FDT_END_NODE = 0x2;
export const FDT_PROP = 0x3;
export const FDT_NOP = 0x4;
export const FDT_END = 0x9;

/** The header: ten big-endian u32s (spec 5.2). */
export const HEADER_SIZE = 40;

export class FdtError extends Error {
  override name = 'FdtError';
}

/** A /memreserve/ entry (spec 5.3). */
export interface MemReservation {
  address: bigint;
  size: bigint;
}
