/*
 * smp-code: code one CPU patches, run by another (hypemu --smp N, QEMU -smp N). CPU 0 rewrites a
 * function CPU 1 has already executed (so CPU 1 holds a translation of it, on hardware an I-cache
 * line), then makes the new instruction visible the way the Arm ARM requires for concurrent
 * modification (B2.4.4 "Concurrent modification and execution of instructions": DC CVAU to the
 * point of unification, DSB ISH, an instruction-cache invalidation broadcast to the Inner
 * Shareable domain, DSB ISH; the executing CPU then runs an ISB): round 2 with IC IVAU (by VA,
 * as Linux patches a static key), round 3 with IC IALLUIS (all of it, as Linux does after
 * applying alternatives while the other CPUs wait). Each round CPU 1 calls the function and must
 * see the new instruction; CPU 0 calls it too. CTR_EL0.DIC = 0 and IDC = 0 (hypemu and QEMU -cpu
 * max as configured here): the maintenance is needed, so it is what the test exercises.
 */
#include "smp.h"

#define ROUNDS 3

/* The patched function: one page of its own, "mov x0, #n; ret". */
static volatile u32 code[1024] __attribute__((aligned(4096)));
typedef u64 (*fn_t)(void);

static volatile u32 round;   /* set by CPU 0: the round CPU 1 is to run */
static volatile u32 ack;     /* set by CPU 1: the last round it ran */
static volatile u64 got[ROUNDS + 1];

/* MOVZ X0, #imm (Arm ARM C6.2 "MOVZ"), RET. */
static void write_fn(unsigned n)
{
	code[0] = 0xd2800000u | (n << 5);
	code[1] = 0xd65f03c0u;
}

/* Make the new instruction visible to every CPU (B2.4.4): by VA (IC IVAU) or all (IC IALLUIS). */
static void publish(int all)
{
	__asm__ volatile("dc cvau, %0\n dsb ish" :: "r"(code) : "memory");
	if (all)
		__asm__ volatile("ic ialluis\n dsb ish" ::: "memory");
	else
		__asm__ volatile("ic ivau, %0\n dsb ish" :: "r"(code) : "memory");
	isb();
}

void secondary_main(u64 ctx, u64 el, u64 sctlr)
{
	smp_secondary_start(0);
	for (unsigned r = 1; r <= ROUNDS; r++) {
		while (round != r)
			;
		isb(); /* the context synchronization B2.4.4 asks of the executing CPU */
		got[r] = ((fn_t)code)();
		dsb(ish);
		ack = r;
	}
	smp_cpu_off();
}

static int wait_ack(unsigned r)
{
	for (u64 i = 0; i < 200000000UL; i++)
		if (ack == r) return 1;
	return 0;
}

int main(void)
{
	install_vectors();
	smp_tables_init();
	smp_mmu_on();
	u64 ctr = read_sysreg(ctr_el0);
	printf("CTR_EL0.DIC %lu, IDC %lu\n", (ctr >> 29) & 1, (ctr >> 28) & 1);

	write_fn(1);
	publish(0);
	check("CPU 0 runs the function", ((fn_t)code)(), 1);
	s64 on = psci(PSCI_CPU_ON, 1, (u64)secondary_entry, 0);
	check("CPU_ON(1)", on, 0);
	if (on != 0) finish("smp-code");

	/* Round 1: CPU 1 runs the function as written: it now has it translated / cached. */
	round = 1;
	check_bool("round 1: CPU 1 ran it", wait_ack(1));
	check("round 1: CPU 1 sees mov x0, #1", got[1], 1);

	/* Rounds 2 and 3: rewritten here (mov x0, #round), published with IC IVAU, then IC IALLUIS. */
	static const struct { int all; const char *self, *ran, *sees; } patch[ROUNDS + 1] = {
		[2] = { 0, "CPU 0 sees its own patch (IC IVAU)", "round 2: CPU 1 ran it", "round 2: CPU 1 sees the patch after IC IVAU" },
		[3] = { 1, "CPU 0 sees its own patch (IC IALLUIS)", "round 3: CPU 1 ran it", "round 3: CPU 1 sees the patch after IC IALLUIS" },
	};
	for (unsigned r = 2; r <= ROUNDS; r++) {
		write_fn(r);
		publish(patch[r].all);
		check(patch[r].self, ((fn_t)code)(), r);
		dsb(ish);
		round = r;
		check_bool(patch[r].ran, wait_ack(r));
		check(patch[r].sees, got[r], r);
	}

	check("AFFINITY_INFO(1) after CPU_OFF: OFF", smp_wait_off(1, 20000000UL), PSCI_AFFINITY_OFF);
	finish("smp-code");
}
