/*
 * counter-poll: busy-waits COUNTER_POLL_MS (default 100) milliseconds of
 * virtual time on CNTVCT_EL0, as Linux's __delay and kvm-unit-tests' mdelay
 * do (Arm ARM D11.1.2: the counter, CNTFRQ_EL0 ticks per second), then prints
 * how many ticks passed and how many reads it took, and exits 0 when the wait
 * lasted at least the asked time. A benchmark of the counter read path.
 */
#include "runtime.h"

#ifndef COUNTER_POLL_MS
#define COUNTER_POLL_MS 100
#endif

int main(void)
{
	u64 freq = read_sysreg(cntfrq_el0);
	u64 ticks = freq / 1000 * COUNTER_POLL_MS;
	isb();
	u64 start = read_sysreg(cntvct_el0);
	u64 now, reads = 0;
	do {
		now = read_sysreg(cntvct_el0);
		reads++;
	} while (now - start < ticks);
	printf("waited %u ticks (%u ms at %u Hz) in %u counter reads\n", now - start, (now - start) * 1000 / freq, freq, reads);
	if (now - start < ticks) {
		puts("FAIL counter-poll: the wait ended early\n");
		return 1;
	}
	puts("PASS counter-poll\n");
	return 0;
}
