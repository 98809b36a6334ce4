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
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "block-count.h" /* the per-block counter's public header */

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
	uint32_t block_slice; /* 48 + RING: 1 while the slice counts per block (written by TypeScript) */
	uint32_t recompiles;  /* statistics: slow accesses restarted alone */
	/* private: hypemu_uart_set_recompile */
	void *uc;
	void *cpu;
	long cflags_off; /* CPUState.cflags_next_tb */
	long io_pc_off;  /* CPUState.mem_io_pc */
	void *count;     /* the per-block counter (native/insn-count.c), its public header below */
} hypemu_uart;

typedef bool (*restore_fn)(void *cpu, uintptr_t host_pc, bool will_exit);
typedef int (*reg_read_fn)(void *uc, int regid, void *value);
typedef void (*loop_exit_fn)(void *cpu);
static restore_fn restore_state;
static reg_read_fn reg_read;
static loop_exit_fn loop_exit_noexc;
enum { REG_PC = 260 };

/* QEMU's functions in the libunicorn already loaded from `libpath` (RTLD_NOLOAD). 0: all found. */
int hypemu_uart_recompile_init(const char *libpath)
{
	void *h = dlopen(libpath, RTLD_NOW | RTLD_NOLOAD);
	if (h == NULL)
		return -1;
	restore_state = (restore_fn)dlsym(h, "cpu_restore_state_aarch64");
	reg_read = (reg_read_fn)dlsym(h, "uc_reg_read");
	loop_exit_noexc = (loop_exit_fn)dlsym(h, "cpu_loop_exit_noexc_aarch64");
	return restore_state && reg_read && loop_exit_noexc ? 0 : -2;
}

/*
 * Every access `slow` performs may move the UART's interrupt line (a DR write that sets TXRIS,
 * an RX read that clears RXRIS, IMSC, ICR), and the vCPU must take an interrupt right after that
 * instruction, as after an exit (issue 13). A stop asked from inside an access only takes effect
 * at the next block (native/insn-count.c), so the access must be the only instruction of its
 * block: QEMU's cpu_io_recompile (accel/tcg/translate-all.c), called before the access is made.
 * Unless the block being run is this instruction alone: PC is made exact (CPUState.mem_io_pc),
 * the instruction is un-counted (it has not run), the next block is translated one instruction
 * long (cflags_next_tb = 1, as the counter's budget split does) and QEMU leaves the block at once
 * (cpu_loop_exit_noexc: a longjmp to its CPU loop; no koffi frame lies in between). Run again
 * alone, the access comes back here and is performed. Only while the slice counts per block
 * (block_slice): Unicorn's per-instruction count hook would count the instruction twice.
 */
static void io_recompile(hypemu_uart *u)
{
	if (!u->block_slice || u->count == NULL || loop_exit_noexc == NULL)
		return;
	uintptr_t ra;
	memcpy(&ra, (char *)u->cpu + u->io_pc_off, sizeof ra);
	if (ra == 0 || !restore_state(u->cpu, ra, false))
		return;
	count_header *c = u->count;
	uint64_t pc = 0;
	reg_read(u->uc, REG_PC, &pc);
	if (!count_in_block(c, pc) || (c->blk_n == 1 && c->blk_start == pc))
		return;
	/* Started before this instruction (insn-count.c hypemu_count_started, minus this one). */
	c->count = c->blk_count + (pc - c->blk_start) / 4;
	c->blk_n = 0;
	u->recompiles++;
	uint32_t one = 1;
	memcpy((char *)u->cpu + u->cflags_off, &one, 4);
	loop_exit_noexc(u->cpu);
}

static uint64_t slow_access(hypemu_uart *u, uint64_t offset, unsigned size, uint32_t write, uint64_t value)
{
	io_recompile(u);
	return u->slow(offset, size, write, value);
}

static uint64_t uart_read(void *uc, uint64_t offset, unsigned size, void *ud)
{
	hypemu_uart *u = ud;
	(void)uc;
	if (offset == UARTFR && (u->flags & FLAG_FR)) {
		u->reads++;
		return size >= 4 ? u->fr : u->fr & ((1u << (size * 8)) - 1);
	}
	return slow_access(u, offset, size, 0, 0);
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
	slow_access(u, offset, size, 1, value);
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

/*
 * Restart each slow access as a one-instruction block first (io_recompile): the engine, where
 * uc_struct keeps its CPUState pointer, the calibrated CPUState offsets the per-block counter
 * uses, and that counter (its header). After hypemu_uart_recompile_init returned 0.
 */
void hypemu_uart_set_recompile(void *p, void *uc, long cpu_off, long cflags_off, long io_pc_off, void *count)
{
	hypemu_uart *u = p;
	u->uc = uc;
	memcpy(&u->cpu, (char *)uc + cpu_off, sizeof u->cpu);
	u->cflags_off = cflags_off;
	u->io_pc_off = io_pc_off;
	u->count = count;
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
