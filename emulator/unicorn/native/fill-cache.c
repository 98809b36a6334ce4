/*
 * hypemu's native fill cache: a UC_HOOK_TLB_FILL callback in C in front of the JavaScript one
 * (issue 10: a Linux boot makes ~335k fill-hook calls, most of them Unicorn asking again for a
 * page it held and evicted (QEMU's TLB is small and resized by host time) or dropped in a
 * flush; each is a koffi round trip into JavaScript, a model-TLB lookup, the code guard and,
 * for a fetch, a 256-word scan of the code page).
 *
 * It makes no decision of its own. The JavaScript fill handler (emulator/cpu/fill-handler.ts)
 * stays the one authority: the walker, the model TLB and the code guard run there. When it
 * answers a fill and finds that answer safe to repeat (RAM, no shadow page, nothing else it
 * would do on a repeat: see fill-handler.ts), it writes the TLB entry's key (the signed VA of
 * the 1 KiB page + QEMU's MMU index: 0 EL0, 1 EL1, 2 EL1 with PAN) into `key`, and this file
 * records {key, fetch or data, paddr, perms}. A later fill of the same key, of the same kind
 * (fetch / data) and allowed by the recorded perms, is answered here with the same entry: what
 * the JavaScript handler would answer, with nothing else to do (it is the same TLB entry it
 * made, made again).
 *
 * The key needs QEMU's MMU index, which the hook is not told: it is derived from PSTATE (EL,
 * PAN) as the JavaScript handler derives it, and a data fill at EL1 whose PC is one of the
 * LDTR/STTR sites the code-page scan found (`sites`, mirrored from JavaScript) always goes to
 * JavaScript (its MMU index is EL0's).
 *
 * Everything recorded is dropped whenever Unicorn's TLB is flushed or the translation regime
 * may have changed (hypemu_fill_clear: a generation bump, O(1)), and page by page where
 * Unicorn's TLB is flushed page by page (hypemu_fill_drop_pages): it never outlives the TLB
 * entry it repeats. emulator/unicorn/uc.ts calls both from the same places it flushes.
 *
 * Built by scripts/setup.sh with the system cc into vendor/native/ (git-ignored); loaded only by
 * emulator/unicorn/ffi.ts, and optional: without it every fill goes to JavaScript, as before.
 * No Unicorn headers: the types are restated (Unicorn 2.1 include/unicorn/unicorn.h:
 * uc_cb_tlbfill_t, uc_tlb_entry; arm64.h: UC_ARM64_REG_PC 260, UC_ARM64_REG_PSTATE 265).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
	uint64_t paddr;
	uint32_t perms;
} uc_tlb_entry;

typedef bool (*fill_cb)(void *uc, uint64_t vaddr, int type, uc_tlb_entry *out, void *ud);
typedef int (*reg_read_fn)(void *uc, int regid, void *value);

enum { UC_MEM_FETCH = 18, UC_MEM_WRITE = 17 };
enum { UC_PROT_READ = 1, UC_PROT_WRITE = 2, UC_PROT_EXEC = 4 };
enum { REG_PC = 260, REG_PSTATE = 265, REG_TTBR0_EL1 = 274, REG_TTBR1_EL1 = 275 };
#define PSTATE_PAN (1u << 22)

#define TABLE_BITS 15
#define SITE_BITS 12

typedef struct {
	int64_t key;
	uint64_t paddr;
	uint32_t perms;
	uint32_t gen; /* valid when equal to the cache's gen; 0 never is */
	uint32_t fetch;
	uint32_t pad;
	uint64_t ttbr0, ttbr1; /* the address space it was made in */
} entry;

/* Layout shared with TypeScript (emulator/unicorn/uc.ts FillCache): keep in step. */
typedef struct {
	double key;         /*  0: written by JavaScript while answering: cache this answer under it; NaN: don't */
	uint32_t enabled;   /*  8: 0: every fill goes to JavaScript */
	uint32_t nsites;    /* 12: LDTR/STTR sites recorded */
	uint64_t hits;      /* 16: fills answered here */
	uint64_t misses;    /* 24: fills passed to JavaScript */
	uint64_t clears;    /* 32: hypemu_fill_clear calls */
	uint64_t pstate;    /* 40: PSTATE and PC when JavaScript is called (it reads them from here, not */
	uint64_t pc;        /* 48:   through two more FFI calls) */
	int32_t mmu_idx;    /* 56: QEMU's core MMU index of the fill being answered, from unicorn_fill_tlb's frame; -1: unknown */
	uint32_t siblings;  /* 60: written by JavaScript with `key`: bit j: record the same answer for 1 KiB page j of the
	                     *     fill's 4 KiB page too (paddr moved alike); 0: none. Reset before each call. */
	/* private */
	long idx_off;       /* where that index lies from `out` (hypemu_fill_set_idx_offset); 0: not known */
	void (*restore)(void *); /* insn-count.c's restore_pending, called before PC is read (hypemu_fill_set_restore) */
	void *restore_state;
	uint32_t gen;
	uint32_t site_overflow;
	fill_cb js;
	entry table[1u << TABLE_BITS];
	int64_t sites[1u << SITE_BITS]; /* open addressing; 0 = empty (a site VA is never 0 here: 0 is stored as 1) */
} hypemu_fill;

static reg_read_fn reg_read;

/* Resolve uc_reg_read in the libunicorn already loaded from `libpath` (RTLD_NOLOAD). 0: found. */
int hypemu_fill_init(const char *libpath)
{
	void *h = dlopen(libpath, RTLD_NOW | RTLD_NOLOAD);
	if (h == NULL)
		return -1;
	reg_read = (reg_read_fn)dlsym(h, "uc_reg_read");
	return reg_read == NULL ? -2 : 0;
}

static inline uint32_t slot_of(int64_t key, unsigned bits)
{
	return (uint32_t)(((uint64_t)key * 0x9e3779b97f4a7c15ull) >> (64 - bits));
}

/*
 * The table slot of a key: the four 1 KiB pages of a 4 KiB page (and MMU index) take four adjacent
 * slots, so recording a fill with its siblings (record) writes three adjacent cache lines, not
 * four random ones (1.5 MiB table).
 */
static inline uint32_t table_slot(int64_t key)
{
	uint64_t k = (uint64_t)key;
	uint32_t h = slot_of((int64_t)((k >> 12) * 4 + (k & 3)), TABLE_BITS - 2);
	return (h << 2) | (uint32_t)((k >> 10) & 3);
}

static bool is_site(const hypemu_fill *f, int64_t pc)
{
	if (f->site_overflow)
		return true; /* too many to mirror: every EL1 data fill asks JavaScript */
	int64_t k = pc == 0 ? 1 : pc;
	for (uint32_t i = slot_of(k, SITE_BITS);; i = (i + 1) & ((1u << SITE_BITS) - 1)) {
		if (f->sites[i] == k)
			return true;
		if (f->sites[i] == 0)
			return false;
	}
}

/*
 * QEMU's core MMU index (Unicorn 2.1 / QEMU 5.0 target/arm ARMMMUIdx: E10_0 0, E20_0 1, E10_1 2,
 * E10_1_PAN 3; Secure SE10_0 7, SE10_1 8, SE10_1_PAN 9, where a bare Unicorn starts) as this
 * cache's key offset (0 EL0, 1 EL1, 2 EL1 with PAN: what the fill handler derives from PSTATE and
 * the instruction), or -1 for any other (always to JavaScript).
 */
static int key_of_idx(int idx)
{
	switch (idx) {
	case 0: case 7: return 0;
	case 2: case 8: return 1;
	case 3: case 9: return 2;
	default: return -1;
	}
}

/*
 * Record JavaScript's answer `out` for `vaddr` under f->key, and, for each bit j of f->siblings, the
 * same answer for 1 KiB page j of the same 4 KiB page (its paddr moved alike): the handler ran the
 * code guard for those entries as if each had been filled (fill-handler.ts), so a later fill of
 * one is what it would answer. Unicorn's TLB is flushed by 1 KiB page only in whole 4 KiB pages
 * (hypemu_fill_drop_pages' callers), and whole otherwise, so a sibling never outlives its page.
 */
static void record(hypemu_fill *f, void *uc, uint64_t vaddr, bool fetch, const uc_tlb_entry *out)
{
	int64_t key = (int64_t)f->key;
	uint64_t ttbr0 = 0, ttbr1 = 0;
	reg_read(uc, REG_TTBR0_EL1, &ttbr0);
	reg_read(uc, REG_TTBR1_EL1, &ttbr1);
	uint32_t sib = f->siblings & 0xf;
	uint32_t own = (uint32_t)(vaddr >> 10) & 3;
	sib |= 1u << own;
	for (uint32_t j = 0; j < 4; j++) {
		if ((sib & (1u << j)) == 0)
			continue;
		int64_t delta = ((int64_t)j - (int64_t)own) * 0x400;
		entry *e = &f->table[table_slot(key + delta)];
		e->ttbr0 = ttbr0;
		e->ttbr1 = ttbr1;
		e->key = key + delta;
		e->paddr = out->paddr + (uint64_t)delta;
		e->perms = out->perms;
		e->fetch = fetch;
		e->gen = f->gen;
	}
}

/* A cached answer for `key` (VA + MMU-index key) under the live TTBRs that allows this access: copied to `out`. */
static inline bool hit(hypemu_fill *f, int64_t key, int type, uint64_t ttbr0, uint64_t ttbr1, uc_tlb_entry *out)
{
	bool fetch = type == UC_MEM_FETCH;
	const entry *e = &f->table[table_slot(key)];
	uint32_t need = fetch ? UC_PROT_EXEC : type == UC_MEM_WRITE ? UC_PROT_WRITE : UC_PROT_READ;
	if (e->gen == f->gen && e->key == key && e->ttbr0 == ttbr0 && e->ttbr1 == ttbr1 && e->fetch == (uint32_t)fetch &&
	    (e->perms & need) != 0) {
		out->paddr = e->paddr;
		out->perms = e->perms;
		f->hits++;
		return true;
	}
	return false;
}

/* A miss: the JavaScript fill decides, and its answer is recorded when it set a key (f->key). */
static bool miss(hypemu_fill *f, void *uc, uint64_t vaddr, int type, uc_tlb_entry *out, uint64_t pstate, uint64_t pc)
{
	f->misses++;
	f->key = NAN;
	f->siblings = 0;
	f->pstate = pstate;
	f->pc = pc;
	bool ok = f->js(uc, vaddr, type, out, NULL);
	/* Enabled again by the handler once it has seen the regime (emulator/cpu/mmu-translator.ts). */
	if (ok && !isnan(f->key) && f->enabled)
		record(f, uc, vaddr, type == UC_MEM_FETCH, out);
	f->key = NAN;
	f->siblings = 0;
	return ok;
}

/* The fill hook with the MMU index known (idx_off): no PSTATE, PC or LDTR/STTR site needed for a hit. */
static bool fill_hook_idx(hypemu_fill *f, void *uc, uint64_t vaddr, int type, uc_tlb_entry *out)
{
	int32_t idx;
	memcpy(&idx, (char *)out + f->idx_off, sizeof idx);
	f->mmu_idx = idx;
	uint64_t ttbr0 = 0, ttbr1 = 0;
	int k = key_of_idx(idx);
	if (f->enabled && k >= 0) {
		reg_read(uc, REG_TTBR0_EL1, &ttbr0);
		reg_read(uc, REG_TTBR1_EL1, &ttbr1);
		if (hit(f, (int64_t)vaddr + k, type, ttbr0, ttbr1, out))
			return true;
	}
	if (f->restore != NULL)
		f->restore(f->restore_state);
	uint64_t pstate = 0, pc = 0;
	reg_read(uc, REG_PSTATE, &pstate);
	reg_read(uc, REG_PC, &pc);
	return miss(f, uc, vaddr, type, out, pstate, pc);
}

static bool fill_hook(void *uc, uint64_t vaddr, int type, uc_tlb_entry *out, void *ud)
{
	hypemu_fill *f = ud;
	if (f->idx_off != 0)
		return fill_hook_idx(f, uc, vaddr, type, out);
	uint64_t pstate = 0, pc = 0, ttbr0 = 0, ttbr1 = 0;
	reg_read(uc, REG_PSTATE, &pstate);
	reg_read(uc, REG_PC, &pc);
	if (f->enabled) {
		unsigned el = (pstate >> 2) & 3;
		bool fetch = type == UC_MEM_FETCH;
		reg_read(uc, REG_TTBR0_EL1, &ttbr0);
		reg_read(uc, REG_TTBR1_EL1, &ttbr1);
		if (el == 0 || fetch || f->nsites == 0 || !is_site(f, (int64_t)pc)) {
			int64_t key = (int64_t)vaddr + (el == 0 ? 0 : (pstate & PSTATE_PAN) ? 2 : 1);
			if (hit(f, key, type, ttbr0, ttbr1, out))
				return true;
		}
	}
	return miss(f, uc, vaddr, type, out, pstate, pc);
}

/* A cache in front of `js` (the koffi-registered fill callback). Never freed (lives as long as the hook). */
void *hypemu_fill_new(fill_cb js)
{
	hypemu_fill *f = calloc(1, sizeof *f);
	if (f) {
		f->js = js;
		f->gen = 1;
		f->key = NAN;
		f->mmu_idx = -1;
	}
	return f;
}

/*
 * Read the fill's MMU index at `off` bytes from `out` (calibrated and checked by effect in
 * emulator/unicorn/uc.ts: Debian's 2.1.1 unicorn_fill_tlb spills its mmu_idx argument just below
 * its uc_tlb_entry); 0 turns it off. With it, a hit needs no PC, PSTATE or site check.
 */
void hypemu_fill_set_idx_offset(void *p, long off)
{
	((hypemu_fill *)p)->idx_off = off;
}

/* Call `fn(state)` before PC is read or JavaScript called (insn-count.c's lazy restoration); NULL: never. */
void hypemu_fill_set_restore(void *p, void *fn, void *state)
{
	hypemu_fill *f = p;
	f->restore = (void (*)(void *))fn;
	f->restore_state = state;
}

/* The callback to pass to uc_hook_add(UC_HOOK_TLB_FILL), with the cache as user data. */
void *hypemu_fill_hook(void)
{
	return (void *)fill_hook;
}

/* Bytes of the shared header (TypeScript makes one view of it). */
uint32_t hypemu_fill_header_size(void)
{
	return (uint32_t)offsetof(hypemu_fill, idx_off);
}

/* Forget everything recorded. */
void hypemu_fill_clear(void *p)
{
	hypemu_fill *f = p;
	f->clears++;
	if (++f->gen == 0) {
		for (size_t i = 0; i < (1u << TABLE_BITS); i++)
			f->table[i].gen = 0;
		f->gen = 1;
	}
}

/* Forget the 1 KiB pages at vas[0..n) (signed VAs as doubles), every MMU index. */
void hypemu_fill_drop_pages(void *p, const double *vas, int n)
{
	hypemu_fill *f = p;
	for (int i = 0; i < n; i++) {
		for (int idx = 0; idx < 3; idx++) {
			int64_t key = (int64_t)vas[i] + idx;
			entry *e = &f->table[table_slot(key)];
			if (e->key == key)
				e->gen = 0;
		}
	}
}

/*
 * The guest PA of `va` (any byte) as the entry recorded for its 1 KiB page at the current EL
 * (PSTATE's EL and PAN, as fill_hook keys it; any kind) answers, into *pa: 0, or -1 when none is
 * recorded (or the cache is off: the regime may have changed). For the IC IVAU gate
 * (tlb-flush.c): an answer recorded here is what the fill handler answered for that TLB entry,
 * and it never outlives the entry. Reads registers only; no callback.
 */
int hypemu_fill_lookup(void *p, void *uc, uint64_t va, uint64_t *pa)
{
	hypemu_fill *f = p;
	if (!f->enabled)
		return -1;
	uint64_t pstate = 0, ttbr0 = 0, ttbr1 = 0;
	reg_read(uc, REG_PSTATE, &pstate);
	reg_read(uc, REG_TTBR0_EL1, &ttbr0);
	reg_read(uc, REG_TTBR1_EL1, &ttbr1);
	unsigned el = (pstate >> 2) & 3;
	int64_t key = (int64_t)(va & ~(uint64_t)0x3ff) + (el == 0 ? 0 : (pstate & PSTATE_PAN) ? 2 : 1);
	const entry *e = &f->table[table_slot(key)];
	if (e->gen != f->gen || e->key != key || e->ttbr0 != ttbr0 || e->ttbr1 != ttbr1)
		return -1;
	*pa = e->paddr + (va & 0x3ff);
	return 0;
}

/* An LDTR/STTR-family instruction at `va` (the code-page scan found it): EL1 data fills there go to JavaScript. */
void hypemu_fill_add_site(void *p, double va)
{
	hypemu_fill *f = p;
	int64_t k = (int64_t)va == 0 ? 1 : (int64_t)va;
	if (f->nsites >= (1u << SITE_BITS) / 2) {
		f->site_overflow = 1;
		f->nsites++;
		return;
	}
	for (uint32_t i = slot_of(k, SITE_BITS);; i = (i + 1) & ((1u << SITE_BITS) - 1)) {
		if (f->sites[i] == k)
			return;
		if (f->sites[i] == 0) {
			f->sites[i] = k;
			f->nsites++;
			return;
		}
	}
}
