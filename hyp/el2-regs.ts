/**
 * The per-vCPU EL2 register file: the registers a hypervisor running at EL2
 * owns (Arm ARM D19.2, "AArch64 System register descriptions", EL2 group).
 * These are virtual: the CPU core runs only EL1/EL0, and this model is what
 * the EL2 software reads and writes. HCR_EL2 is also kept split into 32-bit
 * halves so the hot path can test trap bits without BigInt.
 */
export const EL2_REG_NAMES = [
  'HCR_EL2',
  'VTTBR_EL2',
  'VTCR_EL2',
  'ESR_EL2',
  'FAR_EL2',
  'HPFAR_EL2',
  'ELR_EL2',
  'SPSR_EL2',
  'VBAR_EL2',
  'SCTLR_EL2',
  'MDCR_EL2',
  'CPTR_EL2',
  'CNTHCTL_EL2',
  'CNTVOFF_EL2',
  'VPIDR_EL2',
  'VMPIDR_EL2',
  'TPIDR_EL2',
] as const;
export type El2RegName = (typeof EL2_REG_NAMES)[number];

export class El2Regs {
  private readonly values = new Map<El2RegName, bigint>();
  /** HCR_EL2[31:0] and [63:32] as numbers, kept in step with the bigint value. */
  hcrLo = 0;
  hcrHi = 0;
  /** MDCR_EL2[31:0] as a number (the system-instruction filter compares it on every hook call). */
  mdcrLo = 0;
  /** Called after HCR_EL2 changes (the MMU regime and trap routing depend on it). */
  onHcrChange: ((hcr: bigint) => void) | null = null;

  constructor() {
    for (const n of EL2_REG_NAMES) this.values.set(n, 0n);
    // SCTLR_EL2 RES1 bits (Arm ARM D19.2.116, with HCR_EL2.E2H == 0): 29:28, 23:22, 18, 16, 11, 5:4.
    this.values.set('SCTLR_EL2', 0x30c5_0830n);
  }

  get(name: El2RegName): bigint {
    return this.values.get(name)!;
  }

  set(name: El2RegName, v: bigint): void {
    const value = BigInt.asUintN(64, v);
    this.values.set(name, value);
    if (name === 'HCR_EL2') {
      this.hcrLo = Number(value & 0xffff_ffffn);
      this.hcrHi = Number(value >> 32n);
      this.onHcrChange?.(value);
    } else if (name === 'MDCR_EL2') {
      this.mdcrLo = Number(value & 0xffff_ffffn) >>> 0;
    }
  }

  get hcr(): bigint {
    return this.values.get('HCR_EL2')!;
  }
  set hcr(v: bigint) {
    this.set('HCR_EL2', v);
  }

  /** Test an HCR_EL2 bit (0..63) without BigInt. */
  hcrBit(bit: number): boolean {
    return bit < 32 ? ((this.hcrLo >>> bit) & 1) === 1 : ((this.hcrHi >>> (bit - 32)) & 1) === 1;
  }

  /** Every register as 0x-hex strings, for the stats JSON and the debugger. */
  toJSON(): Record<El2RegName, string> {
    const out = {} as Record<El2RegName, string>;
    for (const [k, v] of this.values) out[k] = '0x' + v.toString(16);
    return out;
  }
}
