/*
 * pmu: PMUv3 as a guest sees it (Arm ARM D13 "The Performance Monitors Extension"; registers
 * D19.4). Checks, the same way under QEMU 7.2 -cpu max and hypemu:
 * - ID_AA64DFR0_EL1.PMUVer >= 1 (PMUv3) and PMCR_EL0.N >= 4 event counters;
 * - the cycle counter counts while PMCR_EL0.E and PMCNTENSET_EL0[31] are set, and stops after;
 * - SW_INCR: 100 writes to PMSWINC_EL0 add 100 to an enabled counter programmed with event 0,
 *   and nothing while PMCR_EL0.E is clear; a 32-bit wrap sets PMOVSCLR_EL0[0];
 * - PMSELR_EL0/PMXEVTYPER_EL0/PMXEVCNTR_EL0 reach counter 0;
 * - INST_RETIRED, when PMCEID0_EL0 advertises it (hypemu: exact; QEMU without -icount does not):
 *   a hand-assembled block of 2 + 2 * 100 instructions counts exactly that many.
 * Exit status: the number of failures.
 */
#include "runtime.h"

#define PMCR_E (1u << 0)
#define PMCR_P (1u << 1)
#define PMCR_C (1u << 2)
#define PMCR_LC (1u << 6)

#define pmevtyper0 S3_3_C14_C12_0
#define pmevcntr0 S3_3_C14_C8_0
#define pmevtyper1 S3_3_C14_C12_1
#define pmevcntr1 S3_3_C14_C8_1

static void pmu_reset(void)
{
	write_sysreg(PMCR_LC | PMCR_C | PMCR_P, pmcr_el0);
	write_sysreg(0xffffffffUL, pmcntenclr_el0);
	write_sysreg(0xffffffffUL, pmovsclr_el0);
	write_sysreg(0xffffffffUL, pmintenclr_el1);
	isb();
}

int main(void)
{
	u64 dfr0 = read_sysreg(id_aa64dfr0_el1);
	unsigned ver = (dfr0 >> 8) & 0xf;
	check_bool("ID_AA64DFR0_EL1.PMUVer >= 1 (PMUv3)", ver >= 1 && ver != 0xf);
	if (failures) finish(GUEST_NAME);
	u64 pmcr = read_sysreg(pmcr_el0);
	unsigned n = (pmcr >> 11) & 0x1f;
	printf("PMUVer %u, PMCR_EL0 0x%x: N = %u, IMP 0x%x\n", ver, (unsigned)pmcr, n, (unsigned)(pmcr >> 24) & 0xff);
	check_bool("PMCR_EL0.N >= 4", n >= 4);

	/* Cycle counter. */
	pmu_reset();
	write_sysreg(1UL << 31, pmcntenset_el0);
	write_sysreg(0, pmccfiltr_el0);
	write_sysreg(PMCR_LC | PMCR_E, pmcr_el0);
	isb();
	u64 a = read_sysreg(pmccntr_el0);
	u64 b = read_sysreg(pmccntr_el0);
	check_bool("PMCCNTR_EL0 increases while enabled", b > a);
	write_sysreg(PMCR_LC, pmcr_el0);
	isb();
	a = read_sysreg(pmccntr_el0);
	for (volatile int i = 0; i < 100; i++) {
	}
	b = read_sysreg(pmccntr_el0);
	check("PMCCNTR_EL0 stops with PMCR_EL0.E clear", b, a);

	/* SW_INCR (event 0x00) on counters 0 and 1. */
	pmu_reset();
	write_sysreg(0, pmevtyper0);
	write_sysreg(0, pmevtyper1);
	write_sysreg(3, pmcntenset_el0);
	write_sysreg(0xfffffff0UL, pmevcntr0);
	isb();
	for (int i = 0; i < 100; i++) write_sysreg(1, pmswinc_el0);
	isb();
	check("SW_INCR does not count while PMCR_EL0.E is clear", read_sysreg(pmevcntr0), 0xfffffff0UL);
	write_sysreg(PMCR_LC | PMCR_E, pmcr_el0);
	isb();
	for (int i = 0; i < 100; i++) write_sysreg(3, pmswinc_el0);
	isb();
	check("counter 1 after 100 SW_INCR", read_sysreg(pmevcntr1), 100);
	check("counter 0 wrapped at 32 bits: low word", read_sysreg(pmevcntr0) & 0xffffffffUL, (0xfffffff0UL + 100) & 0xffffffffUL);
	check("PMOVSCLR_EL0 after the wrap", read_sysreg(pmovsclr_el0), 1);

	/* PMSELR/PMXEVTYPER/PMXEVCNTR. */
	pmu_reset();
	write_sysreg(0, pmselr_el0);
	write_sysreg(0xea, pmxevtyper_el0);
	write_sysreg(0xdeadbeef, pmxevcntr_el0);
	isb();
	check("PMXEVTYPER_EL0 reaches PMEVTYPER0_EL0", read_sysreg(pmevtyper0) & 0xffff, 0xea);
	check("PMXEVCNTR_EL0 reaches PMEVCNTR0_EL0", read_sysreg(pmevcntr0), 0xdeadbeef);

	/* INST_RETIRED (0x08), exact, when implemented. */
	if (read_sysreg(pmceid0_el0) & (1UL << 8)) {
		pmu_reset();
		write_sysreg(0x08 | (1UL << 30), pmevtyper0); /* exclude EL0 */
		write_sysreg(1, pmcntenset_el0);
		isb();
		u64 loop = 100, e = PMCR_LC | PMCR_E;
		/* Counted: the isb after the enabling msr, 2 per iteration, and the disabling msr. */
		__asm__ volatile(
			"	msr	pmcr_el0, %[e]\n"
			"	isb\n"
			"1:	subs	%[loop], %[loop], #1\n"
			"	b.ne	1b\n"
			"	msr	pmcr_el0, xzr\n"
			: [loop] "+r"(loop) : [e] "r"(e) : "cc");
		check("INST_RETIRED counts the block exactly (isb + 2 x 100 + msr)", read_sysreg(pmevcntr0), 2 + 2 * 100);
	} else {
		puts("INST_RETIRED not implemented (PMCEID0_EL0[8] = 0): skipped\n");
	}
	finish(GUEST_NAME);
}
