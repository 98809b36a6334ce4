/*
 * unknown-sysreg: system-register accesses that must raise an exception rather than read a
 * value, checked against the Arm ARM (DDI0487) and QEMU 7.2 -cpu max:
 *   - an encoding nothing implements (S3_0_C15_C15_7, S3_3_C15_C15_7: IMPLEMENTATION DEFINED
 *     space, no register there) is UNDEFINED at EL1 and EL0: EC 0x00, ELR = the instruction
 *     (under hypemu: reported once and counted, as KVM injects UNDEFINED for an encoding it
 *     has no descriptor for);
 *   - EL2 and EL3 registers (HCR_EL2, VBAR_EL2, SCTLR_EL3) are UNDEFINED at EL1 (C5.1: op1 = 4
 *     is EL2, 6 is EL3);
 *   - PMU registers at EL0 are enabled by PMUSERENR_EL0.{EN,SW,CR,ER} (PMUSERENR_EL0 register
 *     description; the PMU registers' access pseudocode: otherwise a system access trap to
 *     EL1, EC 0x18 with the MRS/MSR ISS); PMUSERENR_EL0 is read-only at EL0 (a write is
 *     UNDEFINED).
 * Exit status = number of failed checks.
 */
#include "trap-record.h"

void exception_handler(struct frame *f, unsigned vec) { record_trap(f, vec, EC_MASK(EC_UNKNOWN) | EC_MASK(EC_SYS64)); }

static unsigned next;
static void expect(const char *name, u64 want_esr, u64 want_elr)
{
	char buf[96];
	char *p = buf;
	for (const char *s = name; *s && p < buf + 80; s++)
		*p++ = *s;
	const char *suffix[] = { " ESR_EL1", " ELR_EL1" };
	u64 got[] = { next < nrec ? rec[next].esr : ~0UL, next < nrec ? rec[next].elr : ~0UL };
	u64 want[] = { want_esr, want_elr };
	for (int i = 0; i < 2; i++) {
		char *q = p;
		for (const char *s = suffix[i]; *s; s++)
			*q++ = *s;
		*q = 0;
		check(buf, got[i], want[i]);
	}
	next++;
}

#define EL1_ACCESS(label, insn) \
	__asm__ volatile(".global " #label "\n" #label ":\n" insn "\n" ::: "x0", "memory")

/* ISS of a trapped MRS/MSR (ESR_ELx EC 0x18): Op0 [21:20], Op2 [19:17], Op1 [16:14], CRn [13:10], Rt [9:5], CRm [4:1], Direction [0]. */
#define SYS_ESR(op0, op1, crn, crm, op2, rt, rd) \
	((0x18UL << 26) | ESR_IL | ((u64)(op0) << 20) | ((u64)(op2) << 17) | ((u64)(op1) << 14) | ((u64)(crn) << 10) | ((u64)(rt) << 5) | ((u64)(crm) << 1) | (rd))

__asm__(
	"	.text\n"
	"	.global el0_code, el0_code2\n"
	"el0_code:\n"                      /* PMUSERENR_EL0 = 0 */
	STEP(el0_impdef, "mrs x0, S3_3_C15_C15_7")
	STEP(el0_pmccntr, "mrs x1, pmccntr_el0")
	STEP(el0_pmswinc, "msr pmswinc_el0, x2")
	STEP(el0_pmcr, "mrs x3, pmcr_el0")
	STEP(el0_pmselr, "msr pmselr_el0, x4")
	STEP(el0_userenr_w, "msr pmuserenr_el0, xzr")
	"	mrs	x19, pmuserenr_el0\n"     /* always readable at EL0 */
	"	svc	#0\n"
	"	b	.\n"
	"el0_code2:\n"                     /* PMUSERENR_EL0.CR = 1, SW = 1 */
	"	mrs	x19, pmccntr_el0\n"
	"	msr	pmswinc_el0, xzr\n"
	STEP(el0_pmcr2, "mrs x3, pmcr_el0")
	"	svc	#0\n"
	"	b	.\n");
extern char el0_code[], el0_impdef[], el0_pmccntr[], el0_pmswinc[], el0_pmcr[], el0_pmselr[], el0_userenr_w[], el0_code2[], el0_pmcr2[];
extern char el1_impdef_r[], el1_impdef_w[], el1_hcr[], el1_sctlr3[], el1_vbar2[];

static u64 el0_stack[512] __attribute__((aligned(16)));

int main(void)
{
	puts("unknown-sysreg: UNDEFINED encodings, EL2/EL3 registers at EL1, EL0 PMU access controls\n");
	install_vectors();

	nrec = 0;
	EL1_ACCESS(el1_impdef_r, "mrs x0, S3_0_C15_C15_7");
	EL1_ACCESS(el1_impdef_w, "msr S3_0_C15_C15_7, x0");
	EL1_ACCESS(el1_hcr, "mrs x0, hcr_el2");
	EL1_ACCESS(el1_sctlr3, "mrs x0, sctlr_el3");
	EL1_ACCESS(el1_vbar2, "msr vbar_el2, x0");
	check("el1 exceptions", nrec, 5);
	next = 0;
	expect("el1 mrs S3_0_C15_C15_7 UNDEFINED", ESR_IL, (u64)el1_impdef_r);
	expect("el1 msr S3_0_C15_C15_7 UNDEFINED", ESR_IL, (u64)el1_impdef_w);
	expect("el1 mrs HCR_EL2 UNDEFINED", ESR_IL, (u64)el1_hcr);
	expect("el1 mrs SCTLR_EL3 UNDEFINED", ESR_IL, (u64)el1_sctlr3);
	expect("el1 msr VBAR_EL2 UNDEFINED", ESR_IL, (u64)el1_vbar2);

	/* EL0 with PMUSERENR_EL0 = 0. */
	write_sysreg(0, pmuserenr_el0);
	isb();
	nrec = 0;
	u64 enr = enter_user((u64)el0_code, (u64)&el0_stack[512], 0);
	check("el0 exceptions (PMUSERENR_EL0 = 0)", nrec, 6);
	check("el0 mrs pmuserenr_el0", enr, 0);
	next = 0;
	expect("el0 mrs S3_3_C15_C15_7 UNDEFINED", ESR_IL, (u64)el0_impdef);
	expect("el0 mrs pmccntr_el0 trapped", SYS_ESR(3, 3, 9, 13, 0, 1, 1), (u64)el0_pmccntr);
	expect("el0 msr pmswinc_el0 trapped", SYS_ESR(3, 3, 9, 12, 4, 2, 0), (u64)el0_pmswinc);
	expect("el0 mrs pmcr_el0 trapped", SYS_ESR(3, 3, 9, 12, 0, 3, 1), (u64)el0_pmcr);
	expect("el0 msr pmselr_el0 trapped", SYS_ESR(3, 3, 9, 12, 5, 4, 0), (u64)el0_pmselr);
	expect("el0 msr pmuserenr_el0 UNDEFINED", ESR_IL, (u64)el0_userenr_w);

	/* CR = 1 (bit 2), SW = 1 (bit 1): PMCCNTR_EL0 reads and PMSWINC_EL0 writes allowed, PMCR_EL0 not. */
	write_sysreg(6, pmuserenr_el0);
	write_sysreg(1UL << 31, pmcntenset_el0);
	write_sysreg(1, pmcr_el0);
	isb();
	nrec = 0;
	enter_user((u64)el0_code2, (u64)&el0_stack[512], 0);
	check("el0 exceptions (PMUSERENR_EL0.CR = SW = 1)", nrec, 1);
	next = 0;
	expect("el0 mrs pmcr_el0 (EN = 0) trapped", SYS_ESR(3, 3, 9, 12, 0, 3, 1), (u64)el0_pmcr2);
	write_sysreg(0, pmuserenr_el0);
	finish(GUEST_NAME);
}
