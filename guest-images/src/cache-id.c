/*
 * cache-id: the cache identification registers of ID group 2 (HCR_EL2.TID2 traps them: the
 * HCR_EL2 register description, TID2): CTR_EL0 (also at EL0 with SCTLR_EL1.UCT = 1),
 * CLIDR_EL1, and CCSIDR_EL1 for the cache CSSELR_EL1 selects (its Level [3:1] and InD [0]
 * fields). The values are QEMU 7.2 -cpu max's (hyp/idregs.ts QEMU_72_MAX): hypemu answers
 * them from its feature set under TID2, not the CPU core's (Unicorn's CLIDR_EL1 differs).
 * Exit status = number of failed checks.
 */
#include "runtime.h"

void exception_handler(struct frame *f, unsigned vec)
{
	if (vec == VEC_LOWER64_SYNC && ESR_EC(f->esr) == EC_SVC64) {
		return_to_kernel(f, f->x[0]);
		return;
	}
	unexpected_exception(f, vec);
}

__asm__(
	"	.text\n"
	"	.global el0_ctr\n"
	"el0_ctr:\n"
	"	mrs	x0, ctr_el0\n"
	"	svc	#0\n"
	"	b	.\n");
extern char el0_ctr[];
static u64 el0_stack[256] __attribute__((aligned(16)));

static u64 ccsidr(u64 sel)
{
	write_sysreg(sel, csselr_el1);
	isb();
	return read_sysreg(ccsidr_el1);
}

int main(void)
{
	puts("cache-id: CTR_EL0, CLIDR_EL1, CCSIDR_EL1 per CSSELR_EL1 (ID group 2)\n");
	install_vectors();
	check("CTR_EL0", read_sysreg(ctr_el0), 0x8444c004UL);
	check("CLIDR_EL1 (L1 I+D, L2 unified, LoC 2)", read_sysreg(clidr_el1), 0x02000023UL);
	check("CCSIDR_EL1 L1 data", ccsidr(0), 0x701fe00aUL);
	check("CCSIDR_EL1 L1 instruction", ccsidr(1), 0x201fe012UL);
	check("CCSIDR_EL1 L2 unified", ccsidr(2), 0x70ffe07aUL);
	write_sysreg(3, csselr_el1);
	isb();
	check("CSSELR_EL1 reads back Level/InD", read_sysreg(csselr_el1), 3);
	write_sysreg(read_sysreg(sctlr_el1) | (1UL << 15), sctlr_el1); /* UCT */
	isb();
	check("CTR_EL0 at EL0 (SCTLR_EL1.UCT = 1)", enter_user((u64)el0_ctr, (u64)&el0_stack[256], 0), 0x8444c004UL);
	finish(GUEST_NAME);
}
