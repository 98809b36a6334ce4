/*
 * smp-spin: CPUs that wait by spinning on YIELD, as kvm-unit-tests' micro-bench does (hypemu
 * --smp N, QEMU -smp N), for the SMP scheduler's hand-over and spin warp
 * (emulator/cpu/smp-scheduler.ts):
 *  - IPI round trips: CPU 0 sends SGI 1 to each secondary (ICC_SGI1R_EL1, IHI0069 12.2) and spins
 *    on YIELD until the secondary's handler has counted it in memory (it answers nothing, it just
 *    EOIs); ROUNDS per secondary, the longest round trip printed in counter ticks (under hypemu:
 *    the sender's quantum ends at the SGI, the target's at its EOI, so a round trip is the
 *    instructions both execute; under QEMU it is host time);
 *  - timer waits: CPU 0 arms its virtual timer 10 ms ahead (CNTV_CVAL_EL0, PPI 27; Arm ARM D11.2)
 *    and spins on YIELD until the IRQ handler says it fired, WAITS times, while every secondary
 *    spins on YIELD waiting for the end: no CPU can end the wait but the timer (micro-bench
 *    timer_10ms). Each wait must end by the interrupt, never before the deadline;
 *  - the end: the secondaries see `done` in their spin and CPU_OFF (DEN0022 5.1.3).
 * Everything but the round-trip tick count prints the same under QEMU.
 */
#include "smp.h"

#define TIMER_PPI 27
#define ROUNDS 8
#define WAITS 16
#define TRIES (1UL << 28)

static volatile u32 online[MAX_CPUS];
static volatile u32 acks[MAX_CPUS];
static volatile u32 done;
static volatile u32 timer_fired;
static volatile u64 timer_at;

static inline void cpu_relax(void) { __asm__ volatile("yield" ::: "memory"); }

void exception_handler(struct frame *f, unsigned vec)
{
	if (vec == 5) { /* IRQ, current EL with SPx */
		u64 iar = read_sysreg(S3_0_C12_C12_0); /* ICC_IAR1_EL1 */
		unsigned id = iar & 0xffffff;
		if (id == 1) acks[cpu_id()]++;
		if (id == TIMER_PPI) {
			timer_at = read_sysreg(cntvct_el0);
			write_sysreg(3, cntv_ctl_el0); /* ENABLE, IMASK: the level goes down */
			timer_fired = 1;
		}
		write_sysreg(iar, S3_0_C12_C12_1); /* ICC_EOIR1_EL1 */
		return;
	}
	unexpected_exception(f, vec);
}

/* SGIs and the virtual timer's PPI, all 32 SGI/PPI priorities 0x80. */
static void gic_cpu_init(unsigned cpu) { gicv3_cpu_init(cpu, 0xffffu | (1u << TIMER_PPI), 8); }

void secondary_main(u64 ctx, u64 el, u64 sctlr)
{
	unsigned cpu = smp_secondary_start(gic_cpu_init);
	online[cpu] = 1;
	while (!done) /* the spin: a load, a branch, a YIELD */
		cpu_relax();
	smp_cpu_off();
}

int main(void)
{
	install_vectors();
	smp_tables_init();
	smp_map_gic();
	smp_mmu_on();
	gicv3_dist_on();
	gic_cpu_init(0);
	__asm__ volatile("msr daifclr, #2" ::: "memory");

	unsigned n = 1;
	while (n < MAX_CPUS && psci(PSCI_CPU_ON, n, (u64)secondary_entry, n) == 0) {
		u64 tries = TRIES;
		while (!online[n] && tries--)
			cpu_relax();
		check_bool("secondary came online", online[n]);
		n++;
	}
	printf("%u CPUs\n", n);
	check_bool("at least 2 CPUs", n >= 2);

	/* IPI round trips: SGI 1, answered by the target's count in memory. */
	u64 longest = 0;
	for (unsigned c = 1; c < n; c++) {
		for (u32 k = 1; k <= ROUNDS; k++) {
			u64 t0 = read_sysreg(cntvct_el0);
			write_sysreg((1UL << 24) | (1UL << c), S3_0_C12_C11_5); /* ICC_SGI1R_EL1: SGI 1 to CPU c */
			isb();
			u64 tries = TRIES;
			while (acks[c] < k && tries--)
				cpu_relax();
			u64 t = read_sysreg(cntvct_el0) - t0;
			if (t > longest) longest = t;
		}
		check("SGI 1 round trips answered", acks[c], ROUNDS);
	}
	printf("IPI round trip, longest: %lu counter ticks\n", longest);

	/* Timer waits: everybody spins, only the timer can end it. */
	u64 ten_ms = read_sysreg(cntfrq_el0) / 100;
	unsigned fired = 0, early = 0;
	for (unsigned w = 0; w < WAITS; w++) {
		timer_fired = 0;
		u64 deadline = read_sysreg(cntvct_el0) + ten_ms;
		write_sysreg(deadline, cntv_cval_el0);
		write_sysreg(1, cntv_ctl_el0); /* ENABLE, IMASK clear */
		isb();
		u64 tries = TRIES;
		while (!timer_fired && tries--)
			cpu_relax();
		fired += timer_fired;
		early += timer_fired && timer_at < deadline;
	}
	write_sysreg(0, cntv_ctl_el0);
	check("10 ms timer waits ended by the timer IRQ", fired, WAITS);
	check("no timer IRQ taken before its deadline", early, 0);

	done = 1;
	dsb(ish);
	for (unsigned c = 1; c < n; c++) {
		s64 r = 0;
		u64 tries = TRIES;
		while ((r = psci(PSCI_AFFINITY_INFO, c, 0, 0)) != 1 && tries--)
			cpu_relax();
		check("AFFINITY_INFO(secondary) after CPU_OFF: OFF", r, 1);
	}
	__asm__ volatile("msr daifset, #2" ::: "memory");
	finish("smp-spin");
}
