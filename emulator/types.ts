/**
 * Address conventions. Guest physical addresses (IPA, PA) are non-negative
 * numbers below 2^52, exact as doubles. Virtual addresses are 64-bit and
 * kernel ones have their upper bits set, so a VA held as a number is its
 * *signed* 64-bit reading: every canonical VA (bits [63:48] all equal) is then
 * exact. Use these helpers at the edges (printing, bigint registers).
 */

/** A virtual address as a signed-64 number (see above). */
export type Va = number;

export function vaFromBigint(v: bigint): Va {
  return Number(BigInt.asIntN(64, v));
}

export function vaToBigint(va: Va): bigint {
  return BigInt.asUintN(64, BigInt(va));
}

/** 0x-prefixed 16-digit hex of a VA, as the Arm ARM and gdb print them. */
export function hexVa(va: Va): string {
  return '0x' + vaToBigint(va).toString(16).padStart(16, '0');
}

/** 0x-prefixed hex of a physical address. */
export function hexPa(pa: number): string {
  return '0x' + pa.toString(16);
}

/** Parse a user-supplied address (decimal, 0x hex, underscores allowed) into a bigint, or null. */
export function parseAddress(text: string): bigint | null {
  const t = text.trim().replace(/_/g, '');
  if (!/^(0x[0-9a-fA-F]+|[0-9]+)$/.test(t)) return null;
  const v = BigInt(t);
  return v < 0n || v > 0xffff_ffff_ffff_ffffn ? null : v;
}
