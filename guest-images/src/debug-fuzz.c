/*
 * debug-fuzz: seeded random accesses to the debug system registers (Arm ARM D19 "AArch64 debug
 * registers": op0 = 0b10), written and read at EL1 (PSTATE.D clear or set) and at EL0, with any
 * value: DBGBVR/BCR/WVR/WCR 0-15 (6 breakpoints and 4 watchpoints are implemented, the others
 * UNDEFINED), MDSCR_EL1, MDCCINT_EL1, the OS lock and double lock (OSLAR/OSLSR/OSDLR), OSECCR,
 * OSDTRRX/TX, MDRAR, DBGPRCR, DBGCLAIMSET/CLR, DBGAUTHSTATUS, the DCC registers (MDCCSR_EL0,
 * DBGDTR*_EL0), DBGVCR32_EL2, and random encodings anywhere in op0 = 0b10. Each access is one of
 * the MSR/MRS routines of debug-fuzz-table.S (every op0 = 0b10 encoding), called at EL1 or, through
 * el0_call, at EL0: no code is written at run time.
 * What it may raise is handled: UNDEFINED (EC 0x00) or a trap to EL1 (EC 0x18: MDSCR_EL1.TDCC) skip
 * the access; a breakpoint, watchpoint or software step the random values armed (addresses in
 * this image's code and data) turn debug exceptions off again (MDSCR_EL1 = 0, PSTATE.D on
 * return) and retry. Anything else is unexpected (exit status 0xEE). The point: no value in any
 * debug register crashes or hangs the emulator; the run ends with a RESULT line.
 * Exit status: the number of failures.
 */
#include "runtime.h"

#ifndef FUZZ_SEED
#define FUZZ_SEED 0x9e3779b97f4a7c15UL
#endif
#ifndef FUZZ_COUNT
#define FUZZ_COUNT 3000
#endif

static u64 rng = FUZZ_SEED;
static u64 next(void)
{
	/* xorshift64 (Marsaglia) */
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static volatile u64 undefs, events;
static u64 outcome = 0xcbf29ce484222325UL;
static volatile u64 ec_seen[64];
static u64 el0_stack[256] __attribute__((aligned(16)));
extern char sysreg_write[], sysreg_read[], el0_call[];
static struct { u64 value, fn; } call;

/* The routine for an encoding (debug-fuzz-table.S: 8 bytes each, index op1:CRn:CRm:op2). */
static u64 routine(int read, unsigned op1, unsigned crn, unsigned crm, unsigned op2)
{
	return (u64)(read ? sysreg_read : sysreg_write) + 8 * ((op1 << 11) | (crn << 7) | (crm << 3) | op2);
}

static void at_el0(u64 fn, u64 v)
{
	call.value = v;
	call.fn = fn;
	enter_user((u64)el0_call, (u64)&el0_stack[256], (u64)&call);
}

void exception_handler(struct frame *f, unsigned vec)
{
	unsigned ec = ESR_EC(f->esr);
	int sync = vec == VEC_CUR_SPX_SYNC || vec == VEC_LOWER64_SYNC;
	if (sync && vec == VEC_LOWER64_SYNC && ec == EC_SVC64) {
		return_to_kernel(f, 0);
		return;
	}
	if (sync && (ec == EC_UNKNOWN || ec == EC_SYS64)) {
		undefs++;
		f->elr += 4;
		return;
	}
	if (sync && ec >= 0x30 && ec <= 0x35) {
		/* breakpoint, software step, watchpoint: off again, and retry */
		events++;
		ec_seen[ec]++;
		write_sysreg(0, mdscr_el1);
		isb();
		f->spsr = (f->spsr | (1UL << 9)) & ~(1UL << 21);
		return;
	}
	unexpected_exception(f, vec);
}

/* The named debug registers as {op1, CRn, CRm, op2} (op0 = 2). */
static const u8 named[][4] = {
	{0, 0, 2, 0},  /* MDCCINT_EL1 */
	{0, 0, 2, 2},  /* MDSCR_EL1 */
	{0, 0, 0, 2},  /* OSDTRRX_EL1 */
	{0, 0, 3, 2},  /* OSDTRTX_EL1 */
	{0, 0, 6, 2},  /* OSECCR_EL1 */
	{0, 1, 0, 0},  /* MDRAR_EL1 */
	{0, 1, 0, 4},  /* OSLAR_EL1 */
	{0, 1, 1, 4},  /* OSLSR_EL1 */
	{0, 1, 3, 4},  /* OSDLR_EL1 */
	{0, 1, 4, 4},  /* DBGPRCR_EL1 */
	{0, 7, 8, 6},  /* DBGCLAIMSET_EL1 */
	{0, 7, 9, 6},  /* DBGCLAIMCLR_EL1 */
	{0, 7, 14, 6}, /* DBGAUTHSTATUS_EL1 */
	{3, 0, 1, 0},  /* MDCCSR_EL0 */
	{3, 0, 4, 0},  /* DBGDTR_EL0 */
	{3, 0, 5, 0},  /* DBGDTRRX_EL0 / DBGDTRTX_EL0 */
	{4, 0, 7, 0},  /* DBGVCR32_EL2 */
};
#define NNAMED (sizeof(named) / sizeof(named[0]))

extern char __image_start[], __image_end[];

int main(void)
{
	puts("debug-fuzz: random values in the debug registers at EL1 and EL0\n");
	install_vectors();
	/* First, fixed: the EL1 debug registers are UNDEFINED at EL0, read or written (their access
	 * pseudocode: "if PSTATE.EL == EL0 then UNDEFINED"). */
	for (unsigned i = 0; i < 4; i++) {
		static const u8 el1_only[][4] = {{0, 0, 2, 2}, {0, 1, 0, 4}, {0, 0, 0, 4}, {0, 0, 0, 7}};
		const u8 *e = el1_only[i];
		for (int rd = 0; rd < 2; rd++) {
			u64 u0 = undefs;
			at_el0(routine(rd, e[0], e[1], e[2], e[3]), ~0UL);
			if (undefs != u0 + 1)
				printf("FAIL EL0 %s S2_%u_C%u_C%u_%u: not UNDEFINED\n", rd ? "MRS" : "MSR", e[0], e[1], e[2], e[3]);
		}
	}
	check_bool("EL0: MDSCR_EL1, OSLAR_EL1, DBGBVR0_EL1, DBGWCR0_EL1 UNDEFINED (read and write)", undefs == 8);
	unsigned n;
	for (n = 0; n < FUZZ_COUNT; n++) {
		u64 r = next();
		unsigned op1, crn, crm, op2;
		unsigned pick = r & 7;
		if (pick < 4) {
			/* DBGB/W VR/CR 0-15 */
			op1 = 0, crn = 0, crm = (r >> 3) & 15, op2 = 4 + ((r >> 7) & 3);
		} else if (pick < 6) {
			const u8 *e = named[(r >> 3) % NNAMED];
			op1 = e[0], crn = e[1], crm = e[2], op2 = e[3];
		} else {
			op1 = (r >> 3) & 7, crn = (r >> 6) & 15, crm = (r >> 10) & 15, op2 = (r >> 14) & 7;
		}
		int read = ((r >> 17) & 3) == 0;
		int el0 = (r >> 19) & 1;
		int dclear = (r >> 20) & 1;
		/* Values: any 64 bits, or an address in this image (so breakpoints and watchpoints fire). */
		u64 v = next();
		if (((r >> 21) & 3) == 0)
			v = ((u64)__image_start + (v % (u64)(__image_end - __image_start))) & ~3UL;
		/* One in eight: the OS lock cleared and MDE/KDE (and maybe SS) set, so events can fire. */
		if (((r >> 23) & 7) == 0) {
			write_sysreg(0, oslar_el1);
			write_sysreg((1UL << 15) | (1UL << 13) | ((r >> 26) & 1), mdscr_el1);
			isb();
		}
		u64 u0 = undefs;
		u64 fn = routine(read, op1, crn, crm, op2);
		if (el0) {
			at_el0(fn, v);
		} else {
			if (dclear)
				__asm__ volatile("msr daifclr, #8" ::: "memory");
			register u64 x0 __asm__("x0") = v;
			__asm__ volatile("blr %1" : "+r"(x0) : "r"(fn) : "x30", "memory");
			__asm__ volatile("msr daifset, #8" ::: "memory");
		}
		/* Which accesses were UNDEFINED (or trapped to EL1): FNV-1a over the outcomes. */
		outcome = (outcome ^ (undefs - u0)) * 0x100000001b3UL;
	}
	/* Quiet again: no debug event may reach the report. */
	write_sysreg(0, mdscr_el1);
	isb();
	check("accesses done", n, FUZZ_COUNT);
	/* The same under MDCR_EL2.TDA/TDE (tests/integration/debug-fuzz.test.ts); QEMU's differs (its core has other registers). */
	printf("outcomes of the accesses (FNV-1a): %lx\n", outcome);
	check_bool("some were UNDEFINED or trapped", undefs > 0);
	finish(GUEST_NAME);
}
