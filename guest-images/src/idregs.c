/*
 * idregs: prints every AArch64 ID register the guest can read at EL1, one
 * "NAME = 0x..." line each, so hyp/idregs.ts can record what QEMU 7.2
 * `-M virt -cpu max` shows a guest (run: scripts/guests-under-qemu.sh idregs,
 * output in guest-images/build/qemu/idregs.out).
 *
 * Covered: MIDR/MPIDR/REVIDR (Arm ARM D19.2, op0=3 op1=0 CRn=0 CRm=0), the
 * whole ID space op0=3 op1=0 CRn=0 CRm=1..7 op2=0..7 (D19.2 "ID register
 * space": unallocated encodings there read as zero), CLIDR/AIDR/CCSIDR for
 * every CSSELR value CLIDR advertises, CCSIDR2 when FEAT_CCIDX, CTR_EL0,
 * DCZID_EL0, GMID_EL1 when FEAT_MTE2. An access that UNDEFs prints "UNDEF".
 * Exit status: 0.
 */
#include "runtime.h"

static volatile int undef_hit;

void exception_handler(struct frame *f, unsigned vec)
{
	if (vec == VEC_CUR_SPX_SYNC && ESR_EC(f->esr) == EC_UNKNOWN) {
		undef_hit = 1;
		f->x[0] = 0;
		f->elr += 4;
		return;
	}
	unexpected_exception(f, vec);
}

/* Reads into x0 so the handler can zero it on UNDEF. */
#define RD(enc) ({ register u64 __v __asm__("x0"); \
	__asm__ volatile("mrs %0, " #enc : "=r"(__v) :: "memory"); __v; })

static void show(const char *name, u64 v)
{
	if (undef_hit) {
		printf("%s = UNDEF\n", name);
		undef_hit = 0;
	} else {
		printf("%s = %p\n", name, v);
	}
}

#define SHOW(name, enc) do { undef_hit = 0; u64 __x = RD(enc); show(name, __x); } while (0)
#define SHOWID(crm, op2) SHOW("S3_0_C0_C" #crm "_" #op2, S3_0_C0_C##crm##_##op2)
#define ROW(crm) SHOWID(crm, 0); SHOWID(crm, 1); SHOWID(crm, 2); SHOWID(crm, 3); \
	SHOWID(crm, 4); SHOWID(crm, 5); SHOWID(crm, 6); SHOWID(crm, 7)

int main(void)
{
	install_vectors();
	printf("CurrentEL = %p\n", read_sysreg(CurrentEL));
	SHOW("MIDR_EL1", S3_0_C0_C0_0);
	SHOW("MPIDR_EL1", S3_0_C0_C0_5);
	SHOW("REVIDR_EL1", S3_0_C0_C0_6);
	ROW(1); ROW(2); ROW(3); ROW(4); ROW(5); ROW(6); ROW(7);
	SHOW("CLIDR_EL1", S3_1_C0_C0_1);
	SHOW("AIDR_EL1", S3_1_C0_C0_7);
	SHOW("CTR_EL0", S3_3_C0_C0_1);
	SHOW("DCZID_EL0", S3_3_C0_C0_7);
	u64 mmfr2 = read_sysreg(S3_0_C0_C7_2);
	u64 pfr1 = read_sysreg(S3_0_C0_C4_1);
	if (((pfr1 >> 8) & 0xf) >= 2)
		SHOW("GMID_EL1", S3_1_C0_C0_4);
	u64 clidr = read_sysreg(S3_1_C0_C0_1);
	for (unsigned level = 0; level < 7; level++) {
		unsigned ctype = (clidr >> (3 * level)) & 7;
		if (ctype == 0)
			break;
		for (unsigned ind = 0; ind < 2; ind++) {
			/* Ctype: 1 I only, 2 D only, 3 separate I and D, 4 unified (Arm ARM CLIDR_EL1). */
			if (ind == 1 && !(ctype == 1 || ctype == 3))
				continue;
			if (ind == 0 && ctype == 1)
				continue;
			u64 sel = (level << 1) | ind;
			write_sysreg(sel, S3_2_C0_C0_0);   /* CSSELR_EL1 */
			isb();
			printf("CSSELR_EL1 = %p: ", sel);
			SHOW("CCSIDR_EL1", S3_1_C0_C0_0);
			if (((mmfr2 >> 20) & 0xf) == 1) {
				printf("CSSELR_EL1 = %p: ", sel);
				SHOW("CCSIDR2_EL1", S3_1_C0_C0_2);
			}
		}
	}
	return 0;
}
