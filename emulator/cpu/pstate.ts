/**
 * PSTATE as Unicorn's UC_ARM64_REG_PSTATE presents it: the SPSR_ELx layout
 * (Arm ARM C5.2.18 "SPSR_EL1"): N Z C V [31:28], PAN [22], UAO [23], SS [21],
 * IL [20], D A I F [9:6], M[4] (nRW), M[3:0] = EL << 2 | SPSel.
 */
export const PSTATE = {
  SP: 1 << 0,
  M_MASK: 0xf,
  F: 1 << 6,
  I: 1 << 7,
  A: 1 << 8,
  D: 1 << 9,
  DAIF: 0xf << 6,
  BTYPE_MASK: 3 << 10,
  SSBS: 1 << 12,
  IL: 1 << 20,
  SS: 1 << 21,
  PAN: 1 << 22,
  UAO: 1 << 23,
  TCO: 1 << 25,
} as const;

export function pstateEl(p: number): number {
  return (p >>> 2) & 3;
}

export function pstateSpSel(p: number): number {
  return p & 1;
}

/** Mode name as the Arm ARM writes it: EL0t, EL1t, EL1h ... */
export function modeName(p: number): string {
  return `EL${pstateEl(p)}${pstateSpSel(p) ? 'h' : 't'}`;
}
