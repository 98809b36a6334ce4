/*
 * mmio-simd: SIMD&FP register loads and stores to an emulated device (hypemu's trapped scratch
 * page, never mapped at stage 2, whose registers read back what was written). The stage-2 data
 * abort has no valid syndrome (ISV = 0 for SIMD&FP, Arm ARM D17.2.37), so the hypervisor emulates
 * them by decoding: STR/LDR Q, D, S, H, B (immediate, unscaled, register offset, post- and
 * pre-index with writeback), STP/LDP and STNP/LDNP of S, D and Q registers. A load writes the
 * whole register, zeroing the bytes above the element (C7.2 "LDR (immediate, SIMD&FP)").
 */
#include "runtime.h"

#define DEV 0x0c010000UL /* VIRT.TRAPDEV */

void exception_handler(struct frame *f, unsigned vec)
{
	unexpected_exception(f, vec);
}

/* v0 <- (lo, hi); returns nothing */
#define SETV(n, lo, hi) __asm__ volatile("fmov d" #n ", %0\n mov v" #n ".d[1], %1" : : "r"((u64)(lo)), "r"((u64)(hi)) : "v" #n)
#define GETV(n, lo, hi) __asm__ volatile("mov %0, v" #n ".d[0]\n mov %1, v" #n ".d[1]" : "=r"(lo), "=r"(hi))

/* A SIMD&FP load into v<n> (all ones before) by `insn` (base address operand %0), then (lo, hi) = v<n>. */
#define LOADV(n, insn, base)                                                   \
	do {                                                                   \
		SETV(n, ~0UL, ~0UL);                                           \
		__asm__ volatile(insn : : "r"(base) : "memory");               \
		GETV(n, lo, hi);                                               \
	} while (0)

static u64 rd64(u64 off) { return mmio_read64(DEV + off); }

int main(void)
{
	u64 lo, hi, base;
	install_vectors();
	write_sysreg(3UL << 20, cpacr_el1); /* FPEN: no trap of SIMD&FP at EL1/EL0 */
	isb();

	/* STR Q / LDR Q (unsigned offset) */
	SETV(0, 0x1122334455667788UL, 0x99aabbccddeeff00UL);
	__asm__ volatile("str q0, [%0, #16]" : : "r"(DEV) : "memory");
	check("STR Q0: low doubleword on the device", rd64(16), 0x1122334455667788UL);
	check("STR Q0: high doubleword on the device", rd64(24), 0x99aabbccddeeff00UL);
	LOADV(1, "ldr q1, [%0, #16]", DEV);
	check("LDR Q1: low", lo, 0x1122334455667788UL);
	check("LDR Q1: high", hi, 0x99aabbccddeeff00UL);

	/* LDR D / S / H / B zero the rest of the register */
	LOADV(2, "ldr d2, [%0, #16]", DEV);
	check_bool("LDR D2: the doubleword, upper half zeroed", lo == 0x1122334455667788UL && hi == 0);
	LOADV(3, "ldr s3, [%0, #20]", DEV);
	check_bool("LDR S3: the word, the rest zeroed", lo == 0x11223344UL && hi == 0);
	LOADV(4, "ldur h4, [%0, #-2]", DEV + 20);
	check_bool("LDUR H4 (negative offset): the halfword, the rest zeroed", lo == 0x5566UL && hi == 0);
	LOADV(5, "ldr b5, [%0, #23]", DEV);
	check_bool("LDR B5: the byte, the rest zeroed", lo == 0x11UL && hi == 0);

	/* STR D / S / H / B write only the element */
	mmio_write64(DEV + 32, 0);
	mmio_write64(DEV + 40, 0);
	SETV(6, 0xa1a2a3a4a5a6a7a8UL, 0xb1b2b3b4b5b6b7b8UL);
	__asm__ volatile("str s6, [%0, #32]\n str h6, [%0, #36]\n str b6, [%0, #38]\n str d6, [%0, #40]" : : "r"(DEV) : "memory");
	check("STR S6, H6, B6: element bytes only", rd64(32), 0x00a8a7a8a5a6a7a8UL);
	check("STR D6", rd64(40), 0xa1a2a3a4a5a6a7a8UL);

	/* STP / LDP of D and Q, STNP / LDNP of S */
	SETV(7, 0x0101010102020202UL, 0);
	SETV(8, 0x0303030304040404UL, 0);
	__asm__ volatile("stp d7, d8, [%0, #64]" : : "r"(DEV) : "memory");
	check("STP D7, D8: first", rd64(64), 0x0101010102020202UL);
	check("STP D7, D8: second", rd64(72), 0x0303030304040404UL);
	SETV(9, 0x1111UL, 0x2222UL);
	SETV(10, 0x3333UL, 0x4444UL);
	__asm__ volatile("stp q9, q10, [%0, #128]" : : "r"(DEV) : "memory");
	check_bool("STP Q9, Q10: 32 bytes", rd64(128) == 0x1111 && rd64(136) == 0x2222 && rd64(144) == 0x3333 && rd64(152) == 0x4444);
	u64 lo2, hi2;
	__asm__ volatile("ldp q11, q12, [%0, #128]" : : "r"(DEV) : "memory");
	GETV(11, lo, hi);
	GETV(12, lo2, hi2);
	check_bool("LDP Q11, Q12", lo == 0x1111 && hi == 0x2222 && lo2 == 0x3333 && hi2 == 0x4444);
	SETV(13, 0xdeadbeefUL, 0);
	SETV(14, 0xfeedfaceUL, 0);
	__asm__ volatile("stnp s13, s14, [%0, #192]" : : "r"(DEV) : "memory");
	check("STNP S13, S14", rd64(192), 0xfeedfacedeadbeefUL);
	SETV(15, ~0UL, ~0UL);
	SETV(16, ~0UL, ~0UL);
	__asm__ volatile("ldnp s15, s16, [%0, #192]" : : "r"(DEV) : "memory");
	GETV(15, lo, hi);
	GETV(16, lo2, hi2);
	check_bool("LDNP S15, S16: words, the rest zeroed", lo == 0xdeadbeefUL && hi == 0 && lo2 == 0xfeedfaceUL && hi2 == 0);

	/* Writeback: post-index and pre-index, and register offset */
	base = DEV + 256;
	SETV(17, 0x5555666677778888UL, 0);
	__asm__ volatile("str d17, [%0], #8" : "+r"(base) : : "memory");
	check("STR D17 post-index: base advanced", base, DEV + 264);
	check("STR D17 post-index: stored at the old base", rd64(256), 0x5555666677778888UL);
	__asm__ volatile("ldr d18, [%0, #-8]!" : "+r"(base) : : "memory");
	GETV(18, lo, hi);
	check_bool("LDR D18 pre-index: loaded and base written back", lo == 0x5555666677778888UL && base == DEV + 256);
	u64 idx = 2;
	SETV(19, 0x0badc0de0badc0deUL, 0);
	__asm__ volatile("str d19, [%0, %1, lsl #3]" : : "r"(DEV + 256), "r"(idx) : "memory");
	check("STR D19 register offset (Xm LSL 3)", rd64(272), 0x0badc0de0badc0deUL);
	__asm__ volatile("ldp d20, d21, [%0], #16" : "+r"(base) : : "memory");
	GETV(20, lo, hi);
	check_bool("LDP D20, D21 post-index", lo == 0x5555666677778888UL && base == DEV + 272);

	finish("mmio-simd");
}
