/*
 * The synchronous exceptions a guest provokes on purpose, one access after another, recorded
 * (ESR_EL1, ELR_EL1) and resumed after the instruction (pmu-hpmn, unknown-sysreg): taken from
 * the current EL with SP_ELx or from EL0 (AArch64), of an exception class the guest expects. An
 * SVC from EL0 ends the EL0 code (enter_user returns its x19). Anything else is unexpected (the
 * guest reports it and exits 0xEE).
 */
#ifndef HYPEMU_TRAP_RECORD_H
#define HYPEMU_TRAP_RECORD_H
#include "runtime.h"

#define TRAP_RECORD_MAX 32
static struct { u64 esr, elr; } rec[TRAP_RECORD_MAX];
static volatile unsigned nrec;

/* Bit n of an expected-classes mask: ESR_ELx.EC n. */
#define EC_MASK(ec) (1UL << (ec))

/* The guest's exception_handler: record an expected exception (ELR + 4), end the EL0 code on its SVC. */
static void record_trap(struct frame *f, unsigned vec, u64 expected_ecs)
{
	unsigned ec = ESR_EC(f->esr);
	if (vec == VEC_LOWER64_SYNC && ec == EC_SVC64) {
		return_to_kernel(f, f->x[19]);
		return;
	}
	if ((vec != VEC_CUR_SPX_SYNC && vec != VEC_LOWER64_SYNC) || !(expected_ecs & EC_MASK(ec)) || nrec >= TRAP_RECORD_MAX)
		unexpected_exception(f, vec);
	rec[nrec].esr = f->esr;
	rec[nrec].elr = f->elr;
	nrec++;
	f->elr += 4;
}

/* One instruction with a global label (its address for ELR checks), in an __asm__ block. */
#define STEP(label, insn) "	.global " #label "\n" #label ":\n	" insn "\n"

#endif
