/**
 * GICv3 register offsets (IHI0069 12.8-12.10), a leaf module: the Distributor model (gicv3.ts) and
 * the bit-array/field register helpers it uses for both GICD and SGI_base frames (gicv3-bank.ts)
 * share them without importing each other.
 */

/** Distributor register offsets, IHI0069 12.8 "The GIC Distributor register map". */
export const GICD = {
  CTLR: 0x0000,
  TYPER: 0x0004,
  IIDR: 0x0008,
  TYPER2: 0x000c,
  STATUSR: 0x0010,
  IGROUPR: 0x0080,
  ISENABLER: 0x0100,
  ICENABLER: 0x0180,
  ISPENDR: 0x0200,
  ICPENDR: 0x0280,
  ISACTIVER: 0x0300,
  ICACTIVER: 0x0380,
  IPRIORITYR: 0x0400,
  ITARGETSR: 0x0800,
  ICFGR: 0x0c00,
  IGRPMODR: 0x0d00,
  NSACR: 0x0e00,
  SGIR: 0x0f00,
  IROUTER: 0x6000,
  PIDR2: 0xffe8,
} as const;

/** Redistributor offsets, IHI0069 12.10 "The GIC Redistributor register map"; SGI_BASE-relative ones reuse GICD's. */
export const GICR = {
  CTLR: 0x0000,
  IIDR: 0x0004,
  TYPER: 0x0008,
  STATUSR: 0x0010,
  WAKER: 0x0014,
  PROPBASER: 0x0070,
  PENDBASER: 0x0078,
  PIDR2: 0xffe8,
  SGI_BASE: 0x1_0000,
} as const;

/** One Redistributor's frames (RD_base + SGI_base), QEMU virt's stride (IHI0069 12.10). */
export const GICR_STRIDE = 0x2_0000;
