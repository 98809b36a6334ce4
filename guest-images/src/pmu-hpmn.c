/*
 * pmu-hpmn: the event counters MDCR_EL2.HPMN reserves for EL2, as an EL1/EL0 guest sees them
 * (Arm ARM D13.3, MDCR_EL2.HPMN; the PMEVCNTR<n>_EL0 / PMEVTYPER<n>_EL0 access pseudocode).
 * Run under `hypemu run pmu-hpmn.elf --pmu-counters 4`: the PMU has 6 counters, the EL2 model
 * sets HPMN = 4 (as KVM does for a VMM's KVM_ARM_VCPU_PMU_V3_SET_NR_COUNTERS). Checks:
 * - PMCR_EL0.N reads as HPMN (4) at EL1;
 * - counters 0..3 are the guest's: PMEVCNTR3/PMEVTYPER3 and PMXEV* with PMSELR_EL0.SEL = 3
 *   read back what was written, SW_INCR counts on counter 3, PMCR_EL0.P resets them;
 * - PMEVCNTR<n>/PMEVTYPER<n> for n = 4, 5 (EL2's) and 6, 30 (not implemented) are UNDEFINED at
 *   EL1 (EC 0x00, ELR = the instruction) and at EL0 with PMUSERENR_EL0.EN = 1;
 * - PMXEVCNTR_EL0/PMXEVTYPER_EL0 with PMSELR_EL0.SEL = 4 are UNDEFINED (CONSTRAINED
 *   UNPREDICTABLE in the Arm ARM; KVM and hypemu: UNDEFINED); SEL = 31 reaches PMCCFILTR_EL0;
 * - the enable/overflow/interrupt-enable bits of counters 4 and 5 are RAZ/WI in PMCNTENSET,
 *   PMCNTENCLR, PMOVSSET, PMOVSCLR, PMINTENSET; PMSWINC_EL0 ignores them.
 * hypemu only: QEMU 7.2 has no way to set HPMN from outside and reads PMCR_EL0.N as 6 whatever
 * HPMN is (fixed in QEMU 8.2, "Propagate MDCR_EL2.HPMN into PMCR_EL0.N").
 * Exit status: the number of failures.
 */
#include "trap-record.h"

#define PMCR_E (1u << 0)
#define PMCR_P (1u << 1)
#define PMCR_C (1u << 2)

void exception_handler(struct frame *f, unsigned vec) { record_trap(f, vec, EC_MASK(EC_UNKNOWN)); }

/* One access that must be UNDEFINED at EL1: exactly one exception, EC 0x00, ELR = the instruction. */
#define EXPECT_UNDEF(name, label, insn)                                                        \
	do {                                                                                       \
		extern char label[];                                                                   \
		nrec = 0;                                                                              \
		__asm__ volatile(".global " #label "\n" #label ":\n" insn "\n" ::: "x0", "memory");  \
		check(name ": one exception", nrec, 1);                                                \
		check(name ": ESR_EL1 (UNDEFINED, IL)", nrec ? rec[0].esr : ~0UL, ESR_IL);              \
		check(name ": ELR_EL1 = the instruction", nrec ? rec[0].elr : ~0UL, (u64)label);        \
	} while (0)

__asm__(
	"	.text\n"
	"	.global el0_code\n"
	"el0_code:\n" /* PMUSERENR_EL0.EN = 1: every PMU register is accessible at EL0, HPMN still applies */
	"	mrs	x19, S3_3_C14_C8_3\n" /* PMEVCNTR3_EL0 */
	STEP(el0_cntr4, "mrs x0, S3_3_C14_C8_4")
	STEP(el0_typer5, "msr S3_3_C14_C12_5, xzr")
	"	svc	#0\n"
	"	b	.\n");
extern char el0_code[], el0_cntr4[], el0_typer5[];
static u64 el0_stack[512] __attribute__((aligned(16)));

int main(void)
{
	puts("pmu-hpmn: counters reserved for EL2 by MDCR_EL2.HPMN (Arm ARM D13.3)\n");
	install_vectors();
	u64 pmcr = read_sysreg(pmcr_el0);
	check("PMCR_EL0.N reads as HPMN", (pmcr >> 11) & 0x1f, 4);

	/* The guest's counters. */
	write_sysreg(PMCR_P | PMCR_C, pmcr_el0);
	write_sysreg(0x12345678UL, S3_3_C14_C8_3);
	check("PMEVCNTR3_EL0 reads back", read_sysreg(S3_3_C14_C8_3), 0x12345678UL);
	write_sysreg(0x11UL, S3_3_C14_C12_3);
	check("PMEVTYPER3_EL0 reads back", read_sysreg(S3_3_C14_C12_3) & 0xffff, 0x11);
	write_sysreg(3, pmselr_el0);
	isb();
	check("PMXEVCNTR_EL0 with SEL = 3 is PMEVCNTR3_EL0", read_sysreg(pmxevcntr_el0), 0x12345678UL);
	write_sysreg(PMCR_P, pmcr_el0);
	isb();
	check("PMCR_EL0.P resets counter 3", read_sysreg(S3_3_C14_C8_3), 0);

	/* SW_INCR on counter 3; PMSWINC bits 4 and 5 are ignored. */
	write_sysreg(0, S3_3_C14_C12_3); /* event 0x00 SW_INCR */
	write_sysreg(0xffffffffUL, pmcntenset_el0);
	check("PMCNTENSET_EL0: counters 4, 5 RAZ/WI", read_sysreg(pmcntenset_el0), 0x8000000fUL);
	write_sysreg(PMCR_E, pmcr_el0);
	isb();
	for (int i = 0; i < 10; i++)
		write_sysreg(0x38, pmswinc_el0); /* counters 3, 4, 5 */
	isb();
	check("SW_INCR counted 10 on counter 3", read_sysreg(S3_3_C14_C8_3), 10);
	write_sysreg(0, pmcr_el0);
	write_sysreg(0x30, pmcntenclr_el0);
	check("PMCNTENCLR_EL0 of 4, 5: nothing to clear", read_sysreg(pmcntenclr_el0), 0x8000000fUL);
	write_sysreg(0xffffffffUL, pmcntenclr_el0);
	write_sysreg(0xffffffffUL, pmovsset_el0);
	check("PMOVSSET_EL0: counters 4, 5 RAZ/WI", read_sysreg(pmovsset_el0), 0x8000000fUL);
	write_sysreg(0xffffffffUL, pmovsclr_el0);
	check("PMOVSCLR_EL0 clears", read_sysreg(pmovsclr_el0), 0);
	write_sysreg(0xffffffffUL, pmintenset_el1);
	check("PMINTENSET_EL1: counters 4, 5 RAZ/WI", read_sysreg(pmintenset_el1), 0x8000000fUL);
	write_sysreg(0xffffffffUL, pmintenclr_el1);

	/* EL2's counters and unimplemented ones: UNDEFINED at EL1. */
	EXPECT_UNDEF("mrs PMEVCNTR4_EL0", el1_cntr4_r, "mrs x0, S3_3_C14_C8_4");
	EXPECT_UNDEF("msr PMEVCNTR4_EL0", el1_cntr4_w, "msr S3_3_C14_C8_4, xzr");
	EXPECT_UNDEF("mrs PMEVCNTR5_EL0", el1_cntr5_r, "mrs x0, S3_3_C14_C8_5");
	EXPECT_UNDEF("mrs PMEVTYPER4_EL0", el1_typer4_r, "mrs x0, S3_3_C14_C12_4");
	EXPECT_UNDEF("msr PMEVTYPER5_EL0", el1_typer5_w, "msr S3_3_C14_C12_5, xzr");
	EXPECT_UNDEF("mrs PMEVCNTR6_EL0 (not implemented)", el1_cntr6_r, "mrs x0, S3_3_C14_C8_6");
	EXPECT_UNDEF("mrs PMEVCNTR30_EL0 (not implemented)", el1_cntr30_r, "mrs x0, S3_3_C14_C11_6");
	write_sysreg(4, pmselr_el0);
	isb();
	EXPECT_UNDEF("mrs PMXEVCNTR_EL0 with SEL = 4", el1_xevcntr_r, "mrs x0, pmxevcntr_el0");
	EXPECT_UNDEF("msr PMXEVTYPER_EL0 with SEL = 4", el1_xevtyper_w, "msr pmxevtyper_el0, xzr");
	write_sysreg(31, pmselr_el0);
	write_sysreg(1UL << 31, pmxevtyper_el0); /* SEL = 31: PMCCFILTR_EL0.P */
	isb();
	check("PMXEVTYPER_EL0 with SEL = 31 is PMCCFILTR_EL0", read_sysreg(pmccfiltr_el0), 1UL << 31);
	write_sysreg(0, pmccfiltr_el0);

	/* At EL0 with PMUSERENR_EL0.EN = 1: counter 3 readable, 4 and 5 UNDEFINED (to EL1). */
	write_sysreg(0x77, S3_3_C14_C8_3);
	write_sysreg(1, pmuserenr_el0);
	isb();
	nrec = 0;
	u64 v = enter_user((u64)el0_code, (u64)&el0_stack[512], 0);
	write_sysreg(0, pmuserenr_el0);
	check("el0: PMEVCNTR3_EL0 read", v, 0x77);
	check("el0: two exceptions", nrec, 2);
	check("el0: mrs PMEVCNTR4_EL0 UNDEFINED (ESR)", nrec > 0 ? rec[0].esr : ~0UL, ESR_IL);
	check("el0: mrs PMEVCNTR4_EL0 UNDEFINED (ELR)", nrec > 0 ? rec[0].elr : ~0UL, (u64)el0_cntr4);
	check("el0: msr PMEVTYPER5_EL0 UNDEFINED (ESR)", nrec > 1 ? rec[1].esr : ~0UL, ESR_IL);
	check("el0: msr PMEVTYPER5_EL0 UNDEFINED (ELR)", nrec > 1 ? rec[1].elr : ~0UL, (u64)el0_typer5);
	finish(GUEST_NAME);
}
