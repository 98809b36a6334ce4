/* hello: the smallest guest. Prints a greeting and exits with status 0. */
#include "runtime.h"

int main(void)
{
	puts("Hello from hypemu guest!\n");
	printf("Running at EL%u, MMU off, loaded at %p.\n", current_el(), (u64)&main);
	return 0;
}
