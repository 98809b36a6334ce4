/*
 * irq-unmask: an interrupt that is pending while PSTATE.I masks it is taken at the instruction
 * right after the one that unmasks it (Arm ARM D1.3.6 "Asynchronous exception masking"; QEMU ends
 * its translation block after MSR DAIFClr / MSR DAIF / ERET and takes it there), and one that a
 * WFI waits for is taken right after the unmask that follows the WFI. The virtual timer (PPI 27,
 * GICv3) is made pending first (seen in GICR_ISPENDR0), then each case clears x1, unmasks, and
 * counts up in x1: the handler records x1 and ELR, which must be 0 and the first counting
 * instruction. Long straight-line runs of NOPs put the unmask in the middle of a block.
 */
#include "runtime.h"

#define GICD 0x08000000UL
#define GICR 0x080a0000UL
#define GICR_SGI (GICR + 0x10000UL)
#define TIMER_PPI 27

static volatile u64 irqs, irq_x1, irq_elr;

void exception_handler(struct frame *f, unsigned vec)
{
	if (vec == 5) { /* IRQ, current EL with SPx */
		u64 iar = read_sysreg(S3_0_C12_C12_0); /* ICC_IAR1_EL1 */
		if ((iar & 0xffffff) == TIMER_PPI) {
			irqs++;
			irq_x1 = f->x[1];
			irq_elr = f->elr;
			write_sysreg(0, cntv_ctl_el0); /* the line goes low */
		}
		write_sysreg(iar, S3_0_C12_C12_1); /* ICC_EOIR1_EL1 */
		return;
	}
	unexpected_exception(f, vec);
}

static void gic_init(void)
{
	mmio_write32(GICD + 0x0, (1u << 4) | (1u << 1)); /* GICD_CTLR: ARE, EnableGrp1 */
	u32 waker = mmio_read32(GICR + 0x14);
	mmio_write32(GICR + 0x14, waker & ~2u);
	while (mmio_read32(GICR + 0x14) & 4u)
		;
	mmio_write32(GICR_SGI + 0x80, 1u << TIMER_PPI);   /* IGROUPR0: group 1 */
	mmio_write32(GICR_SGI + 0x400 + 24, 0x80u << 24); /* IPRIORITYR6 */
	mmio_write32(GICR_SGI + 0x100, 1u << TIMER_PPI);  /* ISENABLER0 */
	write_sysreg(7, S3_0_C12_C12_5);   /* ICC_SRE_EL1 */
	isb();
	write_sysreg(0xff, S3_0_C4_C6_0);  /* ICC_PMR_EL1 */
	write_sysreg(1, S3_0_C12_C12_7);   /* ICC_IGRPEN1_EL1 */
	isb();
}

/*
 * A fresh handler record, and the virtual timer armed `tval` ticks ahead (0: its condition is met
 * now). A macro, not a function: the guest's code (and its goldens) stay what they were.
 */
#define ARM_TIMER(tval)                                                       \
	do {                                                                  \
		irqs = 0;                                                     \
		irq_x1 = ~0UL;                                                \
		irq_elr = 0;                                                  \
		write_sysreg(tval, cntv_tval_el0);                            \
		write_sysreg(1, cntv_ctl_el0);                                \
		isb();                                                        \
	} while (0)

/* Timer condition met now, I masked: wait until the redistributor shows PPI 27 pending. */
static void make_pending(void)
{
	ARM_TIMER(0);
	while (!(mmio_read32(GICR_SGI + 0x200) & (1u << TIMER_PPI))) /* GICR_ISPENDR0 */
		;
}

#define NOPS16 "nop; nop; nop; nop; nop; nop; nop; nop; nop; nop; nop; nop; nop; nop; nop; nop\n"
#define COUNT8 "add x1, x1, #1\n add x1, x1, #1\n add x1, x1, #1\n add x1, x1, #1\n" \
               "add x1, x1, #1\n add x1, x1, #1\n add x1, x1, #1\n add x1, x1, #1\n"

static void report(const char *what, u64 label, u64 x1)
{
	printf("%s: irqs %lu, x1 at the interrupt %ld, ELR - first counting instruction %ld, x1 after %lu\n",
	       what, irqs, (s64)irq_x1, (s64)(irq_elr - label), x1);
	check_bool(what, irqs == 1 && irq_x1 == 0 && irq_elr == label && x1 == 8);
}

int main(void)
{
	u64 x1, label;
	install_vectors();
	gic_init();

	make_pending();
	__asm__ volatile("mov x1, #0\n adr %1, 1f\n" NOPS16 NOPS16 "msr daifclr, #2\n1:\n" COUNT8
			 "mov %0, x1\n msr daifset, #2\n"
			 : "=r"(x1), "=&r"(label) : : "x1", "memory");
	report("taken right after MSR DAIFClr", label, x1);

	make_pending();
	__asm__ volatile("mov x1, #0\n adr %1, 1f\n" NOPS16 "msr daif, xzr\n1:\n" COUNT8
			 "mov %0, x1\n msr daifset, #2\n"
			 : "=r"(x1), "=&r"(label) : : "x1", "memory");
	report("taken right after MSR DAIF", label, x1);

	make_pending();
	/* ERET to the next instruction with SPSR = EL1h, D A F masked, I clear. */
	__asm__ volatile("mov x1, #0\n adr %1, 1f\n msr elr_el1, %1\n mov x2, #0x345\n msr spsr_el1, x2\n" NOPS16
			 "eret\n1:\n" COUNT8 "mov %0, x1\n msr daifset, #2\n"
			 : "=r"(x1), "=&r"(label) : : "x1", "x2", "memory");
	report("taken right after ERET", label, x1);

	/* WFI with I masked and the timer 100 us ahead: the interrupt wakes it, then the unmask. */
	ARM_TIMER(read_sysreg(cntfrq_el0) / 10000);
	__asm__ volatile("mov x1, #0\n adr %1, 1f\n dsb sy\n wfi\n msr daifclr, #2\n1:\n" COUNT8
			 "mov %0, x1\n msr daifset, #2\n"
			 : "=r"(x1), "=&r"(label) : : "x1", "memory");
	report("taken right after the unmask that follows WFI", label, x1);

	/* Unmasked: a timer write that makes the interrupt pending, then ISB (context synchronisation). */
	ARM_TIMER(1000000);
	__asm__ volatile("msr daifclr, #2\n mov x1, #0\n adr %1, 1f\n" NOPS16 "msr cntv_tval_el0, xzr\n isb\n1:\n" COUNT8
			 "mov %0, x1\n msr daifset, #2\n"
			 : "=r"(x1), "=&r"(label) : : "x1", "memory");
	printf("timer write + ISB: irqs %lu, x1 at the interrupt %ld, x1 after %lu\n", irqs, (s64)irq_x1, x1);
	check_bool("taken by the ISB after the timer write", irqs == 1 && irq_x1 == 0 && x1 == 8);

	/* Unmasked, the timer armed 50 ticks (800 ns) ahead: it fires during the loop, not after it. */
	irqs = 0;
	irq_x1 = ~0UL;
	__asm__ volatile("msr daifclr, #2\n mov x1, #0\n msr cntv_tval_el0, %1\n msr cntv_ctl_el0, %3\n isb\n"
			 "1: add x1, x1, #1\n cmp x1, %2\n b.ne 1b\n mov %0, x1\n msr daifset, #2\n"
			 : "=r"(x1) : "r"(50UL), "r"(300000UL), "r"(1UL) : "x1", "memory");
	printf("timer 50 ticks ahead: irqs %lu, taken during the loop: %s\n", irqs, irq_x1 < 300000 ? "yes" : "no");
	check_bool("a timer armed for the near future fires on time", irqs == 1 && irq_x1 < 300000);

	finish("irq-unmask");
}
