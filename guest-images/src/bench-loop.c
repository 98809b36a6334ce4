/*
 * bench-loop / bench-loop-mmu: a compute-bound loop at EL1, for timing.
 * BENCH_ITERS iterations (default 600,000,000; make BENCH_ITERS=...) of a
 * 3-instruction body (add, cmp, b.ne), so 3 x BENCH_ITERS instructions.
 * bench-loop-mmu (WITH_MMU) first turns on the stage-1 MMU with 4-level
 * 4 KB tables (the image is mapped with level-3 pages).
 */
#include "mmu.h"

#ifndef BENCH_ITERS
#define BENCH_ITERS 600000000
#endif

#ifdef WITH_MMU
static u8 pool[8 * 4096] __attribute__((aligned(4096)));
static struct pt pt;
#endif

int main(void)
{
#ifdef WITH_MMU
	pt_init(&pt, 12, pool, sizeof pool);
	pt_identity_default(&pt);
	mmu_enable(DEFAULT_MAIR, tcr_for(12) | (1UL << 23) /* EPD1 */, (u64)pt.root, 0);
	puts("bench-loop-mmu: stage-1 MMU on (4 KB granule, 4 levels)\n");
#endif
	printf("bench-loop: %lu iterations of add/cmp/b.ne at EL1\n", (u64)BENCH_ITERS);
	u64 i, n = BENCH_ITERS;
	__asm__ volatile("mov %0, #0\n"
			 "1: add %0, %0, #1\n"
			 "cmp %0, %1\n"
			 "b.ne 1b"
			 : "=&r"(i) : "r"(n) : "cc");
	printf("done (%lu iterations)\n", i);
	return 0;
}
