/*
 * hypemu's native console window: the uc_mmio_map read/write callbacks over the PL011's page
 * (issue 10: a console at 10 MB/s is ~100 ns per byte, and a JavaScript round trip per UART
 * access costs more than that on its own).
 *
 * It answers two accesses itself, and only while TypeScript says it may (the `flags` word,
 * written from the device model's state: emulator/devices/pl011.ts stays the one owner of PL011
 * semantics, this file only caches two of its answers):
 *  - a write of UARTDR (offset 0) appends the byte to a ring, the coalesced-MMIO ring of
 *    KVM_REGISTER_COALESCED_MMIO (virt/kvm/coalesced_mmio.c); the ring is handed to JavaScript
 *    (`flush`) when full, before any other access, and at a newline while someone reads the
 *    console line by line (FLAG_NL);
 *  - a read of UARTFR (offset 0x18) returns the cached flags (the transmit FIFO is never full).
 * Every other access calls `slow`, which drains the ring and performs it on the device model.
 *
 * Built by scripts/setup.sh with the system cc into vendor/native/ (git-ignored); loaded only by
 * emulator/unicorn/ffi.ts, and optional: without it every UART access is an exit, as before.
 * No Unicorn headers: the callback types are restated (Unicorn 2.1 include/unicorn/unicorn.h,
 * uc_cb_mmio_read_t / uc_cb_mmio_write_t).
 */
#include <stdint.h>
#include <stdlib.h>

typedef uint64_t (*slow_cb)(uint64_t offset, uint32_t size, uint32_t write, uint64_t value);
typedef void (*flush_cb)(void);

enum { FLAG_TX = 1, FLAG_FR = 2, FLAG_NL = 4 };
enum { UARTDR = 0x000, UARTFR = 0x018 };
#define RING 4096

/* Layout shared with TypeScript (emulator/unicorn/uc.ts NativeUart): keep in step. */
typedef struct {
	uint32_t flags;  /*  0: FLAG_TX | FLAG_FR | FLAG_NL (flush at a newline), written by TypeScript */
	uint32_t fr;     /*  4: UARTFR value while FLAG_FR */
	uint32_t len;    /*  8: bytes in ring */
	uint32_t cap;    /* 12: flush when len reaches it (<= RING) */
	uint64_t writes; /* 16: UARTDR writes completed here */
	uint64_t reads;  /* 24: UARTFR reads completed here */
	slow_cb slow;    /* 32 */
	flush_cb flush;  /* 40 */
	uint8_t ring[RING]; /* 48 */
} hypemu_uart;

static uint64_t uart_read(void *uc, uint64_t offset, unsigned size, void *ud)
{
	hypemu_uart *u = ud;
	(void)uc;
	if (offset == UARTFR && (u->flags & FLAG_FR)) {
		u->reads++;
		return size >= 4 ? u->fr : u->fr & ((1u << (size * 8)) - 1);
	}
	return u->slow(offset, size, 0, 0);
}

static void uart_write(void *uc, uint64_t offset, unsigned size, uint64_t value, void *ud)
{
	hypemu_uart *u = ud;
	(void)uc;
	if (offset == UARTDR && (u->flags & FLAG_TX)) {
		uint8_t b = (uint8_t)value;
		u->ring[u->len++] = b;
		u->writes++;
		if ((b == '\n' && (u->flags & FLAG_NL)) || u->len >= u->cap)
			u->flush();
		return;
	}
	u->slow(offset, size, 1, value);
}

/* A console window; slow and flush are koffi-registered callbacks. Never freed (lives as long as the mapping). */
void *hypemu_uart_new(slow_cb slow, flush_cb flush)
{
	hypemu_uart *u = calloc(1, sizeof *u);
	if (u) {
		u->slow = slow;
		u->flush = flush;
		u->cap = RING;
	}
	return u;
}

/* The callbacks to pass to uc_mmio_map, with the window as both user data. */
void *hypemu_uart_read_cb(void)
{
	return (void *)uart_read;
}

void *hypemu_uart_write_cb(void)
{
	return (void *)uart_write;
}

/* Bytes of the shared struct up to the end of the ring (TypeScript makes one view of it). */
uint32_t hypemu_uart_size(void)
{
	return (uint32_t)sizeof(hypemu_uart);
}
