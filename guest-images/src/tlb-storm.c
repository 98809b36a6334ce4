/*
 * tlb-storm: the cost of a TLB fill. Builds 4-level 4 KB stage-1 tables
 * that map TLB_STORM_PAGES pages (default 16384 = 64 MiB) of RAM at
 * 0x4400_0000 with level-3 page descriptors, turns the MMU on, writes one
 * word in each page (its page number: one setup pass), then runs
 * TLB_STORM_ROUNDS rounds (default 32; make TLB_STORM_ROUNDS=...) of:
 * load one word from each of the pages, then TLBI VMALLE1; DSB NSH; ISB.
 * After the TLBI every touch of the next round misses every TLB (the
 * emulator's and, under hypemu, the MMU model's), so each is a fresh fill
 * with a full walk: stage 1 (4 levels) and, under hypemu, stage 2.
 * The sum of the loaded words checks every translation (identity map),
 * then it prints a done line and exits 0.
 *
 * The setup pass also ends with the TLBI, so round 1 misses too.
 *
 * The bench (bench/bench.mjs) also builds this guest with
 * TLB_STORM_ROUNDS=0 as the baseline (same tables, MMU, setup pass, no
 * rounds) and with TLB_STORM_NO_TLBI (same rounds, no invalidation: what a
 * touch costs when the translation is still cached).
 */
#include "mmu.h"

#ifndef TLB_STORM_PAGES
#define TLB_STORM_PAGES 16384
#endif
#ifndef TLB_STORM_ROUNDS
#define TLB_STORM_ROUNDS 32
#endif

#define TOUCH_BASE (RAM_BASE + (64UL << 20))
#define PAGE 4096UL

/* L0 + L1 + L2 + L3 for the first 2 MiB of RAM (image), L2 + L3 for the UART,
 * one L3 per 2 MiB of touched pages, spare. */
#define POOL_PAGES (8 + TLB_STORM_PAGES / 512)
static u8 pool[POOL_PAGES * PAGE] __attribute__((aligned(4096)));
static struct pt pt;

/* Ends the setup pass and every round: the next touches all miss. With
 * TLB_STORM_NO_TLBI (a bench diagnostic) nothing is invalidated. */
static inline void tlbi_round(void)
{
#ifndef TLB_STORM_NO_TLBI
	__asm__ volatile("tlbi vmalle1\n dsb nsh\n isb" ::: "memory");
#endif
}

int main(void)
{
	const u64 n = TLB_STORM_PAGES, rounds = TLB_STORM_ROUNDS;

	pt_init(&pt, 12, pool, sizeof pool);
	pt_map(&pt, UART0_BASE, UART0_BASE, PAGE, PROT_DEVICE, 3);
	/* The image, .bss (the table pool) and the stack: the first 2 MiB of RAM, pages. */
	pt_map(&pt, RAM_BASE, RAM_BASE, 2UL << 20, PROT_KERNEL, 3);
	/* The touched region: level-3 pages, so every fill is a 4-level walk. */
	pt_map(&pt, TOUCH_BASE, TOUCH_BASE, n * PAGE, PROT_KERNEL, 3);
	mmu_enable(DEFAULT_MAIR, tcr_for(12) | (1UL << 23) /* EPD1 */, (u64)pt.root, 0);
	printf("tlb-storm: MMU on (4 KB granule, 4 levels, %lu table pages), %lu pages x %lu rounds\n",
	       pt.used / PAGE, n, rounds);

	for (u64 i = 0; i < n; i++)
		*(volatile u64 *)(TOUCH_BASE + i * PAGE) = i;
	tlbi_round();

	u64 sum = 0;
	for (u64 r = 0; r < rounds; r++) {
		for (u64 i = 0; i < n; i++)
			sum += *(volatile u64 *)(TOUCH_BASE + i * PAGE);
		tlbi_round();
	}

	u64 want = rounds * (n * (n - 1) / 2);
	if (sum != want) {
		printf("FAIL tlb-storm: sum %lu, expected %lu\n", sum, want);
		return 1;
	}
	printf("PASS tlb-storm: %lu touches, every translation checked\n", n * rounds);
	printf("done (%lu TLB-missing touches)\n", n * rounds);
	return 0;
}
