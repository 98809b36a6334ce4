/*
 * mmu-on / mmu-on-16k / mmu-on-64k: stage-1 translation with a 4 KB, 16 KB
 * or 64 KB granule (GRANULE_SHIFT = 12, 14, 16), 48-bit VAs in both halves
 * (T0SZ = T1SZ = 16). TTBR0 identity-maps the UART and RAM; a separate
 * TTBR1 table maps RAM at 0xffff_0000_4000_0000. After SCTLR_EL1.M is set,
 * the guest jumps to its own high alias (0xffff_0000_4008_0000 + offset),
 * moves SP there too, and prints from there.
 *
 * Levels (Arm ARM D8.2, lookup levels for a 48-bit input address):
 *   4 KB: levels 0-3 (9 bits each); 16 KB: levels 0-3, level 0 has 2
 *   entries; 64 KB: levels 1-3, level 1 has 64 entries.
 * Granule support (Arm ARM, ID_AA64MMFR0_EL1): TGran4[31:28] = 0 supported,
 * TGran64[27:24] = 0 supported, TGran16[23:20] >= 1 supported.
 */
#include "mmu.h"

#ifndef GRANULE_SHIFT
#define GRANULE_SHIFT 12
#endif
#define GRANULE (1UL << GRANULE_SHIFT)
#define HIGH_OFFSET 0xffff000000000000UL
#define RAM_MAPPED (128UL << 20)

static u8 pool_lo[8 * GRANULE] __attribute__((aligned(GRANULE)));
static u8 pool_hi[8 * GRANULE] __attribute__((aligned(GRANULE)));
static struct pt lo, hi;
static volatile u64 shared_word;

static int granule_supported(void)
{
	u64 mmfr0 = read_sysreg(id_aa64mmfr0_el1);
	switch (GRANULE_SHIFT) {
	case 12: return ((mmfr0 >> 28) & 0xf) != 0xf;
	case 14: return ((mmfr0 >> 20) & 0xf) != 0;
	default: return ((mmfr0 >> 24) & 0xf) != 0xf;
	}
}

static void __attribute__((noreturn, noinline)) high_main(void)
{
	u64 pc, sp;
	__asm__ volatile("adr %0, .\n mov %1, sp" : "=r"(pc), "=r"(sp));
	printf("now running from the TTBR1 alias: pc=%p sp=%p\n", pc, sp);
	check("pc in TTBR1 space", pc >> 48, 0xffff);
	check("sp in TTBR1 space", sp >> 48, 0xffff);
	/* adrp is PC-relative, so this address is the high alias too. */
	check("data via TTBR1 alias", *(volatile u64 *)&shared_word, 0x5eed0000cafeUL);
	shared_word = 0x1234;
	check("TTBR1 store seen through TTBR0", *(volatile u64 *)((u64)&shared_word - HIGH_OFFSET), 0x1234);
	finish(GUEST_NAME);
}

int main(void)
{
	printf("mmu-on: %lu KB granule, 48-bit VA, T0SZ=T1SZ=16\n", GRANULE >> 10);
	if (!granule_supported()) {
		printf("FAIL granule %lu KB not supported (ID_AA64MMFR0_EL1=%p)\n", GRANULE >> 10,
		       read_sysreg(id_aa64mmfr0_el1));
		exit(1);
	}
	install_vectors();

	pt_init(&lo, GRANULE_SHIFT, pool_lo, sizeof pool_lo);
	pt_identity_default(&lo);

	pt_init(&hi, GRANULE_SHIFT, pool_hi, sizeof pool_hi);
	u64 first = pt_level_size(&hi, 2) < RAM_MAPPED ? pt_level_size(&hi, 2) : RAM_MAPPED;
	pt_map(&hi, HIGH_OFFSET + RAM_BASE, RAM_BASE, first, PROT_KERNEL, 3);
	if (RAM_MAPPED > first)
		pt_map_auto(&hi, HIGH_OFFSET + RAM_BASE + first, RAM_BASE + first, RAM_MAPPED - first, PROT_KERNEL, 1);

	printf("TTBR0 root %p (start level %d), TTBR1 root %p, %lu+%lu bytes of tables\n",
	       (u64)lo.root, lo.start_level, (u64)hi.root, lo.used, hi.used);
	u64 tcr = tcr_for(GRANULE_SHIFT);
	printf("MAIR_EL1=%p TCR_EL1=%p\n", DEFAULT_MAIR, tcr);
	shared_word = 0x5eed0000cafeUL;
	mmu_enable(DEFAULT_MAIR, tcr, (u64)lo.root, (u64)hi.root);
	u64 sctlr = read_sysreg(sctlr_el1);
	printf("MMU on: SCTLR_EL1=%p\n", sctlr);
	check("SCTLR_EL1.M", sctlr & SCTLR_M, SCTLR_M);
	check("TCR_EL1 reads back", read_sysreg(tcr_el1), tcr);

	u64 target = (u64)&high_main + HIGH_OFFSET;
	printf("jumping to %p\n", target);
	__asm__ volatile("add sp, sp, %1\n"
			 "br %0" :: "r"(target), "r"(HIGH_OFFSET) : "memory");
	__builtin_unreachable();
}
