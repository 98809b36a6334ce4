/*
 * debug-events: hardware breakpoints and watchpoints delivered to EL1 (Arm ARM D2 "Breakpoint
 * exceptions", "Watchpoint exceptions"; DBGBCR/DBGBVR/DBGWCR/DBGWVR, MDSCR_EL1.MDE/KDE,
 * PSTATE.D, the OS lock). Checks the syndrome (EC 0x31 / 0x35, IFSC/DFSC 0x22, WnR), ELR and FAR,
 * and that PSTATE.D and a disabled register suppress the event.
 * Exit status: the number of failures.
 */
#include "runtime.h"

#define dbgbvr0 dbgbvr0_el1
#define dbgbcr0 dbgbcr0_el1
#define dbgwvr0 dbgwvr0_el1
#define dbgwcr0 dbgwcr0_el1

static volatile u64 hits, last_esr, last_elr, last_far;
static volatile u64 watched[2];

void exception_handler(struct frame *f, unsigned vec)
{
	unsigned ec = ESR_EC(f->esr);
	if (vec == VEC_CUR_SPX_SYNC && (ec == 0x31 || ec == 0x35)) {
		hits++;
		last_esr = f->esr;
		last_elr = f->elr;
		last_far = f->far;
		f->spsr |= 1UL << 9; /* return with PSTATE.D set: the event does not fire again */
		return;
	}
	unexpected_exception(f, vec);
}

extern char bp_site[];

static __attribute__((noinline)) void target(void)
{
	__asm__ volatile(".globl bp_site\nbp_site: nop\n");
}

int main(void)
{
	install_vectors();
	write_sysreg(0, oslar_el1); /* unlock the OS lock */
	write_sysreg((1UL << 15) | (1UL << 13), mdscr_el1); /* MDE, KDE */
	isb();

	/* Breakpoint: BAS 0xf, PMC EL1, E. */
	write_sysreg((u64)bp_site, dbgbvr0);
	write_sysreg((0xfUL << 5) | (1UL << 1) | 1, dbgbcr0);
	isb();
	target(); /* PSTATE.D is set (reset): nothing */
	check("breakpoint masked by PSTATE.D", hits, 0);
	__asm__ volatile("msr daifclr, #8" ::: "memory");
	target();
	check("breakpoint taken once", hits, 1);
	check("breakpoint ESR_EL1 (EC 0x31, IL, IFSC 0x22)", last_esr, 0xc6000022UL);
	check("breakpoint ELR_EL1 = the instruction", last_elr, (u64)bp_site);
	write_sysreg(0, dbgbcr0);
	isb();

	/* Watchpoint on watched[1]: BAS 0xff, LSC store, PAC EL1, E. */
	hits = 0;
	write_sysreg((u64)&watched[1], dbgwvr0);
	write_sysreg((0xffUL << 5) | (2UL << 3) | (1UL << 1) | 1, dbgwcr0);
	isb();
	__asm__ volatile("msr daifclr, #8" ::: "memory");
	(void)watched[1]; /* a load: LSC selects stores only */
	watched[0] = 1;   /* another doubleword */
	check("no watchpoint for a load or another doubleword", hits, 0);
	__asm__ volatile("msr daifclr, #8" ::: "memory");
	watched[1] = 0x1234;
	check("watchpoint taken once", hits, 1);
	check("watchpoint ESR_EL1 (EC 0x35, IL, WnR, DFSC 0x22)", last_esr, 0xd6000062UL);
	check("watchpoint FAR_EL1 = the address", last_far, (u64)&watched[1]);
	check("the store is done after the handler returns", watched[1], 0x1234);
	write_sysreg(0, dbgwcr0);
	isb();
	finish(GUEST_NAME);
}
