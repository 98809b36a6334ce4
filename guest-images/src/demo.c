/*
 * demo: the guest a new user sees first. It takes an SVC, writes the
 * registers a hypervisor traps with HCR_EL2.TVM (MAIR_EL1, TCR_EL1,
 * TTBR0_EL1, SCTLR_EL1), turns the MMU on with identity tables and exits 0.
 */
#include "mmu.h"

static u8 pool[8 * 4096] __attribute__((aligned(4096)));
static struct pt pt;

void exception_handler(struct frame *f, unsigned vec)
{
	if (vec != VEC_CUR_SPX_SYNC || ESR_EC(f->esr) != EC_SVC64)
		unexpected_exception(f, vec);
	printf("    took SVC #%lx at EL1: ESR_EL1=%p, vector VBAR_EL1+0x200, returning to %p\n",
	       ESR_ISS(f->esr), f->esr, f->elr);
}

int main(void)
{
	puts("\n"
	     "  +------------------------------------------------------+\n"
	     "  |  hypemu demo guest                                   |\n"
	     "  |  AArch64 code at EL1; a TypeScript EL2 takes traps   |\n"
	     "  +------------------------------------------------------+\n\n");
	printf("[1] hello from EL%u, MMU off, loaded at %p\n", current_el(), (u64)&main);

	puts("[2] system call: svc #1\n");
	install_vectors();
	__asm__ volatile("svc #1" ::: "memory");

	puts("[3] set up the MMU (each write below traps when HCR_EL2.TVM is set)\n");
	pt_init(&pt, 12, pool, sizeof pool);
	pt_identity_default(&pt);
	u64 tcr = tcr_for(12) | (1UL << 23);   /* EPD1: no TTBR1 walks */
	printf("    MAIR_EL1  <- %p  (Normal WB, Device-nGnRE, Normal NC)\n", DEFAULT_MAIR);
	write_sysreg(DEFAULT_MAIR, mair_el1);
	printf("    TCR_EL1   <- %p  (4 KB granule, 48-bit VA)\n", tcr);
	write_sysreg(tcr, tcr_el1);
	printf("    TTBR0_EL1 <- %p  (identity map: UART + 128 MB of RAM)\n", (u64)pt.root);
	write_sysreg((u64)pt.root, ttbr0_el1);
	isb();
	__asm__ volatile("tlbi vmalle1\n dsb nsh\n isb" ::: "memory");
	u64 sctlr = (read_sysreg(sctlr_el1) | SCTLR_M | SCTLR_C | SCTLR_I) & ~(SCTLR_A | SCTLR_WXN);
	printf("    SCTLR_EL1 <- %p  (M=1: MMU on, C=1, I=1)\n", sctlr);
	write_sysreg(sctlr, sctlr_el1);
	isb();

	printf("[4] MMU on: this line went through a 4-level page-table walk (SCTLR_EL1=%p)\n",
	       read_sysreg(sctlr_el1));
	puts("[5] bye: exit(0) with hvc #0\n");
	return 0;
}
