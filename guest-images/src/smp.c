/* The SMP guests' shared start-up and shut-down (see smp.h). */
#include "smp.h"

u8 smp_stacks[MAX_CPUS][8192] __attribute__((aligned(16)));
static u8 pool[64 * 1024] __attribute__((aligned(4096)));
struct pt smp_pt;
static u64 tcr;

/* x0 = the context id CPU_ON passed (kept for secondary_main); SP = the top of smp_stacks[Aff0]. */
__asm__(".text\n.global secondary_entry\nsecondary_entry:\n"
	"	msr daifset, #0xf\n"
	"	msr spsel, #1\n"
	"	mrs x19, CurrentEL\n"
	"	mrs x20, sctlr_el1\n"
	"	mrs x3, mpidr_el1\n"
	"	and x3, x3, #0xff\n"
	"	add x3, x3, #1\n"
	"	adrp x4, smp_stacks\n"
	"	add x4, x4, :lo12:smp_stacks\n"
	"	add x4, x4, x3, lsl #13\n"
	"	mov sp, x4\n"
	"	mov x1, x19\n"
	"	mov x2, x20\n"
	"	bl secondary_main\n"
	"1:	b 1b\n");

void smp_tables_init(void)
{
	pt_init(&smp_pt, 12, pool, sizeof pool);
	pt_identity_default(&smp_pt);
	tcr = tcr_for(12);
}

void smp_map_gic(void)
{
	pt_map_auto(&smp_pt, GICD, GICD, 0x10000, PROT_DEVICE, 3);
	pt_map_auto(&smp_pt, GICR, GICR, GICR_STRIDE * MAX_CPUS, PROT_DEVICE, 3);
}

void smp_mmu_on(void)
{
	mmu_enable(DEFAULT_MAIR, tcr, (u64)smp_pt.root, 0);
}

unsigned smp_secondary_start(void (*gic_init)(unsigned cpu))
{
	unsigned cpu = cpu_id();
	install_vectors();
	smp_mmu_on();
	if (gic_init) {
		gic_init(cpu);
		__asm__ volatile("msr daifclr, #2" ::: "memory");
	}
	return cpu;
}

void smp_cpu_off(void)
{
	__asm__ volatile("msr daifset, #2" ::: "memory");
	psci(PSCI_CPU_OFF, 0, 0, 0);
	for (;;)
		;
}

s64 smp_wait_off(unsigned cpu, u64 tries)
{
	s64 r = 0;
	for (u64 i = 0; i < tries && (r = psci(PSCI_AFFINITY_INFO, cpu, 0, 0)) != PSCI_AFFINITY_OFF; i++)
		;
	return r;
}
