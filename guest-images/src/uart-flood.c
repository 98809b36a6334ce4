/*
 * uart-flood: writes UART_FLOOD_BYTES (default 4 MiB) to the PL011 through
 * the runtime's putc (poll UARTFR.TXFF, then write UARTDR: what Linux's
 * pl011 console does per character), 63 printable bytes and a newline per
 * line, then exits 0. A benchmark of the console path: compare with
 * `qemu-system-aarch64 -M virt -serial stdio` (or -nographic).
 */
#include "runtime.h"

#ifndef UART_FLOOD_BYTES
#define UART_FLOOD_BYTES (4u << 20)
#endif

int main(void)
{
	for (u32 i = 0; i < UART_FLOOD_BYTES; i++)
		putc((i & 63) == 63 ? '\n' : (char)('!' + (i % 63)));
	return 0;
}
