/*
 * GICv3 set-up shared by the guests that take a PPI (timer-irq, nested-irq): QEMU virt's
 * distributor and redistributor addresses, and one PPI enabled as Group 1 at priority 0x80
 * with the system-register CPU interface on (Arm IHI0069 GICv3: GICD_CTLR.ARE/EnableGrp1,
 * GICR_WAKER, GICR_IGROUPR0/IPRIORITYR/ISENABLER0, ICC_SRE_EL1, ICC_PMR_EL1, ICC_IGRPEN1_EL1).
 */
#ifndef HYPEMU_GICV3_H
#define HYPEMU_GICV3_H
#include "runtime.h"

#define GICD 0x08000000UL
#define GICR 0x080a0000UL
#define GICR_SGI (GICR + 0x10000UL)

static inline void gicv3_enable_ppi(unsigned intid)
{
	mmio_write32(GICD + 0x0, (1u << 4) | (1u << 1)); /* GICD_CTLR: ARE, EnableGrp1 */
	u32 waker = mmio_read32(GICR + 0x14);             /* GICR_WAKER: wake the redistributor */
	mmio_write32(GICR + 0x14, waker & ~2u);
	while (mmio_read32(GICR + 0x14) & 4u)
		;
	mmio_write32(GICR_SGI + 0x80, 1u << intid);                       /* IGROUPR0: group 1 */
	mmio_write32(GICR_SGI + 0x400 + (intid & ~3u), 0x80u << (8 * (intid & 3))); /* IPRIORITYRn: priority 0x80 */
	mmio_write32(GICR_SGI + 0x100, 1u << intid);                      /* ISENABLER0 */
	write_sysreg(7, S3_0_C12_C12_5);   /* ICC_SRE_EL1: system-register interface */
	isb();
	write_sysreg(0xff, S3_0_C4_C6_0);  /* ICC_PMR_EL1 */
	write_sysreg(1, S3_0_C12_C12_7);   /* ICC_IGRPEN1_EL1 */
	isb();
}

#endif
