/* Stage-1 table builder shared by the MMU guests (see mmu.h for the rules). */
#include "mmu.h"

void pt_init(struct pt *pt, unsigned gshift, void *pool, u64 pool_size)
{
	pt->gshift = gshift;
	/* 48-bit VA: levels resolve (48 - gshift) bits, (gshift - 3) per level
	 * (Arm ARM D8.2 "Translation process": initial lookup level). */
	unsigned bits = 48 - gshift, per = gshift - 3;
	unsigned levels = (bits + per - 1) / per;
	pt->start_level = 4 - levels;
	pt->pool = pool;
	pt->pool_size = pool_size;
	if ((u64)pool & ((1UL << gshift) - 1)) {
		printf("FAIL pt_init: pool %p not aligned to the granule\n", (u64)pool);
		exit(0xEF);
	}
	pt->root = (u64 *)pt->pool;
	pt->used = 1UL << gshift;
	memset(pt->root, 0, 1UL << gshift);
}

static u64 *pt_alloc(struct pt *pt)
{
	u64 g = 1UL << pt->gshift;
	if (pt->used + g > pt->pool_size) {
		printf("FAIL page-table pool exhausted (%lu bytes)\n", pt->pool_size);
		exit(0xEF);
	}
	u64 *t = (u64 *)(pt->pool + pt->used);
	pt->used += g;
	memset(t, 0, g);
	return t;
}

static unsigned pt_index(const struct pt *pt, u64 va, int level)
{
	unsigned shift = pt->gshift + (pt->gshift - 3) * (3 - level);
	u64 entries = 1UL << (pt->gshift - 3);
	/* Only VA[47:0] index the tables: TTBR1 addresses (0xffff...) use the
	 * same indexes, and the initial level has fewer entries (16K: 2, 64K: 64). */
	return ((va & ((1UL << 48) - 1)) >> shift) & (entries - 1);
}

static u64 oa_mask(const struct pt *pt)
{
	/* OA bits [47:gshift] (no 52-bit PA). */
	return ((1UL << 48) - 1) & ~((1UL << pt->gshift) - 1);
}

int pt_block_ok(const struct pt *pt, int level)
{
	/* Blocks: 4K granule at levels 1 (1 GB) and 2 (2 MB); 16K and 64K at
	 * level 2 only (level-1 blocks need 52-bit OAs: FEAT_LPA / LPA2). */
	if (level == 3)
		return 1;
	if (pt->gshift == 12)
		return level == 1 || level == 2;
	return level == 2;
}

static u64 *walk_create(struct pt *pt, u64 va, int level)
{
	u64 *table = pt->root;
	for (int l = pt->start_level; l < level; l++) {
		u64 *e = &table[pt_index(pt, va, l)];
		if (!(*e & PTE_VALID)) {
			u64 *next = pt_alloc(pt);
			*e = ((u64)next & oa_mask(pt)) | PTE_TABLE | PTE_VALID;
		} else if (!(*e & PTE_TABLE)) {
			printf("FAIL pt_map: va %p already covered by a block at level %d\n", va, l);
			exit(0xEF);
		}
		table = (u64 *)(*e & oa_mask(pt));
	}
	return &table[pt_index(pt, va, level)];
}

void pt_map(struct pt *pt, u64 va, u64 pa, u64 size, u64 prot, int level)
{
	u64 step = pt_level_size(pt, level);
	if (!pt_block_ok(pt, level) || (va | pa | size) & (step - 1)) {
		printf("FAIL pt_map: bad request va=%p pa=%p size=%p level=%d\n", va, pa, size, level);
		exit(0xEF);
	}
	u64 type = level == 3 ? (PTE_PAGE | PTE_VALID) : PTE_VALID;
	for (u64 off = 0; off < size; off += step)
		*walk_create(pt, va + off, level) = ((pa + off) & oa_mask(pt)) | prot | type;
}

void pt_map_auto(struct pt *pt, u64 va, u64 pa, u64 size, u64 prot, int min_level)
{
	u64 end = va + size;
	while (va < end) {
		int level = 3;
		for (int l = min_level; l < 3; l++) {
			u64 s = pt_level_size(pt, l);
			if (pt_block_ok(pt, l) && !((va | pa) & (s - 1)) && end - va >= s) {
				level = l;
				break;
			}
		}
		u64 s = pt_level_size(pt, level);
		pt_map(pt, va, pa, s, prot, level);
		va += s;
		pa += s;
	}
}

u64 *pt_slot(struct pt *pt, u64 va, int level)
{
	u64 *table = pt->root;
	for (int l = pt->start_level; l < level; l++) {
		u64 e = table[pt_index(pt, va, l)];
		if ((e & (PTE_VALID | PTE_TABLE)) != (PTE_VALID | PTE_TABLE))
			return 0;
		table = (u64 *)(e & oa_mask(pt));
	}
	return &table[pt_index(pt, va, level)];
}

void pt_identity_default(struct pt *pt)
{
	u64 g = 1UL << pt->gshift;
	pt_map(pt, UART0_BASE, UART0_BASE, g, PROT_DEVICE, 3);
	/* The first level-2 block of RAM (2 MB / 32 MB / 512 MB) holds the image:
	 * map it with level-3 pages so the walk really uses every level. */
	u64 first = pt_level_size(pt, 2), ram = 128UL << 20;
	if (first > ram)
		first = ram;
	pt_map(pt, RAM_BASE, RAM_BASE, first, PROT_KERNEL, 3);
	if (ram > first)
		pt_map_auto(pt, RAM_BASE + first, RAM_BASE + first, ram - first, PROT_KERNEL, 1);
}

u64 tcr_for(unsigned gshift)
{
	/* TCR_EL1 (Arm ARM, TCR_EL1 register description):
	 *   T0SZ[5:0] = T1SZ[21:16] = 16 (48-bit VA in each half);
	 *   IRGNn/ORGNn = 0b01 (Write-Back Read/Write-Allocate walks), SHn = 0b11 (Inner Shareable);
	 *   TG0[15:14]: 0b00 4K, 0b10 16K, 0b01 64K; TG1[31:30]: 0b10 4K, 0b01 16K, 0b11 64K;
	 *   IPS[34:32] = 0b010 (40-bit PA); A1 = 0 (ASID from TTBR0); AS = 0 (8-bit ASID). */
	u64 tg0 = gshift == 12 ? 0 : gshift == 14 ? 2 : 1;
	u64 tg1 = gshift == 12 ? 2 : gshift == 14 ? 1 : 3;
	return 16UL | (1UL << 8) | (1UL << 10) | (3UL << 12) | (tg0 << 14) |
	       (16UL << 16) | (1UL << 24) | (1UL << 26) | (3UL << 28) | (tg1 << 30) |
	       (2UL << 32);
}

void mmu_enable(u64 mair, u64 tcr, u64 ttbr0, u64 ttbr1)
{
	/* Emulators model no caches; on hardware the tables written with the
	 * MMU off would also need DC IVAC before the walker reads them. */
	dsb(ish);
	write_sysreg(mair, mair_el1);
	write_sysreg(tcr, tcr_el1);
	write_sysreg(ttbr0, ttbr0_el1);
	write_sysreg(ttbr1, ttbr1_el1);
	isb();
	__asm__ volatile("tlbi vmalle1\n dsb nsh\n isb" ::: "memory");
	u64 sctlr = read_sysreg(sctlr_el1);
	sctlr |= SCTLR_M | SCTLR_C | SCTLR_I | SCTLR_SPAN;
	sctlr &= ~(SCTLR_A | SCTLR_WXN);
	write_sysreg(sctlr, sctlr_el1);
	isb();
}
