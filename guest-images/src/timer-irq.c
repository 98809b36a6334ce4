/*
 * timer-irq: the virtual timer (PPI 27) through the GICv3, with the MMU on. TICKS periodic
 * interrupts 1 ms apart (Arm ARM D11.2 "The AArch64 view of the Generic Timer": CNTV_TVAL_EL0,
 * CNTV_CTL_EL0.ENABLE/IMASK) are taken as IRQs (vector 0x280, current EL with SPx) while the CPU
 * alternately computes and waits in WFI; the handler acknowledges through ICC_IAR1_EL1 and
 * ICC_EOIR1_EL1 (GICv3, IHI0069) and records how far the computation had got. Its output depends
 * on exactly when each interrupt arrives, which is what the snapshot/restore and determinism
 * tests compare byte for byte (issue 11).
 */
#include "runtime.h"
#include "gicv3.h"
#include "mmu.h"

#define TIMER_PPI 27
#define TICKS 24

static u8 pool[64 * 1024] __attribute__((aligned(4096)));
static volatile u64 ticks;
static volatile u64 work;
static u64 work_at[TICKS];
static u64 period;

void exception_handler(struct frame *f, unsigned vec)
{
	if (vec == 5) { /* IRQ, current EL with SPx */
		u64 iar = read_sysreg(S3_0_C12_C12_0); /* ICC_IAR1_EL1 */
		if ((iar & 0xffffff) == TIMER_PPI) {
			if (ticks < TICKS) work_at[ticks] = work;
			ticks++;
			if (ticks < TICKS) write_sysreg(period, cntv_tval_el0);
			else write_sysreg(0, cntv_ctl_el0);
		}
		write_sysreg(iar, S3_0_C12_C12_1); /* ICC_EOIR1_EL1 */
		return;
	}
	unexpected_exception(f, vec);
}

int main(void)
{
	struct pt pt;
	install_vectors();
	pt_init(&pt, 12, pool, sizeof pool);
	pt_identity_default(&pt);
	pt_map_auto(&pt, GICD, GICD, 0x10000, PROT_DEVICE, 3);
	pt_map_auto(&pt, GICR, GICR, 0x20000, PROT_DEVICE, 3);
	mmu_enable(DEFAULT_MAIR, tcr_for(12), (u64)pt.root, 0);
	gicv3_enable_ppi(TIMER_PPI);

	period = read_sysreg(cntfrq_el0) / 1000; /* 1 ms */
	write_sysreg(period, cntv_tval_el0);
	write_sysreg(1, cntv_ctl_el0); /* ENABLE, IMASK clear */
	isb();
	__asm__ volatile("msr daifclr, #2" ::: "memory");

	u64 seen = 0, x = 0x9e3779b97f4a7c15UL;
	while (ticks < TICKS) {
		if (ticks & 1) {
			__asm__ volatile("wfi");
		} else {
			/* xorshift64: some computation the interrupt lands in the middle of */
			x ^= x << 13; x ^= x >> 7; x ^= x << 17;
			work = work + (x & 0xff);
		}
		if (ticks != seen) {
			seen = ticks;
			printf("tick %u: work %lu, virtual counter %lx\n", (u32)(seen - 1), work_at[seen - 1], read_sysreg(cntvct_el0));
		}
	}
	__asm__ volatile("msr daifset, #2" ::: "memory");
	printf("timer-irq: %u ticks, final work %lu, x %lx\n", (u32)ticks, work, x);
	puts("PASS timer-irq\n");
	return 0;
}
