/*
 * GICv3 set-up shared by the guests that take interrupts (timer-irq, nested-irq; the SMP guests
 * through src/smp.h): QEMU virt's distributor and redistributor addresses, a redistributor
 * woken, SGIs/PPIs enabled as Group 1, and the system-register CPU interface on (Arm IHI0069
 * GICv3: GICD_CTLR.ARE/EnableGrp1, GICR_WAKER, GICR_IGROUPR0/IPRIORITYR/ISENABLER0,
 * ICC_SRE_EL1, ICC_PMR_EL1, ICC_IGRPEN1_EL1).
 */
#ifndef HYPEMU_GICV3_H
#define HYPEMU_GICV3_H
#include "runtime.h"

#define GICD 0x08000000UL
#define GICR 0x080a0000UL
#define GICR_STRIDE 0x20000UL          /* one RD_base + SGI_base frame pair per CPU */
#define GICR_SGI (GICR + 0x10000UL)

/* GICR_WAKER.ProcessorSleep = 0, then wait for ChildrenAsleep = 0: the redistributor at `rd` is awake. */
static inline void gicv3_wake(u64 rd)
{
	u32 waker = mmio_read32(rd + 0x14);
	mmio_write32(rd + 0x14, waker & ~2u);
	while (mmio_read32(rd + 0x14) & 4u)
		;
}

/* This CPU's system-register interface on, every priority unmasked, Group 1 enabled. */
static inline void gicv3_cpu_if_on(void)
{
	write_sysreg(7, S3_0_C12_C12_5);   /* ICC_SRE_EL1: system-register interface */
	isb();
	write_sysreg(0xff, S3_0_C4_C6_0);  /* ICC_PMR_EL1 */
	write_sysreg(1, S3_0_C12_C12_7);   /* ICC_IGRPEN1_EL1 */
	isb();
}

/*
 * CPU `cpu` (its redistributor, GICR + GICR_STRIDE * cpu): awake, the SGIs/PPIs in `ints`
 * (bit n: INTID n) Group 1 and enabled, IPRIORITYR0..`prio_words`-1 (four INTIDs each) at
 * priority 0x80, and its CPU interface on.
 */
static inline void gicv3_cpu_init(unsigned cpu, u32 ints, unsigned prio_words)
{
	u64 rd = GICR + GICR_STRIDE * cpu;
	gicv3_wake(rd);
	mmio_write32(rd + 0x10000 + 0x80, ints); /* IGROUPR0: group 1 */
	for (unsigned i = 0; i < prio_words; i++) mmio_write32(rd + 0x10000 + 0x400 + 4 * i, 0x80808080u);
	mmio_write32(rd + 0x10000 + 0x100, ints); /* ISENABLER0 */
	gicv3_cpu_if_on();
}

/* The distributor on: affinity routing (ARE), Group 1 enabled. */
static inline void gicv3_dist_on(void)
{
	mmio_write32(GICD + 0x0, (1u << 4) | (1u << 1)); /* GICD_CTLR: ARE, EnableGrp1 */
}

/* The distributor on (ARE, Group 1) and one PPI of CPU 0 enabled at priority 0x80. */
static inline void gicv3_enable_ppi(unsigned intid)
{
	gicv3_dist_on();
	gicv3_wake(GICR);
	mmio_write32(GICR_SGI + 0x80, 1u << intid);                       /* IGROUPR0: group 1 */
	mmio_write32(GICR_SGI + 0x400 + (intid & ~3u), 0x80u << (8 * (intid & 3))); /* IPRIORITYRn: priority 0x80 */
	mmio_write32(GICR_SGI + 0x100, 1u << intid);                      /* ISENABLER0 */
	gicv3_cpu_if_on();
}

#endif
