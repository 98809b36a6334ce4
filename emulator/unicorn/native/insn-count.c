/*
 * hypemu's per-block instruction counter (issue 10).
 *
 * Why: uc_emu_start(..., count) makes Unicorn count instructions with a UC_HOOK_CODE hook on
 * every instruction: the generated code stores PC and calls a helper before each one (the
 * measured cost of a Linux boot's counting; ~660 MIPS against ~2.8 GIPS uncounted on a loop,
 * DESIGN.md). Here Unicorn runs uncounted (count 0) and a UC_HOOK_BLOCK callback counts a
 * whole translation block (TB) when it is entered: one helper call per block.
 *
 * Exact counts at every stop. A TB is straight-line: once entered at blk_start, the
 * instructions run in order until its end unless something leaves it early, and every way out
 * early leaves PC exact at the instruction that did not complete (QEMU restores it from the
 * host return address). So the instructions *started* so far, in the sense of Unicorn's own
 * counter (uc->emu_counter, which the run loop was written against: the instruction at PC is
 * counted as started), are
 *     blk_count + (PC - blk_start) / 4 + 1    while PC lies in the current block,
 *     count                                   once it has left it (the block ran to its end).
 * Where PC is not kept exact by QEMU inside a hook, it is made exact first:
 *   - in a TLB fill for a data access: QEMU's unicorn_fill_tlb gets the host return address
 *     into generated code (`retaddr`) as its 7th argument, which the x86-64 System V ABI passes
 *     on the stack just above the return address; our own fill hook (installed before the real
 *     one) finds it at a fixed distance from the `uc_tlb_entry *out` it is handed (a local of
 *     that same frame: the distance is calibrated and checked by effect at start-up,
 *     emulator/unicorn/uc.ts) and calls QEMU's cpu_restore_state, as QEMU's own fault path does;
 *   - in an MMIO callback: QEMU's io_readx/io_writex keep that return address in
 *     CPUState.mem_io_pc (offset calibrated the same way), hypemu_count_sync_io_pc restores;
 *   - in a fetch fill (translation of a new block): every earlier block ran to its end, `count`.
 *
 * Stopping at an exact count (the slice budget): when a block would cross the budget, the hook
 * sets CPUState.cflags_next_tb to the instructions left (QEMU's icount mechanism: the next TB
 * is translated with at most that many instructions, cached apart from the full one since the
 * count is part of QEMU's TB hash) and makes QEMU leave this block before its first instruction
 * (writing PC through uc_reg_write: Unicorn's quit_request, CPU loop resumed at PC). The short
 * block then ends exactly at the budget, and the hook of the block after it stops the CPU
 * (uc_emu_stop: the TB's start check leaves before it runs, PC = its address).
 *
 * A stop asked from inside a data access (fill or MMIO hook, `stop_next`) cannot end the block
 * mid-way: the block runs to its end and the next block's hook stops the CPU there, counting
 * exactly what ran (the run loop treats such stops as host points, not guest-visible ones).
 *
 * Built by scripts/setup.sh with the system cc into vendor/native/ (git-ignored); loaded only
 * by emulator/unicorn/ffi.ts. No Unicorn headers: the types are restated (Unicorn 2.1
 * include/unicorn/unicorn.h: uc_cb_hookcode_t, uc_cb_tlbevent_t, uc_tlb_entry; arm64.h:
 * UC_ARM64_REG_PC 260).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "block-count.h"

typedef struct {
	uint64_t paddr;
	uint32_t perms;
} uc_tlb_entry;

typedef int (*reg_rw_fn)(void *uc, int regid, void *value);
typedef int (*emu_stop_fn)(void *uc);
typedef bool (*restore_fn)(void *cpu, uintptr_t host_pc, bool will_exit);

enum { REG_PC = 260, UC_MEM_FETCH = 18 };

/* The public header first (block-count.h: TypeScript and uart-mmio.c read it), then private state. */
typedef struct {
	count_header h;
	/* private */
	void *uc;
	void *cpu;
	long cflags_off;    /* CPUState.cflags_next_tb */
	long io_pc_off;     /* CPUState.mem_io_pc */
	long retaddr_off;   /* from the fill hook's `out` to unicorn_fill_tlb's retaddr argument */
	uint32_t lazy;      /* the fill cache restores PC itself, only before it calls JavaScript (hypemu_count_set_lazy) */
	uintptr_t pending;  /* lazy: the data fill's retaddr, not restored yet (0: none) */
} hypemu_count;

static reg_rw_fn reg_write;
static emu_stop_fn emu_stop;
static restore_fn restore_state;

/* Resolve what we call in the libunicorn already loaded from `libpath` (RTLD_NOLOAD). 0: all found. */
int hypemu_count_init(const char *libpath)
{
	void *h = dlopen(libpath, RTLD_NOW | RTLD_NOLOAD);
	if (h == NULL)
		return -1;
	reg_write = (reg_rw_fn)dlsym(h, "uc_reg_write");
	emu_stop = (emu_stop_fn)dlsym(h, "uc_emu_stop");
	restore_state = (restore_fn)dlsym(h, "cpu_restore_state_aarch64");
	return reg_write && emu_stop && restore_state ? 0 : -2;
}

void *hypemu_count_new(void *uc, void *cpu_field_base, long cpu_off)
{
	hypemu_count *s = calloc(1, sizeof *s);
	if (s == NULL)
		return NULL;
	s->uc = uc;
	memcpy(&s->cpu, (char *)cpu_field_base + cpu_off, sizeof s->cpu);
	s->cflags_off = -1;
	s->io_pc_off = -1;
	s->retaddr_off = -1;
	return s;
}

uint32_t hypemu_count_header_size(void)
{
	return (uint32_t)offsetof(hypemu_count, uc);
}

/* Calibrated offsets (uc.ts); -1 leaves a feature off. */
void hypemu_count_set_offsets(void *p, long cflags_off, long io_pc_off, long retaddr_off)
{
	hypemu_count *s = p;
	s->cflags_off = cflags_off;
	s->io_pc_off = io_pc_off;
	s->retaddr_off = retaddr_off;
}

/* A new slice of at most `budget` instructions. */
void hypemu_count_begin(void *p, double budget)
{
	hypemu_count *s = p;
	s->h.count = 0;
	s->h.budget = (uint64_t)budget;
	s->h.blk_n = 0;
	s->h.flags = 0;
	if (s->cflags_off >= 0) {
		uint32_t none = 0xffffffffu; /* QEMU's "no request" (cpu_common_reset) */
		memcpy((char *)s->cpu + s->cflags_off, &none, 4);
	}
}

/*
 * Stop before the block at `addr` runs. PC is written here: Unicorn restores it from the block
 * only when no UC_HOOK_CODE exists (cpu_tb_exec in 2.1.1 assumes code hooks kept it exact), and
 * the write's quit_request makes it skip that restore in every case.
 */
static void stop_before(hypemu_count *s, void *uc, uint64_t addr)
{
	uint64_t pc = addr;
	reg_write(uc, REG_PC, &pc);
	emu_stop(uc);
	(void)s;
}

static void block_hook(void *uc, uint64_t addr, uint32_t size, void *ud)
{
	hypemu_count *s = ud;
	uint64_t n = size / 4;
	s->h.flags &= ~F_FETCH;
	if (s->h.flags & F_STOP_NEXT) {
		/* A data access asked to stop: the block before ran to its end, this one does not run. */
		s->h.blk_n = 0;
		stop_before(s, uc, addr);
		return;
	}
	if (s->h.count + n > s->h.budget) {
		/* Not entered: counted as the instruction at PC started (Unicorn's count hook convention). */
		s->h.blk_start = addr;
		s->h.blk_count = s->h.count;
		s->h.blk_n = (uint32_t)n;
		uint64_t left = s->h.budget - s->h.count;
		if (left == 0 || s->cflags_off < 0) {
			s->h.flags |= F_BUDGET;
			stop_before(s, uc, addr);
			return;
		}
		/* Leave before the first instruction, and translate the next block `left` long. */
		uint32_t cf = (uint32_t)left;
		memcpy((char *)s->cpu + s->cflags_off, &cf, 4);
		uint64_t pc = addr;
		reg_write(uc, REG_PC, &pc);
		s->h.splits++;
		return;
	}
	s->h.blocks++;
	s->h.blk_start = addr;
	s->h.blk_count = s->h.count;
	s->h.blk_n = (uint32_t)n;
	s->h.count += n;
}

void *hypemu_count_block_hook(void)
{
	return (void *)block_hook;
}

/*
 * Installed before the real fill hook: makes PC exact for a data fill (from the retaddr
 * argument, see the top) and notes a fetch fill. Returns false, which Unicorn takes as "not
 * answered here" when a later hook answers (unicorn_fill_tlb keeps the last hook's answer).
 */
static bool fill_pre_hook(void *uc, uint64_t vaddr, int type, uc_tlb_entry *out, void *ud)
{
	(void)uc;
	(void)vaddr;
	hypemu_count *s = ud;
	s->pending = 0;
	if (type == UC_MEM_FETCH) {
		s->h.flags |= F_FETCH;
		return false;
	}
	s->h.flags &= ~F_FETCH;
	if (s->retaddr_off < 0)
		return false;
	uintptr_t ra;
	memcpy(&ra, (char *)out + s->retaddr_off, sizeof ra);
	if (s->lazy) {
		s->pending = ra;
		return false;
	}
	if (ra != 0 && restore_state(s->cpu, ra, false))
		s->h.restores++;
	return false;
}

/*
 * Lazy PC restoration (issue 10): a Linux boot makes ~200k data fills, and the restoration above
 * (QEMU's cpu_restore_state: a search of every translation block by host address, then a decode
 * of the block's instruction table) was made for each, though most are answered by the native
 * fill cache (fill-cache.c), which does not read PC when it knows the fill's MMU index from
 * unicorn_fill_tlb's frame. With `lazy` set (by TypeScript, only where that fill cache is in
 * front of every fill hook that could read PC), this hook only notes the retaddr, and the fill
 * cache calls restore_pending before it reads PC or calls JavaScript.
 */
static void restore_pending(void *p)
{
	hypemu_count *s = p;
	uintptr_t ra = s->pending;
	s->pending = 0;
	if (ra != 0 && restore_state(s->cpu, ra, false))
		s->h.restores++;
}

void hypemu_count_set_lazy(void *p, int on)
{
	hypemu_count *s = p;
	s->lazy = on != 0;
	s->pending = 0;
}

/* restore_pending, for hypemu_fill_set_restore (fill-cache.c). */
void *hypemu_count_restore_fn(void)
{
	return (void *)restore_pending;
}

void *hypemu_count_fill_hook(void)
{
	return (void *)fill_pre_hook;
}

/* Inside an MMIO callback: PC exact from CPUState.mem_io_pc. Returns 1 when restored. */
int hypemu_count_sync_io_pc(void *p)
{
	hypemu_count *s = p;
	if (s->io_pc_off < 0)
		return 0;
	uintptr_t ra;
	memcpy(&ra, (char *)s->cpu + s->io_pc_off, sizeof ra);
	if (ra == 0 || !restore_state(s->cpu, ra, false))
		return 0;
	s->h.restores++;
	return 1;
}

/* Instructions started so far in this slice (see the top), PC being exact. */
double hypemu_count_started(void *p, double pc)
{
	hypemu_count *s = p;
	uint64_t v = (uint64_t)(int64_t)pc;
	if (count_in_block(&s->h, v))
		return (double)(s->h.blk_count + (v - s->h.blk_start) / 4 + 1);
	return (double)s->h.count;
}

/*
 * A hook moved PC while the CPU runs (an exception taken, an instruction skipped by leaving the
 * block): what the block would still have run does not; from here `count` is what started.
 */
void hypemu_count_settle(void *p, double pc)
{
	hypemu_count *s = p;
	s->h.count = (uint64_t)hypemu_count_started(p, pc);
	s->h.blk_n = 0;
	s->h.flags &= ~F_FETCH;
}

/* A data access asked to stop (see the top). */
void hypemu_count_stop_next(void *p)
{
	((hypemu_count *)p)->h.flags |= F_STOP_NEXT;
}

/* ---- calibration (uc.ts): candidates, each then checked by effect ---- */

/* CPUState.cflags_next_tb: QEMU 5's CPUState starts {int nr_cores, nr_threads; QemuThread *thread; 7 bools; uint32_t cflags_next_tb}. */
long hypemu_count_cflags_candidate(void *p)
{
	hypemu_count *s = p;
	uint32_t v;
	memcpy(&v, (char *)s->cpu + 24, 4);
	return v == 0xffffffffu ? 24 : -1;
}

/*
 * CPUState.mem_io_pc: 48 bytes before CPUState.uc (mem_io_pc, two 32-event trace bitmaps,
 * cpu_index, cluster_index, halted, can_do_io, exception_index, padding: QEMU 5
 * include/hw/core/cpu.h). CPUState.uc is the first word after the 32 KiB tb_jmp_cache that
 * points back to the uc_struct.
 */
long hypemu_count_io_pc_candidate(void *p)
{
	hypemu_count *s = p;
	for (long off = 4096 * 8; off < 65536; off += 8) {
		void *w;
		memcpy(&w, (char *)s->cpu + off, sizeof w);
		if (w == s->uc)
			return off - 48;
	}
	return -1;
}
