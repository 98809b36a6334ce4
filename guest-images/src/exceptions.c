/*
 * exceptions: synchronous exception entry at EL1 and from EL0, checked
 * against the Arm ARM (DDI0487):
 *   D1.10 exception entry: ELR_EL1 = preferred return address, SPSR_EL1 =
 *     PSTATE before the exception, PSTATE.{D,A,I,F} = 1, EL1 with SP_EL1,
 *     vector VBAR_EL1 + 0x200 (current EL, SP_ELx) or + 0x400 (lower EL, AArch64);
 *   ESR_EL1 register description: EC[31:26], IL[25], ISS[24:0]:
 *     SVC   EC 0x15, ISS = imm16, preferred return = next instruction;
 *     BRK   EC 0x3C, ISS = imm16 (comment), preferred return = the BRK;
 *     UDF   EC 0x00 (Unknown reason), ISS = 0, IL = 1, preferred return = the UDF.
 * Exit status = number of failed checks.
 */
#include "runtime.h"

#define MAX_REC 8
struct rec {
	unsigned vec;
	u64 esr, elr, spsr;
	u64 cur_el, spsel, daif;   /* PSTATE inside the handler */
};
static struct rec recs[MAX_REC];
static volatile unsigned nrec;

/* SPSR fields compared: M[4:0], DAIF[9:6], IL[20], SS[21], NZCV[31:28]. The
 * rest (PAN, UAO, DIT, SSBS, BTYPE, TCO...) depends on implemented features. */
#define SPSR_CHECKED (SPSR_M_MASK | SPSR_DAIF | (1UL << 20) | (1UL << 21) | SPSR_NZCV)

void exception_handler(struct frame *f, unsigned vec)
{
	if (nrec >= MAX_REC)
		unexpected_exception(f, vec);
	struct rec *r = &recs[nrec++];
	r->vec = vec;
	r->esr = f->esr;
	r->elr = f->elr;
	r->spsr = f->spsr;
	r->cur_el = read_sysreg(CurrentEL);
	r->spsel = read_sysreg(spsel);
	r->daif = read_sysreg(daif);

	unsigned ec = ESR_EC(f->esr);
	if (vec == VEC_CUR_SPX_SYNC) {
		if (ec == EC_BRK64 || ec == EC_UNKNOWN)
			f->elr += 4;          /* BRK and UDF return to themselves: skip them */
		else if (ec != EC_SVC64)
			unexpected_exception(f, vec);
	} else if (vec == VEC_LOWER64_SYNC) {
		if (ec == EC_SVC64 && ESR_ISS(f->esr) == 0)
			return_to_kernel(f, f->x[0]);   /* svc #0: EL0 is done */
		else if (ec == EC_SVC64)
			f->x[0] = 0xfeed;                /* the "syscall" result EL0 checks */
		else if (ec == EC_UNKNOWN)
			f->elr += 4;
		else
			unexpected_exception(f, vec);
	} else {
		unexpected_exception(f, vec);
	}
}

static void check_rec(const char *what, unsigned idx, unsigned want_vec, u64 want_esr, u64 want_elr, u64 want_spsr)
{
	char name[64];
	const struct rec *r = &recs[idx];
	struct { const char *field; u64 got, want; } c[] = {
		{ "vector-offset", (u64)r->vec * 0x80, (u64)want_vec * 0x80 },
		{ "ESR_EL1", r->esr, want_esr },
		{ "ELR_EL1", r->elr, want_elr },
		{ "SPSR_EL1", r->spsr & SPSR_CHECKED, want_spsr },
		/* Inside the handler: EL1 (CurrentEL[3:2] = 1), SP_EL1 (SPSel = 1), DAIF all set. */
		{ "handler-PSTATE", (r->cur_el << 32) | (r->spsel << 16) | r->daif, (4UL << 32) | (1UL << 16) | SPSR_DAIF },
	};
	for (unsigned i = 0; i < sizeof c / sizeof c[0]; i++) {
		char *p = name;
		for (const char *s = what; *s; s++)
			*p++ = *s;
		*p++ = ' ';
		for (const char *s = c[i].field; *s; s++)
			*p++ = *s;
		*p = 0;
		check(name, c[i].got, c[i].want);
	}
}

/* EL0 code: SVC #0x1234 (the handler answers x0 = 0xfeed), UDF from EL0,
 * then SVC #0 with x0 = the answer, which returns to the kernel. */
__asm__(
	"	.text\n"
	"	.global el0_code, el0_svc, el0_udf\n"
	"el0_code:\n"
	"	mov	x9, #0x90000000\n"        /* N and V set: must show up in SPSR_EL1.NZCV */
	"	msr	nzcv, x9\n"
	"el0_svc:\n"
	"	svc	#0x1234\n"
	"	mov	x19, x0\n"
	"	mov	x9, #0x60000000\n"        /* Z and C */
	"	msr	nzcv, x9\n"
	"el0_udf:\n"
	"	udf	#7\n"
	"	mov	x0, x19\n"
	"	svc	#0\n"
	"	b	.\n");
extern char el0_code[], el0_svc[], el0_udf[];

static u64 el0_stack[512] __attribute__((aligned(16)));

/*
 * One synchronous exception taken at EL1 from the instruction `insn` (asm text) run with NZCV =
 * `nzcv`: exactly one record, at the current-EL SP_ELx vector (Arm ARM D1.10.2), with ESR_EL1 =
 * `esr`, ELR_EL1 = the instruction's address + `elr_off` and SPSR_EL1 = NZCV, DAIF masked, EL1h.
 */
#define SYNC_AT_EL1(name, insn, nzcv, esr, elr_off)                                         \
	do {                                                                                \
		nrec = 0;                                                                   \
		__asm__ volatile("msr nzcv, %1\n"                                           \
				 "adr %0, 1f\n"                                             \
				 "1: " insn                                                 \
				 : "=&r"(pc) : "r"(nzcv) : "cc", "memory");                 \
		check(name " taken once", nrec, 1);                                         \
		check_rec(name, 0, VEC_CUR_SPX_SYNC, esr, pc + (elr_off), (nzcv) | SPSR_DAIF | SPSR_EL1h); \
	} while (0)

int main(void)
{
	u64 pc;
	puts("exceptions: synchronous exception entry (Arm ARM D1.10, ESR_EL1)\n");
	install_vectors();
	check("VBAR_EL1", read_sysreg(vbar_el1), (u64)vectors_el1);

	/* 1. SVC at EL1: ELR = next instruction, ISS = imm16. */
	SYNC_AT_EL1("svc-el1", "svc #0x42", 0xa0000000UL, (0x15UL << 26) | ESR_IL | 0x42, 4);
	/* 2. BRK at EL1: ELR = the BRK itself, ISS = imm16. */
	SYNC_AT_EL1("brk-el1", "brk #0x99", 0x40000000UL, (0x3cUL << 26) | ESR_IL | 0x99, 0);
	/* 3. UDF at EL1: EC 0 (Unknown reason), IL = 1, ISS = 0, ELR = the UDF. */
	SYNC_AT_EL1("udf-el1", "udf #0x1234", 0x10000000UL, ESR_IL, 0);

	/* 4. ERET to EL0 (SPSR_EL1 = EL0t, DAIF masked); SVC and UDF from EL0. */
	nrec = 0;
	u64 ret = enter_user((u64)el0_code, (u64)&el0_stack[512], 0);
	check("el0 round trip (x0 from svc handler)", ret, 0xfeed);
	check("el0 exceptions taken", nrec, 3);
	check_rec("svc-el0", 0, VEC_LOWER64_SYNC, (0x15UL << 26) | ESR_IL | 0x1234, (u64)el0_svc + 4,
		  0x90000000UL | SPSR_DAIF | SPSR_EL0t);
	check_rec("udf-el0", 1, VEC_LOWER64_SYNC, ESR_IL, (u64)el0_udf, 0x60000000UL | SPSR_DAIF | SPSR_EL0t);
	check("back at EL1", current_el(), 1);

	finish(GUEST_NAME);
}
