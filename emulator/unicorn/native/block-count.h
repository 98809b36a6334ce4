/*
 * The per-block instruction counter's public header (native/insn-count.c owns the counter):
 * the first fields of its state, read by emulator/unicorn/block-count.ts through a koffi view
 * (its offsets are kept in step with the comments below by hand) and by native/uart-mmio.c,
 * which restarts a console access as a one-instruction block. One definition for both C files.
 */
#ifndef HYPEMU_BLOCK_COUNT_H
#define HYPEMU_BLOCK_COUNT_H

#include <stdbool.h>
#include <stdint.h>

typedef struct {
	uint64_t count;     /*  0: instructions of the blocks entered in this slice (each counted whole) */
	uint64_t budget;    /*  8: stop before the instruction that would exceed it */
	uint64_t blk_start; /* 16: the block entered last (its PC), */
	uint64_t blk_count; /* 24:   `count` before it, */
	uint32_t blk_n;     /* 32:   its instructions (0: none: PC is past every block entered) */
	uint32_t flags;     /* 36 */
	uint64_t blocks;    /* 40: statistics: blocks entered, */
	uint64_t splits;    /* 48:   budget splits (short blocks asked for), */
	uint64_t restores;  /* 56:   PC restorations (fill and MMIO) */
} count_header;

/* flags */
#define F_FETCH 1u     /* inside a fetch fill: every block entered so far has ended */
#define F_STOP_NEXT 2u /* a data access asked to stop: stop at the next block */
#define F_BUDGET 4u    /* the CPU stopped because the budget was reached */

/* Is `pc` (exact) inside the block entered last, so that it has started but not completed? */
static inline bool count_in_block(const count_header *h, uint64_t pc)
{
	return !(h->flags & F_FETCH) && h->blk_n != 0 && pc - h->blk_start < (uint64_t)h->blk_n * 4;
}

#endif
