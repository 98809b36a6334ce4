/*
 * smp-ipi: SMP bring-up and inter-processor interrupts on 2-8 CPUs (hypemu --smp N, QEMU -smp N).
 *  - PSCI (Arm DEN0022 5.1.4 CPU_ON, 5.1.3 CPU_OFF, 5.1.5 AFFINITY_INFO): secondaries start off;
 *    CPU_ON of a missing MPIDR is INVALID_PARAMETERS, of a running CPU ALREADY_ON; each secondary
 *    starts at the entry point with x0 = the context id, MMU off, at EL1h;
 *  - GICv3 SGIs (IHI0069 12.2 ICC_SGI1R_EL1): CPU 0 sends SGI 1 to each secondary by target list,
 *    each answers with SGI 2 to CPU 0; an IRM broadcast (SGI 3) reaches every CPU but the sender;
 *    each CPU's own Redistributor frame (GICR + 0x20000 * n) reports its affinity and Last;
 *  - broadcast TLB maintenance (Arm ARM D8.13 "TLB maintenance", TLBI VAE1IS): CPU 0 remaps a page
 *    the secondaries have just read through their TLBs; after TLBI VAE1IS + DSB ISH they read the
 *    new page;
 *  - CPU_OFF: AFFINITY_INFO reports every secondary OFF at the end.
 * Only CPU 0 prints, so the output is the same under QEMU (whose CPUs really run in parallel).
 */
#include "smp.h"

#define VA_X 0x100000000UL /* a page outside the identity map, remapped by CPU 0 */

static u8 pages[2][4096] __attribute__((aligned(4096)));

static volatile u32 online[MAX_CPUS];
static volatile u32 phase[MAX_CPUS];
static volatile u32 go;
static volatile u32 done;
static volatile u64 seen_before[MAX_CPUS], seen_after[MAX_CPUS];
static volatile u64 entry_x0[MAX_CPUS], entry_el[MAX_CPUS], entry_sctlr[MAX_CPUS];
static volatile u32 sgis[MAX_CPUS][16];
static volatile u64 rd_typer[MAX_CPUS];

/* ICC_SGI1R_EL1: INTID [27:24], TargetList [15:0] (Aff0 of each target; Aff1-3 and RS 0), IRM [40]. */
static void send_sgi(unsigned sgi, unsigned cpu)
{
	write_sysreg(((u64)sgi << 24) | (1UL << cpu), S3_0_C12_C11_5);
	isb();
}

static void broadcast_sgi(unsigned sgi)
{
	write_sysreg(((u64)sgi << 24) | (1UL << 40), S3_0_C12_C11_5);
	isb();
}

void exception_handler(struct frame *f, unsigned vec)
{
	if (vec == 5) { /* IRQ, current EL with SPx */
		u64 iar = read_sysreg(S3_0_C12_C12_0); /* ICC_IAR1_EL1 */
		unsigned id = iar & 0xffffff, me = cpu_id();
		if (id < 16) {
			sgis[me][id]++;
			if (me != 0 && id == 1) send_sgi(2, 0); /* the answer */
		}
		write_sysreg(iar, S3_0_C12_C12_1); /* ICC_EOIR1_EL1 */
		return;
	}
	unexpected_exception(f, vec);
}

/* The Redistributor's GICR_TYPER as found, then its SGIs group 1, priority 0x80, enabled. */
static void gic_cpu_init(unsigned cpu)
{
	rd_typer[cpu] = mmio_read64(GICR + GICR_STRIDE * cpu + 0x8);
	gicv3_cpu_init(cpu, 0xffff, 4);
}

void secondary_main(u64 ctx, u64 el, u64 sctlr)
{
	unsigned me = cpu_id();
	entry_x0[me] = ctx;
	entry_el[me] = el;
	entry_sctlr[me] = sctlr;
	smp_secondary_start(gic_cpu_init);
	seen_before[me] = *(volatile u64 *)VA_X; /* now in this CPU's TLB */
	dsb(ish);
	printf("CPU %u online\n", me); /* one line per secondary, printed while CPU 0 waits for it */
	online[me] = 1;
	while (!go)
		;
	seen_after[me] = *(volatile u64 *)VA_X;
	dsb(ish);
	phase[me] = 1;
	while (!done)
		__asm__ volatile("wfi");
	smp_cpu_off();
}

static int wait_for(volatile u32 *flag)
{
	for (u64 i = 0; i < 200000000UL; i++)
		if (*flag) return 1;
	return 0;
}

/* PSCI bring-up (DEN0022 5.1.4, 5.1.5): CPU_ON's errors, then CPU_ON of CPU 1, 2, ... until the
 * board has no more (INVALID_PARAMETERS), each waited for: the number of CPUs online. */
static unsigned start_secondaries(void)
{
	check("MPIDR_EL1 of the boot CPU", read_sysreg(mpidr_el1) & 0xff00ffffffUL, 0);
	check("CPU_ON of the running CPU: ALREADY_ON", psci(PSCI_CPU_ON, 0, (u64)secondary_entry, 0), PSCI_ALREADY_ON);
	check("CPU_ON of MPIDR 0xff: INVALID_PARAMETERS", psci(PSCI_CPU_ON, 0xff, (u64)secondary_entry, 0), PSCI_INVALID_PARAMETERS);
	check("AFFINITY_INFO(1) before CPU_ON: OFF", psci(PSCI_AFFINITY_INFO, 1, 0, 0), 1);

	unsigned n = 1;
	while (n < MAX_CPUS) {
		s64 r = psci(PSCI_CPU_ON, n, (u64)secondary_entry, 0x100 + n);
		if (r == PSCI_INVALID_PARAMETERS) break;
		if (r != PSCI_SUCCESS) {
			printf("FAIL CPU_ON(%u) = %ld\n", n, r);
			failures++;
			break;
		}
		if (!wait_for(&online[n])) {
			printf("FAIL CPU %u never came online\n", n);
			failures++;
			finish("smp-ipi");
		}
		n++;
	}
	return n;
}

int main(void)
{
	install_vectors();
	smp_tables_init();
	smp_map_gic();
	*(volatile u64 *)pages[0] = 0xaaaa;
	*(volatile u64 *)pages[1] = 0xbbbb;
	pt_map(&smp_pt, VA_X, (u64)pages[0], 4096, PROT_KERNEL, 3);
	smp_mmu_on();
	gicv3_dist_on();
	gic_cpu_init(0);
	__asm__ volatile("msr daifclr, #2" ::: "memory");

	unsigned n = start_secondaries();
	printf("%u CPUs\n", n);
	check_bool("at least 2 CPUs", n >= 2);
	for (unsigned c = 1; c < n; c++) {
		check("secondary: x0 = context id", entry_x0[c], 0x100 + c);
		check("secondary: entered at EL1", entry_el[c] >> 2, 1);
		check("secondary: MMU off at entry", entry_sctlr[c] & SCTLR_M, 0);
		check("AFFINITY_INFO(secondary): ON", psci(PSCI_AFFINITY_INFO, c, 0, 0), 0);
		check("CPU_ON of an online secondary: ALREADY_ON", psci(PSCI_CPU_ON, c, (u64)secondary_entry, 0), PSCI_ALREADY_ON);
		/* Affinity [63:32], Processor_Number [23:8], Last [4] (QEMU also sets its LPI bits [3:0]). */
		check("GICR_TYPER: affinity, Processor_Number, Last", rd_typer[c] & 0xffffffff00ffff10UL, ((u64)c << 32) | (c << 8) | (c == n - 1 ? 0x10 : 0));
	}
	check("GICR_TYPER of CPU 0: Last only if alone", rd_typer[0] & 0x10, n == 1 ? 0x10 : 0);

	/* SGI 1 to each secondary by target list; each answers with SGI 2 (one at a time: GICv3 SGIs
	 * from several sources pending at once are one pending interrupt). */
	for (unsigned c = 1; c < n; c++) {
		send_sgi(1, c);
		for (u64 i = 0; i < 200000000UL && sgis[0][2] < c; i++)
			;
	}
	check("SGI 2 answers received by CPU 0", sgis[0][2], n - 1);
	/* IRM broadcast: every CPU but the sender. */
	broadcast_sgi(3);
	for (u64 i = 0; i < 200000000UL; i++) {
		unsigned k = 0;
		for (unsigned c = 1; c < n; c++) k += sgis[c][3];
		if (k == n - 1) break;
	}
	for (unsigned c = 1; c < n; c++) check("secondary got SGI 1 once and the broadcast SGI 3 once", sgis[c][1] * 16 + sgis[c][3], 17);
	check("broadcast SGI 3 not delivered to the sender", sgis[0][3], 0);

	/* Broadcast TLBI: remap VA_X to the other page; the secondaries have it in their TLBs. */
	for (unsigned c = 1; c < n; c++) check("secondary read the old page", seen_before[c], 0xaaaa);
	u64 *slot = pt_slot(&smp_pt, VA_X, 3);
	*slot = (u64)pages[1] | PROT_KERNEL | PTE_PAGE | PTE_VALID;
	__asm__ volatile("dsb ishst\n tlbi vae1is, %0\n dsb ish\n isb" :: "r"(VA_X >> 12) : "memory");
	check("CPU 0 reads the new page", *(volatile u64 *)VA_X, 0xbbbb);
	go = 1;
	for (unsigned c = 1; c < n; c++) {
		wait_for(&phase[c]);
		check("secondary reads the new page after TLBI VAE1IS", seen_after[c], 0xbbbb);
	}

	/* CPU_OFF: wake the secondaries (SGI 4) so they see `done`, then wait for them to be OFF. */
	done = 1;
	dsb(ish);
	for (unsigned c = 1; c < n; c++) send_sgi(4, c);
	for (unsigned c = 1; c < n; c++) check("AFFINITY_INFO(secondary) after CPU_OFF: OFF", smp_wait_off(c, 20000000UL), PSCI_AFFINITY_OFF);
	__asm__ volatile("msr daifset, #2" ::: "memory");
	finish("smp-ipi");
}
