/*
 * tlbi-storm: TLBI_STORM_OPS (default 100,000) single-page invalidations,
 * `TLBI VALE1IS, Xt; DSB ISH; ISB` on consecutive pages, as Linux's ftrace
 * call-site patching through the fixmap does (Arm ARM C5.5 "A64 TLB
 * maintenance instructions"; D8.13 "TLB maintenance"). MMU off: the TLBI
 * still executes and, with HCR_EL2.TTLB clear, must not cost a world switch.
 * Prints "done" and exits 0.
 */
#include "runtime.h"

#ifndef TLBI_STORM_OPS
#define TLBI_STORM_OPS 100000
#endif

int main(void)
{
	for (u64 i = 0; i < TLBI_STORM_OPS; i++) {
		u64 arg = (0xffff000040000000ull + (i << 12)) >> 12 & 0xfffffffffffull;
		__asm__ volatile("tlbi vale1is, %0\n\tdsb ish\n\tisb" :: "r"(arg) : "memory");
	}
	printf("tlbi-storm: %u TLBI VALE1IS done\n", (u64)TLBI_STORM_OPS);
	return 0;
}
