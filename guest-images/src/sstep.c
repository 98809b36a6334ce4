/*
 * sstep: software step at EL1 (Arm ARM D2.12 "Software Step exceptions"), as kvm-unit-tests'
 * debug-sstep uses it: MDSCR_EL1.SS = 1 and KDE = 1 (stepping EL1 itself), OS lock clear; MSR
 * DAIFClr clearing PSTATE.D makes stepping active with PSTATE.SS = 0 (active-pending): a Software
 * Step exception before the next instruction, EC 0x33 (from the current EL), IFSC 0b100010,
 * ISV = 0. The handler returns with SPSR_EL1.SS = 1: one instruction runs (active-not-pending),
 * then the next step exception, now ISV = 1, ELR = the next instruction; the step of the MSR
 * DAIFSet that masks debug exceptions again still ends in one (as QEMU 7.2 takes it).
 * Exit status = number of failed checks.
 */
#include "runtime.h"

#define MAX_REC 8
static struct { u64 esr, elr; } rec[MAX_REC];
static volatile unsigned nrec;

void exception_handler(struct frame *f, unsigned vec)
{
	if (vec != VEC_CUR_SPX_SYNC || ESR_EC(f->esr) != 0x33 || nrec >= MAX_REC)
		unexpected_exception(f, vec);
	rec[nrec].esr = f->esr;
	rec[nrec].elr = f->elr;
	nrec++;
	f->spsr |= 1UL << 21;   /* SPSR_EL1.SS: step the instruction returned to */
}

#define SS_ESR(isv) ((0x33UL << 26) | ESR_IL | ((u64)(isv) << 24) | 0x22)

int main(void)
{
	puts("sstep: software step at EL1 (MDSCR_EL1.SS, KDE; PSTATE.D; SPSR_EL1.SS)\n");
	install_vectors();
	write_sysreg(0, oslar_el1);                 /* OS lock clear */
	write_sysreg(read_sysreg(mdscr_el1) | (1UL << 13) | 1, mdscr_el1);   /* KDE, SS */
	isb();
	u64 start;
	nrec = 0;
	__asm__ volatile(
		"adr	%0, 1f\n"
		"msr	daifclr, #8\n"
		"1:	add	x1, x1, #1\n"
		"	add	x2, x2, #1\n"
		"	msr	daifset, #8\n"
		: "=&r"(start) : : "x1", "x2", "memory");
	write_sysreg(read_sysreg(mdscr_el1) & ~1UL, mdscr_el1);
	isb();
	check("step exceptions", nrec, 4);
	check("1st: active-pending after DAIFClr: ELR", rec[0].elr, start);
	check("1st: ESR (EC 0x33, ISV 0)", rec[0].esr, SS_ESR(0));
	check("2nd: after stepping one add: ELR", rec[1].elr, start + 4);
	check("2nd: ESR (EC 0x33, ISV 1)", rec[1].esr, SS_ESR(1));
	check("3rd: after the second add: ELR", rec[2].elr, start + 8);
	check("3rd: ESR (ISV 1)", rec[2].esr, SS_ESR(1));
	/* The step of MSR DAIFSet itself completes: QEMU 7.2 takes it although D is now set. */
	check("4th: after MSR DAIFSet: ELR", rec[3].elr, start + 12);
	check("4th: ESR (ISV 1)", rec[3].esr, SS_ESR(1));
	finish(GUEST_NAME);
}
