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
#include "runtime.h"
#include "mmu.h"

#define PSCI_CPU_ON 0xc4000003UL
#define PSCI_CPU_OFF 0x84000002UL
#define PSCI_AFFINITY_INFO 0xc4000004UL
#define ROUNDS 3

static u8 pool[64 * 1024] __attribute__((aligned(4096)));
u8 stacks[2][8192] __attribute__((aligned(16)));
static struct pt pt;
static u64 tcr;

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

void secondary_main(void);
__asm__(".text\n.global secondary_entry\nsecondary_entry:\n"
	"	msr daifset, #0xf\n"
	"	msr spsel, #1\n"
	"	adrp x1, stacks\n"
	"	add x1, x1, :lo12:stacks\n"
	"	add x1, x1, #16384\n"
	"	mov sp, x1\n"
	"	bl secondary_main\n"
	"1:	b 1b\n");
void secondary_entry(void);

void secondary_main(void)
{
	install_vectors();
	mmu_enable(DEFAULT_MAIR, tcr, (u64)pt.root, 0);
	for (unsigned r = 1; r <= ROUNDS; r++) {
		while (round != r)
			;
		isb(); /* the context synchronization B2.4.4 asks of the executing CPU */
		got[r] = ((fn_t)code)();
		dsb(ish);
		ack = r;
	}
	psci(PSCI_CPU_OFF, 0, 0, 0);
	for (;;)
		;
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
	pt_init(&pt, 12, pool, sizeof pool);
	pt_identity_default(&pt);
	tcr = tcr_for(12);
	mmu_enable(DEFAULT_MAIR, tcr, (u64)pt.root, 0);
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

	/* Round 2: rewritten here, published with IC IVAU. */
	write_fn(2);
	publish(0);
	check("CPU 0 sees its own patch (IC IVAU)", ((fn_t)code)(), 2);
	dsb(ish);
	round = 2;
	check_bool("round 2: CPU 1 ran it", wait_ack(2));
	check("round 2: CPU 1 sees the patch after IC IVAU", got[2], 2);

	/* Round 3: rewritten again, published with IC IALLUIS. */
	write_fn(3);
	publish(1);
	check("CPU 0 sees its own patch (IC IALLUIS)", ((fn_t)code)(), 3);
	dsb(ish);
	round = 3;
	check_bool("round 3: CPU 1 ran it", wait_ack(3));
	check("round 3: CPU 1 sees the patch after IC IALLUIS", got[3], 3);

	s64 r = 0;
	for (u64 i = 0; i < 20000000UL && (r = psci(PSCI_AFFINITY_INFO, 1, 0, 0)) != 1; i++)
		;
	check("AFFINITY_INFO(1) after CPU_OFF: OFF", r, 1);
	finish("smp-code");
}
