/*
 * at-s1: AT S1E1R/W and S1E0R/W are stage-1 operations (Arm ARM C5.5 "AT S1E1R" etc., PAR_EL1 in
 * D19.2): PAR_EL1.PA is the IPA stage 1 produces, whether or not the hypervisor has mapped it at
 * stage 2 yet (RAM this guest never touched, a device page), with stage-1 attributes; faults are
 * stage-1 faults (FST, S = 0). AT S1E1RP exists only with FEAT_PAN2 (ID_AA64MMFR1_EL1.PAN >= 2),
 * else it is UNDEFINED. Every PAR_EL1 value is printed, so the output compares with QEMU's.
 */
#include "runtime.h"
#include "mmu.h"

#define VA_AT 0x100000000UL     /* 4 GiB: a window of pages mapped only for AT */
#define PA_UNTOUCHED 0x4c000000UL /* RAM no one reads or writes */
#define GICD 0x08000000UL

static u8 pool[64 * 1024] __attribute__((aligned(4096)));
static volatile int undefs;

void exception_handler(struct frame *f, unsigned vec)
{
	if (vec == 4 && ESR_EC(f->esr) == EC_UNKNOWN) { /* UNDEFINED at EL1: skip it */
		undefs++;
		f->elr += 4;
		return;
	}
	unexpected_exception(f, vec);
}

#define AT(op, va) ({ u64 __p; __asm__ volatile("at " #op ", %1\n isb\n mrs %0, par_el1" : "=r"(__p) : "r"((u64)(va)) : "memory"); __p; })

static void show(const char *what, u64 par)
{
	printf("%s: PAR_EL1 %lx\n", what, par);
}

/*
 * F = 0: PA[47:12], SH, ATTR (bits 11 and 9, RES1 and NS, as printed). SH is 0b10 for Device and
 * Normal Non-cacheable memory (PAR_EL1.SH); QEMU 7.2 returns 0b00 there, accepted as `sh_qemu`.
 */
static void expect_ok(const char *what, u64 par, u64 pa, u64 attr, u64 sh, u64 sh_qemu)
{
	u64 got = (par >> 7) & 3;
	show(what, par);
	check_bool(what, (par & 1) == 0 && (par & 0xfffffffff000UL) == pa && (par >> 56) == attr && (got == sh || got == sh_qemu));
}

/* F = 1: FST [6:1], PTW [8] = 0, S [9] = 0 (a stage-1 fault). */
static void expect_fault(const char *what, u64 par, u64 fst)
{
	show(what, par);
	check_bool(what, (par & 1) == 1 && ((par >> 1) & 0x3f) == fst && ((par >> 8) & 3) == 0);
}

int main(void)
{
	struct pt pt;
	install_vectors();

	/* MMU off: VA = IPA, Device-nGnRnE (ATTR 0x00, SH 0b10). */
	expect_ok("MMU off: S1E1R of untouched RAM is VA = PA", AT(s1e1r, PA_UNTOUCHED + 0x2345), PA_UNTOUCHED + 0x2000, 0x00, 2, 0);

	pt_init(&pt, 12, pool, sizeof pool);
	pt_identity_default(&pt);
	pt_map(&pt, VA_AT + 0x0000, PA_UNTOUCHED, 0x1000, PROT_KERNEL, 3);
	pt_map(&pt, VA_AT + 0x1000, PA_UNTOUCHED + 0x1000, 0x1000, (PROT_KERNEL & ~PTE_AP_MASK) | PTE_AP_RO_EL1, 3);
	pt_map(&pt, VA_AT + 0x2000, PA_UNTOUCHED + 0x2000, 0x1000, (PROT_KERNEL & ~PTE_AP_MASK) | PTE_AP_RW_ALL | PTE_PXN, 3);
	pt_map(&pt, VA_AT + 0x3000, GICD, 0x1000, PROT_DEVICE, 3);
	pt_map(&pt, VA_AT + 0x4000, PA_UNTOUCHED + 0x4000, 0x1000, PROT_KERNEL & ~PTE_AF, 3);
	/* VA_AT + 0x5000: no entry at level 3 */
	mmu_enable(DEFAULT_MAIR, tcr_for(12), (u64)pt.root, 0);

	expect_ok("S1E1R of untouched RAM: the IPA, Normal WB, Inner Shareable", AT(s1e1r, VA_AT + 0x123), PA_UNTOUCHED, 0xff, 3, 3);
	expect_ok("S1E1W of untouched RAM", AT(s1e1w, VA_AT + 0x8), PA_UNTOUCHED, 0xff, 3, 3);
	expect_fault("S1E1W of an EL1 read-only page: permission fault, level 3", AT(s1e1w, VA_AT + 0x1000), 0x0f);
	expect_ok("S1E1R of the same page", AT(s1e1r, VA_AT + 0x1000), PA_UNTOUCHED + 0x1000, 0xff, 3, 3);
	expect_fault("S1E0R of an EL1-only page: permission fault, level 3", AT(s1e0r, VA_AT), 0x0f);
	expect_ok("S1E0W of an EL0 read-write page", AT(s1e0w, VA_AT + 0x2000), PA_UNTOUCHED + 0x2000, 0xff, 3, 3);
	expect_ok("S1E1R of a device page: its PA, Device-nGnRE, SH 0b10", AT(s1e1r, VA_AT + 0x3010), GICD, 0x04, 2, 0);
	expect_fault("S1E1R of a page with AF = 0: access flag fault, level 3", AT(s1e1r, VA_AT + 0x4000), 0x0b);
	expect_fault("S1E1R with no level-3 entry: translation fault, level 3", AT(s1e1r, VA_AT + 0x5000), 0x07);
	expect_fault("S1E1R above the 48-bit TTBR0 range: translation fault, level 0", AT(s1e1r, 0x0001000000000000UL), 0x04);
	/* The page is still untouched: reading it through its mapping works (stage 2 maps it now). */
	check("untouched RAM reads as zero through the AT-checked mapping", *(volatile u64 *)(VA_AT + 0x10), 0);

	/* AT S1E1RP (FEAT_PAN2): UNDEFINED when ID_AA64MMFR1_EL1.PAN < 2. */
	u64 pan = (read_sysreg(ID_AA64MMFR1_EL1) >> 20) & 0xf;
	undefs = 0;
	u64 par;
	/* AT S1E1RP, Xt = SYS #0, C7, C9, #0, Xt (the assembler knows it only with +pan2) */
	__asm__ volatile("sys #0, c7, c9, #0, %1\n isb\n mrs %0, par_el1" : "=r"(par) : "r"(VA_AT + 0x2000) : "memory");
	printf("ID_AA64MMFR1_EL1.PAN %lu, S1E1RP: %s\n", pan, undefs ? "UNDEFINED" : "executed");
	if (pan >= 2)
		expect_ok("S1E1RP of an EL0 page with PSTATE.PAN = 0", par, PA_UNTOUCHED + 0x2000, 0xff, 3, 3);
	else
		check_bool("S1E1RP is UNDEFINED without FEAT_PAN2", undefs == 1);

	finish("at-s1");
}
