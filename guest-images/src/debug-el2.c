/*
 * debug-el2: one of each debug exception (Arm ARM D2: breakpoint, watchpoint, software step, BRK)
 * as the guest sees it, the same under QEMU 7.2, under hypemu, and under `hypemu run
 * --trap-debug`, where MDCR_EL2.TDE routes every one of them to the EL2 model first (D2.3
 * "Routing debug exceptions": exits with ESR_EL2 EC 0x30, 0x34, 0x32, 0x3C; the model reflects
 * what the guest's own controls generate to its EL1 vector, tests/integration/debug-el2.test.ts
 * reads the trace). In order:
 *  1. a breakpoint at EL1 with MDSCR_EL1.MDE = KDE = 1 and PSTATE.D = 0: EC 0x31 to EL1;
 *  2. the same breakpoint with PSTATE.D = 1: nothing for the guest (under TDE it is still
 *     generated, D2.4: the debug target EL2 is above EL1, and the model resumes past it);
 *  3. a watchpoint on a store: EC 0x35, WnR, FAR = the address; then on an LDADD, which the
 *     handler's return performs once (the exception is taken before the access, D2.10); then on
 *     a store in a function that ran before the watchpoint was set (its code already translated);
 *  4. BRK #0x77 at EL1: EC 0x3C, ISS = the immediate;
 *  5. software step at EL0 (MDSCR_EL1.SS = 1, KDE = 0): EC 0x32 before each EL0 instruction,
 *     ELR = that instruction; the first ISV = 0 (the ERET returned with SPSR_EL1.SS = 0:
 *     active-pending, nothing stepped yet, D2.12), then ISV = 1. Under TDE the EL2 model stepped
 *     the ERET itself (ESR_EL2 ISV = 1) and reflects the step with the guest's view, ISV = 0;
 *  6. with PSTATE.D = 1 (the guest's events masked), the breakpoint hit 4 times and a watched
 *     LDADD, LDR Xn, [Xn] and post-indexed STR: nothing for the guest, and each access performed once (under
 *     TDE each execution is one EL2 exit the model resumes past, and must run only once).
 * Exit status: the number of failures.
 */
#include "runtime.h"

#define MAX_REC 8
static struct { u64 esr, elr, far; } rec[MAX_REC];
static volatile unsigned nrec;
static volatile u64 watched[2];

void exception_handler(struct frame *f, unsigned vec)
{
	unsigned ec = ESR_EC(f->esr);
	if (vec == VEC_LOWER64_SYNC && ec == EC_SVC64) {
		return_to_kernel(f, 0);
		return;
	}
	int ok = (vec == VEC_CUR_SPX_SYNC && (ec == 0x31 || ec == 0x35 || ec == EC_BRK64)) || (vec == VEC_LOWER64_SYNC && ec == 0x32);
	if (!ok || nrec >= MAX_REC)
		unexpected_exception(f, vec);
	rec[nrec].esr = f->esr;
	rec[nrec].elr = f->elr;
	rec[nrec].far = f->far;
	nrec++;
	if (ec == 0x31 || ec == 0x35)
		f->spsr |= 1UL << 9; /* return with PSTATE.D set: the event does not fire again */
	else if (ec == EC_BRK64)
		f->elr += 4; /* BRK's preferred return is the BRK itself */
	else if (ec == 0x32)
		f->spsr |= 1UL << 21; /* SPSR_EL1.SS: step the EL0 instruction returned to */
}

static __attribute__((noinline)) void poke(volatile u64 *p, u64 v)
{
	*p = v;
}

extern char bp_site[];
static __attribute__((noinline)) void target(void)
{
	__asm__ volatile(".globl bp_site\nbp_site: nop\n");
}

__asm__(
	"	.text\n"
	"	.global el0_steps, el0_add2, el0_svc\n"
	"el0_steps:\n"
	"	add	x1, x1, #1\n"
	"el0_add2:\n"
	"	add	x2, x2, #1\n"
	"el0_svc:\n"
	"	svc	#0\n"
	"	b	.\n");
extern char el0_steps[], el0_add2[], el0_svc[];
static u64 el0_stack[512] __attribute__((aligned(16)));

#define SS_ESR_ISV ((0x32UL << 26) | ESR_IL | (1UL << 24) | 0x22)

/* 1, 2: breakpoint (BAS 0xf, PMC EL1, E) with PSTATE.D clear, then set. */
static void check_breakpoint(void)
{
	write_sysreg((u64)bp_site, dbgbvr0_el1);
	write_sysreg((0xfUL << 5) | (1UL << 1) | 1, dbgbcr0_el1);
	isb();
	nrec = 0;
	__asm__ volatile("msr daifclr, #8" ::: "memory");
	target();
	check("breakpoint (D = 0): taken once", nrec, 1);
	check("breakpoint ESR_EL1 (EC 0x31, IL, IFSC 0x22)", rec[0].esr, 0xc6000022UL);
	check("breakpoint ELR_EL1 = the instruction", rec[0].elr, (u64)bp_site);
	target(); /* PSTATE.D = 1 (the handler returned with it) */
	check("breakpoint (D = 1): not taken by the guest", nrec, 1);
	write_sysreg(0, dbgbcr0_el1);
	isb();
}

/* 3: watchpoint on watched[1]: BAS 0xff, LSC store, PAC EL1, E. poke() runs before, so its
 * code is translated before the watchpoint exists, and once after (D = 1: not taken). */
static void check_watchpoint(void)
{
	poke(&watched[1], 7);
	nrec = 0;
	write_sysreg((u64)&watched[1], dbgwvr0_el1);
	write_sysreg((0xffUL << 5) | (2UL << 3) | (1UL << 1) | 1, dbgwcr0_el1);
	isb();
	__asm__ volatile("msr daifclr, #8" ::: "memory");
	watched[1] = 0x1234;
	__asm__ volatile("msr daifset, #8" ::: "memory");
	check("watchpoint: taken once", nrec, 1);
	check("watchpoint ESR_EL1 (EC 0x35, IL, WnR, DFSC 0x22)", rec[0].esr, 0xd6000062UL);
	check("watchpoint FAR_EL1 = the address", rec[0].far, (u64)&watched[1]);
	check("the store is done", watched[1], 0x1234);
	/* An LDADD: the exception comes before the access, which runs once, on the return. */
	__asm__ volatile("msr daifclr, #8" ::: "memory");
	{
		u64 old;
		__asm__ volatile("ldadd %2, %0, [%1]" : "=&r"(old) : "r"(&watched[1]), "r"(1UL) : "memory");
	}
	__asm__ volatile("msr daifset, #8" ::: "memory");
	check("watchpoint on LDADD: taken once", nrec, 2);
	__asm__ volatile("msr daifclr, #8" ::: "memory");
	poke(&watched[1], 0x1235);
	__asm__ volatile("msr daifset, #8" ::: "memory");
	check("watchpoint in code run before it was set: taken", nrec, 3);
	check("LDADD performed once (exception before the access)", watched[1], 0x1235);
	write_sysreg(0, dbgwcr0_el1);
	isb();
}

/* 4: BRK (always generated, whatever PSTATE.D says). */
static void check_brk(void)
{
	nrec = 0;
	extern char brk_site[];
	__asm__ volatile(".globl brk_site\nbrk_site: brk #0x77" ::: "memory");
	check("brk: taken once", nrec, 1);
	check("brk ESR_EL1 (EC 0x3C, IL, imm 0x77)", rec[0].esr, (0x3cUL << 26) | ESR_IL | 0x77);
	check("brk ELR_EL1 = the BRK", rec[0].elr, (u64)brk_site);
}

/* 5: software step at EL0: SS = 1, KDE = 0 (EL1 is not stepped for the guest). */
static void check_step(void)
{
	nrec = 0;
	write_sysreg((1UL << 15) | 1, mdscr_el1);
	isb();
	enter_user((u64)el0_steps, (u64)&el0_stack[512], 0);
	write_sysreg(1UL << 15, mdscr_el1);
	isb();
	check("step: three exceptions from EL0 before the SVC", nrec, 3);
	check("step 1: ESR (EC 0x32, ISV 0)", rec[0].esr, SS_ESR_ISV & ~(1UL << 24));
	check("step 1: ELR = the first EL0 instruction", rec[0].elr, (u64)el0_steps);
	check("step 2: ESR (EC 0x32, ISV 1)", rec[1].esr, SS_ESR_ISV);
	check("step 2: ELR = the second", rec[1].elr, (u64)el0_add2);
	check("step 3: ESR (EC 0x32, ISV 1)", rec[2].esr, SS_ESR_ISV);
	check("step 3: ELR = the SVC", rec[2].elr, (u64)el0_svc);
}

/* 6: PSTATE.D = 1 (DAIF.D is set since the step test's handler): the breakpoint, then a
 * watchpoint on LDADD and on a post-indexed STR (BAS 0xff, LSC load/store, PAC EL1). */
static void check_masked(void)
{
	nrec = 0;
	write_sysreg((1UL << 15) | (1UL << 13), mdscr_el1); /* MDE, KDE */
	__asm__ volatile("msr daifset, #8" ::: "memory");
	write_sysreg((u64)bp_site, dbgbvr0_el1);
	write_sysreg((0xfUL << 5) | (1UL << 1) | 1, dbgbcr0_el1);
	isb();
	for (int i = 0; i < 4; i++)
		target();
	write_sysreg(0, dbgbcr0_el1);
	watched[1] = 0;
	write_sysreg((u64)&watched[1], dbgwvr0_el1);
	write_sysreg((0xffUL << 5) | (3UL << 3) | (1UL << 1) | 1, dbgwcr0_el1);
	isb();
	for (u64 i = 0; i < 4; i++) {
		u64 old;
		__asm__ volatile("ldadd %2, %0, [%1]" : "=&r"(old) : "r"(&watched[1]), "r"(1UL) : "memory");
	}
	u64 sum = watched[1];
	u64 q = (u64)&watched[1];
	__asm__ volatile("ldr %0, [%0]" : "+r"(q) : : "memory"); /* base = destination */
	u64 p = (u64)&watched[1];
	__asm__ volatile("str %1, [%0], #8" : "+r"(p) : "r"(0x55UL) : "memory");
	write_sysreg(0, dbgwcr0_el1);
	isb();
	check("D = 1: no breakpoint or watchpoint for the guest", nrec, 0);
	check("D = 1: four LDADD #1 add 4 (each performed once)", sum, 4);
	check("D = 1: LDR Xn, [Xn] loaded once", q, 4);
	check("D = 1: post-indexed STR wrote once", watched[1], 0x55);
	check("D = 1: post-indexed STR advanced its base once", p, (u64)&watched[1] + 8);
}

int main(void)
{
	puts("debug-el2: breakpoint, watchpoint, BRK and software step as the guest sees them\n");
	install_vectors();
	write_sysreg(0, oslar_el1); /* OS lock clear */
	write_sysreg((1UL << 15) | (1UL << 13), mdscr_el1); /* MDE, KDE */
	isb();
	check_breakpoint();
	check_watchpoint();
	check_brk();
	check_step();
	check_masked();
	finish(GUEST_NAME);
}
