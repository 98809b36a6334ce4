/*
 * untranslatable: instruction words and addresses that once ended the
 * emulator instead of the guest's instruction.
 *
 * 1. The eight unallocated "Advanced SIMD three same (FP16)" groups
 *    (0 Q U 01110 a 10 Rm 00 opcode 1 Rn Rd, U:a:opcode = 0x05, 0x0b-0x0d,
 *    0x11, 0x19, 0x1b, 0x1f) are UNDEFINED (Arm ARM C4.1: unallocated
 *    encodings): ESR_EL1 EC 0x00, IL 1, ISS 0, ELR = the word. Unicorn 2.1.1's
 *    decoder aborted the process on them. Run from the image, and written at
 *    run time into a buffer that then executes (self-modifying code), with
 *    FP/SIMD enabled (CPACR_EL1.FPEN = 3) so the access check passes. The
 *    guest reads its own code back unchanged.
 * 2. The top of the VA space with the MMU off (Arm ARM D8.2.11, "The effects
 *    of disabling an address translation stage": an address above the PA
 *    size is an Address size fault at level 0): a load from
 *    0xffff_ffff_ffff_fff8 is a data abort, EC 0x25, DFSC 0x00, FAR = the
 *    address; a BLR to 0xffff_ffff_ffff_fffc an instruction abort, EC 0x21,
 *    IFSC 0x00, ELR = FAR = the address.
 * Exit status = number of failed checks.
 */
#include "runtime.h"

static volatile unsigned nundef, ndabt, niabt;
static volatile u64 last_esr, last_elr, last_far;

void exception_handler(struct frame *f, unsigned vec)
{
	unsigned ec = ESR_EC(f->esr);
	last_esr = f->esr;
	last_elr = f->elr;
	last_far = f->far;
	if (vec != VEC_CUR_SPX_SYNC)
		unexpected_exception(f, vec);
	if (ec == EC_UNKNOWN) {
		nundef++;
		f->elr += 4;
	} else if (ec == EC_DABT_CUR) {
		ndabt++;
		f->elr += 4;
	} else if (ec == EC_IABT_CUR) {
		niabt++;
		f->elr = f->x[30];   /* back to the caller of the BLR */
	} else {
		unexpected_exception(f, vec);
	}
}

/* One representative per group (register fields varied), then Q = 1 forms. */
static const u32 words[] = {
	0x0e402c00, 0x0ec01c21, 0x0ec02462, 0x0ec02ca3, 0x2e400ce4, 0x2ec00d25, 0x2ec01c6c, 0x2ec03fff,
	0x4e402c00, 0x4ec01c21, 0x4ec02462, 0x4ec02ca3, 0x6e400ce4, 0x6ec00d25, 0x6ec01c6c, 0x6ec03fff,
};
#define NWORDS (sizeof words / sizeof words[0])

__asm__(
	"	.text\n"
	"	.balign 4\n"
	"	.global static_words, static_words_end\n"
	"static_words:\n"
	"	.word 0x0e402c00, 0x0ec01c21, 0x0ec02462, 0x0ec02ca3\n"
	"	.word 0x2e400ce4, 0x2ec00d25, 0x2ec01c6c, 0x2ec03fff\n"
	"static_words_end:\n"
	"	ret\n");
extern u32 static_words[], static_words_end[];

static u32 buf[64] __attribute__((aligned(64)));

static void sync_code(void *p)
{
	__asm__ volatile("dc cvau, %0\n dsb ish\n ic ivau, %0\n dsb ish\n isb" :: "r"(p) : "memory");
}

int main(void)
{
	puts("untranslatable: unallocated FP16 encodings are UNDEFINED; the top of the VA space is the guest's\n");
	install_vectors();
	write_sysreg(3UL << 20, cpacr_el1);   /* FPEN: no FP/SIMD trap */
	isb();

	/* 1a. Straight-line words in the image. */
	nundef = 0;
	((void (*)(void))static_words)();
	check("image: 8 UNDEFINED", nundef, 8);
	check("image: ESR_EL1 EC 0x00 IL 1 ISS 0", last_esr, 1UL << 25);
	check("image: ELR_EL1 = last word", last_elr, (u64)&static_words[7]);
	u32 sum = 0;
	for (unsigned i = 0; i < 8; i++)
		sum += ((volatile u32 *)static_words)[i] == words[i < 8 ? i : 0] ? 1 : 0;
	check("image: the guest reads its own words back", sum, 8);

	/* 1b. Each word written into a buffer at run time, then executed (same address every time). */
	unsigned ok = 0;
	for (unsigned i = 0; i < NWORDS; i++) {
		buf[0] = words[i];
		buf[1] = 0xd65f03c0;   /* ret */
		sync_code(buf);
		nundef = 0;
		((void (*)(void))buf)();
		if (nundef == 1 && last_elr == (u64)buf && last_esr == (1UL << 25) && ((volatile u32 *)buf)[0] == words[i])
			ok++;
		else
			printf("word %x: nundef=%u esr=%lx elr=%lx\n", words[i], nundef, last_esr, last_elr);
	}
	check("buffer: every word UNDEFINED once, read back intact", ok, NWORDS);

	/* 2. The top 1 KiB of the VA space, MMU off: Address size faults. */
	ndabt = 0;
	u64 v = 0x1234;
	__asm__ volatile("ldr %0, [%1]" : "+r"(v) : "r"(0xfffffffffffffff8UL) : "memory");
	check("top VA load: data abort", ndabt, 1);
	check("top VA load: ESR_EL1 (EC 0x25, address size L0)", last_esr & ~(0x1ffUL << 14) & ~(1UL << 24), (0x25UL << 26) | (1UL << 25));
	check("top VA load: FAR_EL1", last_far, 0xfffffffffffffff8UL);
	check("top VA load: register unchanged", v, 0x1234);
	niabt = 0;
	__asm__ volatile("blr %0" :: "r"(0xfffffffffffffffcUL) : "x30", "memory");
	check("top VA branch: instruction abort", niabt, 1);
	check("top VA branch: ESR_EL1 (EC 0x21, address size L0)", last_esr, (0x21UL << 26) | (1UL << 25));
	check("top VA branch: ELR_EL1", last_elr, 0xfffffffffffffffcUL);
	check("top VA branch: FAR_EL1", last_far, 0xfffffffffffffffcUL);
	finish("untranslatable");
}
