/*
 * mair-uncached: a guest that asks for uncached memory (seed 000: a
 * hypervisor may rewrite MAIR_EL1 to force cacheable attributes; the guest
 * must still read back exactly what it wrote).
 * MAIR_EL1 (Arm ARM, MAIR_EL1 register description), one byte per index:
 *   0 Normal WB (0xff), 1 Device-nGnRE (0x04), 2 Normal-NC (0x44),
 *   3 Device-nGnRnE (0x00), 4 Normal WT (0xbb).
 * A few RAM pages are mapped with each index (descriptor AttrIndx, bits [4:2]).
 */
#include "mmu.h"

#define G 4096UL
#define VA_BASE 0x0000002000000000UL

static u8 pool[16 * G] __attribute__((aligned(G)));
static u8 pages[5 * G] __attribute__((aligned(G)));
static struct pt pt;

static const struct { unsigned idx; const char *name; } maps[] = {
	{ 0, "Normal-WB" }, { 1, "Device-nGnRE" }, { 2, "Normal-NC" }, { 3, "Device-nGnRnE" }, { 4, "Normal-WT" },
};

int main(void)
{
	puts("mair-uncached: MAIR_EL1 with Device-nGnRE and Normal-NC besides Normal-WB\n");
	install_vectors();
	u64 mair = MAIR_ATTR(0, MAIR_NORMAL_WB) | MAIR_ATTR(1, MAIR_DEVICE_nGnRE) | MAIR_ATTR(2, MAIR_NORMAL_NC) |
		   MAIR_ATTR(3, MAIR_DEVICE_nGnRnE) | MAIR_ATTR(4, MAIR_NORMAL_WT);

	pt_init(&pt, 12, pool, sizeof pool);
	pt_identity_default(&pt);
	for (unsigned i = 0; i < 5; i++) {
		u64 va = VA_BASE + i * G, pa = (u64)pages + i * G;
		u64 prot = PTE_AF | PTE_ATTRIDX(maps[i].idx) | PTE_AP_RW_EL1 | PTE_PXN | PTE_UXN;
		if (maps[i].idx == 0 || maps[i].idx == 2 || maps[i].idx == 4)
			prot |= PTE_SH_INNER;
		pt_map(&pt, va, pa, G, prot, 3);
		printf("  VA %p -> PA %p  AttrIndx %u = %s\n", va, pa, maps[i].idx, maps[i].name);
	}

	printf("MAIR_EL1 <- %p\n", mair);
	write_sysreg(mair, mair_el1);
	isb();
	check("MAIR_EL1 reads back exactly (MMU off)", read_sysreg(mair_el1), mair);
	mmu_enable(mair, tcr_for(12) | (1UL << 23), (u64)pt.root, 0);
	check("MAIR_EL1 reads back exactly (MMU on)", read_sysreg(mair_el1), mair);

	/* aligned 64-bit accesses only: Device memory faults on unaligned ones */
	for (unsigned i = 0; i < 5; i++) {
		volatile u64 *p = (volatile u64 *)(VA_BASE + i * G);
		for (unsigned j = 0; j < 4; j++)
			p[j * 64] = 0xa77e000000000000UL | ((u64)i << 8) | j;
		int ok = 1;
		for (unsigned j = 0; j < 4; j++)
			ok &= p[j * 64] == (0xa77e000000000000UL | ((u64)i << 8) | j);
		/* and through the Normal-WB identity map */
		ok &= *(volatile u64 *)((u64)pages + i * G + 64 * 8) == (0xa77e000000000001UL | ((u64)i << 8));
		char name[48] = "write/read through ";
		memcpy(name + 19, maps[i].name, 14);
		check_bool(name, ok);
	}
	check("MAIR_EL1 still reads back exactly", read_sysreg(mair_el1), mair);
	finish(GUEST_NAME);
}
