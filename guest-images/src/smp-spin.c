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
#include "runtime.h"
#include "mmu.h"

#define GICD 0x08000000UL
#define GICR 0x080a0000UL
#define GICR_STRIDE 0x20000UL
#define MAX_CPUS 8
#define TIMER_PPI 27
#define ROUNDS 8
#define WAITS 16
#define TRIES (1UL << 28)

#define PSCI_CPU_ON 0xc4000003UL
#define PSCI_CPU_OFF 0x84000002UL
#define PSCI_AFFINITY_INFO 0xc4000004UL

static u8 pool[64 * 1024] __attribute__((aligned(4096)));
u8 stacks[MAX_CPUS][8192] __attribute__((aligned(16)));
static struct pt pt;
static u64 tcr;

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

static void gic_cpu_init(unsigned cpu)
{
	u64 rd = GICR + GICR_STRIDE * cpu;
	u32 waker = mmio_read32(rd + 0x14); /* GICR_WAKER: wake the redistributor */
	mmio_write32(rd + 0x14, waker & ~2u);
	while (mmio_read32(rd + 0x14) & 4u)
		;
	u32 ints = 0xffffu | (1u << TIMER_PPI); /* SGIs and the virtual timer's PPI */
	mmio_write32(rd + 0x10000 + 0x80, ints); /* IGROUPR0: group 1 */
	for (unsigned i = 0; i < 8; i++) mmio_write32(rd + 0x10000 + 0x400 + 4 * i, 0x80808080u); /* priority 0x80 */
	mmio_write32(rd + 0x10000 + 0x100, ints); /* ISENABLER0 */
	write_sysreg(7, S3_0_C12_C12_5);  /* ICC_SRE_EL1 */
	isb();
	write_sysreg(0xff, S3_0_C4_C6_0); /* ICC_PMR_EL1 */
	write_sysreg(1, S3_0_C12_C12_7);  /* ICC_IGRPEN1_EL1 */
	isb();
}

__asm__(".text\n.global secondary_entry\nsecondary_entry:\n"
	"	msr daifset, #0xf\n"
	"	msr spsel, #1\n"
	"	adrp x1, stacks\n"
	"	add x1, x1, :lo12:stacks\n"
	"	add x2, x0, #1\n"
	"	add x1, x1, x2, lsl #13\n"
	"	mov sp, x1\n"
	"	bl secondary_main\n"
	"1:	b 1b\n");
void secondary_entry(void);

void secondary_main(u64 cpu)
{
	install_vectors();
	mmu_enable(DEFAULT_MAIR, tcr, (u64)pt.root, 0);
	gic_cpu_init(cpu);
	__asm__ volatile("msr daifclr, #2" ::: "memory");
	online[cpu] = 1;
	while (!done) /* the spin: a load, a branch, a YIELD */
		cpu_relax();
	__asm__ volatile("msr daifset, #2" ::: "memory");
	psci(PSCI_CPU_OFF, 0, 0, 0);
	for (;;)
		;
}

int main(void)
{
	install_vectors();
	pt_init(&pt, 12, pool, sizeof pool);
	pt_identity_default(&pt);
	pt_map_auto(&pt, GICD, GICD, 0x10000, PROT_DEVICE, 3);
	pt_map_auto(&pt, GICR, GICR, GICR_STRIDE * MAX_CPUS, PROT_DEVICE, 3);
	tcr = tcr_for(12);
	mmu_enable(DEFAULT_MAIR, tcr, (u64)pt.root, 0);
	mmio_write32(GICD + 0x0, (1u << 4) | (1u << 1)); /* GICD_CTLR: ARE, EnableGrp1 */
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
