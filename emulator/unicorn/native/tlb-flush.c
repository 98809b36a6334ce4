/*
 * hypemu's page-granular flush of Unicorn's TLB (issue 10).
 *
 * Why: QEMU's own TLBI by VA drops one TARGET_PAGE (1 KiB on Unicorn's arm64)
 * at the VA, not the whole 4/16/64 KiB granule, and Unicorn 2.1's public API
 * can only flush the whole TLB (uc_ctl UC_CTL_TLB_FLUSH). A Linux boot executes
 * ~43k TLBI by VA (ftrace patching text through the fixmap), and a whole flush
 * after each one costs ~29 refills through the fill hook (1.25M fills).
 *
 * How: QEMU's tlb_flush_page(CPUState *, addr) (synchronous in Unicorn: its
 * tlb_flush_page_by_mmuidx runs the flush on the calling thread) is exported
 * by libunicorn as tlb_flush_page_aarch64. It needs the CPUState, which is
 * uc_struct's `cpu` field; its offset is private, so it is *found*, never
 * assumed: hypemu_tlb_locate_cpu looks, among the words of uc_struct, for a
 * pointer to a block that holds two marker values the caller wrote to X0 and
 * X1 (CPUARMState.xregs[0..1], inside ARMCPU after CPUState) and, before them,
 * a pointer back to the uc_struct (CPUState.uc). Every read of memory that is
 * not known to be ours goes through process_vm_readv, which reports a bad
 * address instead of faulting. The caller runs it twice with different
 * markers and uses the result only when both agree; otherwise it keeps the
 * whole-TLB flush.
 *
 * Built by scripts/setup.sh with the system cc into vendor/native/ (git-ignored);
 * loaded only by emulator/unicorn/ffi.ts.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <stddef.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

typedef void (*flush_page_fn)(void *cpu, uint64_t addr);
typedef void (*flush_page_idx_fn)(void *cpu, uint64_t addr, uint16_t idxmap);

static flush_page_fn flush_page;
static flush_page_idx_fn flush_page_idx;
/* The libunicorn koffi loaded (hypemu_tlb_init): every other symbol here is looked up in it. */
static void *unicorn;

/*
 * Copy up to n bytes at addr into out; returns how many could be read: a bad address ends the
 * copy instead of faulting. Read in 4 KiB pieces, because process_vm_readv transfers partially
 * only at iovec granularity.
 */
#define PIECE 4096
static size_t safe_read(const void *addr, void *out, size_t n)
{
	struct iovec local = { out, n };
	struct iovec remote[16];
	size_t k = 0;
	for (size_t off = 0; off < n && k < 16; off += PIECE, k++) {
		remote[k].iov_base = (char *)addr + off;
		remote[k].iov_len = n - off < PIECE ? n - off : PIECE;
	}
	ssize_t r = process_vm_readv(getpid(), &local, 1, remote, k, 0);
	return r < 0 ? 0 : (size_t)r;
}

/*
 * Resolve tlb_flush_page_aarch64 in the libunicorn already loaded from `libpath`
 * (RTLD_NOLOAD: the same copy koffi loaded). Returns 0 when found.
 */
int hypemu_tlb_init(const char *libpath)
{
	unicorn = dlopen(libpath, RTLD_NOW | RTLD_NOLOAD);
	if (unicorn == NULL)
		return -1;
	flush_page = (flush_page_fn)dlsym(unicorn, "tlb_flush_page_aarch64");
	flush_page_idx = (flush_page_idx_fn)dlsym(unicorn, "tlb_flush_page_by_mmuidx_aarch64");
	return flush_page == NULL ? -2 : 0;
}

/*
 * tb_gen_code's TLB scan (issue 10). After translating a block, Unicorn 2.1.1 (translate-all.c
 * tb_gen_code, when no UC_HOOK_MEM_READ/WRITE exists) calls
 * tlb_reset_dirty_by_vaddr(cpu, page of pc, offset + size) to set TLB_NOTDIRTY again on every
 * TLB entry whose write address lies in the block's pages, so that the next store there takes
 * the slow path (notdirty_write) and invalidates the block. It finds those entries by scanning
 * every entry of all 12 MMU indexes' TLBs plus their victim TLBs (cputlb.c): thousands of
 * compares per block, 6-12% of a Linux boot's host time (64.5k blocks; perf, 16:00-16:20).
 * An entry for a VA can only sit at that VA's index of its MMU index's table, or in the victim
 * TLB, so the work is a few entries per index; but those tables' layout is private. Dropping
 * the entries for those pages instead (tlb_flush_page_aarch64: every MMU index, its table slot
 * and victim TLB, plus the tb_jmp_cache hashes of the page) is exported and at least as strong:
 * the next access refills through the fill hook, and a refilled writable entry is born
 * TLB_NOTDIRTY (Unicorn's cpu_physical_memory_is_clean is always true), so the next store still
 * takes notdirty_write.
 * The cost moves to refills of entries that were in use (the native fill cache answers them).
 *
 * The call is routed by patching libunicorn's GOT slot for tlb_reset_dirty_by_vaddr_aarch64
 * (tb_gen_code calls it through the PLT; the library is linked BIND_NOW with RELRO, so the slot
 * is made writable for the store and read-only again). Only that slot changes: every other
 * caller of the library is untouched, and the slot is found by name in the library's own
 * relocation table (DT_JMPREL), never assumed.
 */
#define TARGET_PAGE 1024ull
static void reset_dirty_by_flush(void *cpu, uint64_t start, uint64_t length)
{
	for (uint64_t off = 0; off < length; off += TARGET_PAGE)
		flush_page(cpu, start + off);
}

/* A d_ptr of the dynamic section: glibc relocates some in place, others stay link-time values. */
static uintptr_t dyn_ptr(const struct link_map *lm, ElfW(Addr) v)
{
	return v < lm->l_addr ? lm->l_addr + v : v;
}

struct relro_query {
	uintptr_t base, addr;
	int relro;
};
static int in_relro(struct dl_phdr_info *info, size_t size, void *data)
{
	struct relro_query *q = data;
	(void)size;
	if (info->dlpi_addr != q->base)
		return 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type == PT_GNU_RELRO && q->addr - (q->base + ph->p_vaddr) < ph->p_memsz)
			q->relro = 1;
	}
	return 1;
}

/*
 * Route libunicorn's tlb_reset_dirty_by_vaddr_aarch64 to reset_dirty_by_flush. 0: done (or
 * already done); <0: left as it was (-1 library not loaded or hypemu_tlb_init not run, -2 no
 * dynamic information, -3 no such PLT slot, -4 mprotect refused, -5 the slot held neither the
 * function nor our replacement).
 */
int hypemu_tlb_reset_dirty_patch(void)
{
	if (unicorn == NULL || flush_page == NULL)
		return -1;
	void *orig = dlsym(unicorn, "tlb_reset_dirty_by_vaddr_aarch64");
	struct link_map *lm = NULL;
	if (orig == NULL || dlinfo(unicorn, RTLD_DI_LINKMAP, &lm) != 0 || lm == NULL || lm->l_ld == NULL)
		return -2;
	uintptr_t jmprel = 0, symtab = 0, strtab = 0;
	size_t relsz = 0;
	for (const ElfW(Dyn) *d = lm->l_ld; d->d_tag != DT_NULL; d++) {
		if (d->d_tag == DT_JMPREL)
			jmprel = dyn_ptr(lm, d->d_un.d_ptr);
		else if (d->d_tag == DT_PLTRELSZ)
			relsz = d->d_un.d_val;
		else if (d->d_tag == DT_SYMTAB)
			symtab = dyn_ptr(lm, d->d_un.d_ptr);
		else if (d->d_tag == DT_STRTAB)
			strtab = dyn_ptr(lm, d->d_un.d_ptr);
	}
	if (jmprel == 0 || symtab == 0 || strtab == 0)
		return -2;
	const ElfW(Rela) *rel = (const ElfW(Rela) *)jmprel;
	const ElfW(Sym) *syms = (const ElfW(Sym) *)symtab;
	void **slot = NULL;
	for (size_t i = 0; i < relsz / sizeof *rel; i++) {
		const char *name = (const char *)strtab + syms[ELF64_R_SYM(rel[i].r_info)].st_name;
		if (strcmp(name, "tlb_reset_dirty_by_vaddr_aarch64") == 0) {
			slot = (void **)(lm->l_addr + rel[i].r_offset);
			break;
		}
	}
	if (slot == NULL)
		return -3;
	void *want = (void *)reset_dirty_by_flush;
	if (*slot == want)
		return 0;
	if (*slot != orig)
		return -5;
	long pg = sysconf(_SC_PAGESIZE);
	void *page = (void *)((uintptr_t)slot & ~(uintptr_t)(pg - 1));
	struct relro_query q = { lm->l_addr, (uintptr_t)slot, 0 };
	dl_iterate_phdr(in_relro, &q);
	if (mprotect(page, (size_t)pg, PROT_READ | PROT_WRITE) != 0)
		return -4;
	*slot = want;
	/* Back as the loader left it: read-only inside PT_GNU_RELRO, writable otherwise (lazy binding). */
	if (q.relro)
		mprotect(page, (size_t)pg, PROT_READ);
	return 0;
}

#define SCAN_UC 4096
#define SCAN_CPU 65536

static uint64_t block[SCAN_CPU / 8];

/*
 * Offset of uc_struct's `CPUState *cpu`, or -1 (see the comment at the top). The block a
 * candidate word points to must hold, in this order: the uc_struct pointer (CPUState.uc), a
 * pointer to the CPUARMState (CPUState.env_ptr) that places the markers at xregs[0..1], which
 * follow the 16 32-bit AArch32 regs (QEMU's target/arm/cpu.h), and the markers themselves.
 */
long hypemu_tlb_locate_cpu(void *uc, uint64_t m0, uint64_t m1)
{
	uint64_t words[SCAN_UC / 8];
	const uint64_t ucp = (uint64_t)(uintptr_t)uc;
	size_t got = safe_read(uc, words, sizeof words) / 8;
	long best = -1;
	uint64_t best_p = 0, markers = 0;
	for (size_t i = 0; i < got; i++) {
		uint64_t p = words[i];
		if (p == 0 || (p & 7) != 0 || p == ucp)
			continue;
		/* Once found, only a pointer between that candidate and the markers can be closer. */
		if (best >= 0 && (p <= best_p || p >= markers))
			continue;
		size_t n = safe_read((void *)(uintptr_t)p, block, sizeof block) / 8;
		for (size_t j = 0; j + 1 < n; j++) {
			if (block[j] != m0 || block[j + 1] != m1)
				continue;
			uint64_t env = p + j * 8 - 64;
			int back = 0, envp = 0;
			for (size_t k = 0; k < j; k++) {
				if (block[k] == ucp)
					back = 1;
				else if (block[k] == env)
					envp = 1;
			}
			/*
			 * A pointer to an object allocated before the CPU passes too (its 64 KiB reach the
			 * CPU's fields): the CPUState is the candidate closest below the markers.
			 */
			if (back && envp && p > best_p) {
				best = (long)(i * 8);
				best_p = p;
				markers = p + j * 8;
			}
			break;
		}
	}
	return best;
}

/*
 * Flush the 1 KiB TARGET_PAGEs at vas[0..n) (signed 64-bit VAs carried as doubles,
 * exact below 2^53 in magnitude) from every MMU index of Unicorn's TLB.
 */
void hypemu_tlb_flush_pages(void *uc, long cpu_off, const double *vas, int n)
{
	void *cpu;
	memcpy(&cpu, (char *)uc + cpu_off, sizeof cpu);
	for (int i = 0; i < n; i++)
		flush_page(cpu, (uint64_t)(int64_t)vas[i]);
}

/*
 * The native TLBI front (issue 10): a guest TLBI by VA that the EL2 model leaves to the CPU
 * (HCR_EL2.TTLB clear, one vCPU, no guest hypervisor) used to cost a JavaScript round trip
 * (~1.5 us CPU) only to drop the model TLB's entry and the 1 KiB pages of Unicorn's TLB filled
 * from it. The front sits between the system-instruction filter (sysinsn-filter.c, which calls
 * it as its JavaScript callback) and that callback. For an encoding JavaScript marked deferrable
 * (`bits`: the TLBI VAE1/VALE1/VAAE1/VAALE1 rows, any shareability, routed native at EL1),
 * executed at EL1, whose VA lies in no region where Unicorn may hold an entry filled from a
 * translation larger than 4 KiB (`blocks`, written by JavaScript at such fills and cleared with
 * every whole flush), it does here what the JavaScript path does for it: flushes the four 1 KiB
 * TARGET_PAGEs of the 4 KiB page (QEMU's own TLBI drops only the one at the VA, DESIGN.md), drops
 * the same pages from the native fill cache, and queues {encoding, Xt} for the model TLB, which
 * JavaScript drains before its next lookup or invalidation (emulator/mmu/tlb.ts) and at every
 * slice end. Everything else (EL0: UNDEFINED; a block region; a full queue; any other encoding)
 * goes to JavaScript as before. Unicorn then executes the TLBI itself (return 0), as it does for
 * a TLBI JavaScript routes native.
 *
 * The IC IVAU gate (issue 10: a Linux boot executes ~62k IC IVAU, a JavaScript round trip each,
 * only for the code guard to find, almost always, that the line's page holds no code snapshot).
 * JavaScript's handling of an IC IVAU routed native, with one vCPU (emulator/cpu/maintenance.ts
 * icMaintenance), does something only when the physical page the VA translates to had a code
 * snapshot handed to a TLB entry since Unicorn's TLB was last flushed whole (code-guard.ts
 * icInvalidate). JavaScript keeps that set of pages here (`ic_pages`, written as it hands a
 * snapshot out, emptied when it flushes the whole TLB) and says when the gate may be used
 * (`ic_enabled`: one vCPU, IC IVAU routed native at EL0 and EL1). Here, an IC IVAU whose VA the
 * native fill cache holds a translation for (the TLB entry's own answer; none: JavaScript) onto a
 * page outside the set runs natively (return 0), as JavaScript would have let it.
 */
typedef struct {
	uint32_t crn, crm, op0, op1, op2;
	uint64_t val;
} uc_arm64_cp_reg;
typedef uint32_t (*insn_sys_cb)(void *uc, int reg, const uc_arm64_cp_reg *cp, void *ud);
typedef int (*reg_read_fn)(void *uc, int regid, void *value);
typedef void (*fill_drop_fn)(void *fill, const double *vas, int n);
typedef int (*fill_lookup_fn)(void *fill, void *uc, uint64_t va, uint64_t *pa);

#define TLBI_RING 256
#define BLOCK_SLOTS 4096
#define REG_PSTATE 265
#define MMUIDX_E10 ((1u << 0) | (1u << 2) | (1u << 3))
#define IC_SLOTS 1024
/* IC IVAU: op0 1, op1 3, CRn 7, CRm 5, op2 1 (Arm ARM C5.3.13). */
#define IC_IVAU_KEY (1u << 14 | 3u << 11 | 7u << 7 | 5u << 3 | 1u)

/* Shared with JavaScript (emulator/unicorn/uc.ts TlbiFront): the first fields, in this order. */
typedef struct tlbi_front {
	uint32_t count;   /* 0: records queued for the model TLB (JavaScript drains and zeroes) */
	uint32_t enabled; /* 4: JavaScript: the bitmap may be used */
	uint32_t blocks_full; /* 8: the block table overflowed: defer every TLBI to JavaScript */
	uint32_t pad;
	uint64_t handled; /* 16: TLBIs done here (statistics) */
	uint64_t xt[TLBI_RING]; /* 24 */
	uint32_t key[TLBI_RING]; /* 24 + 8 * TLBI_RING */
	uint8_t bits[65536 / 8];
	/*
	 * Open-addressed sets of k = VA >> 21 (2 MiB regions) and VA >> 30 (1 GiB regions), signed
	 * VAs: slot k mod BLOCK_SLOTS and on, holding 2k + 1 as a double (exact; never 0, which is empty).
	 */
	double blocks2m[BLOCK_SLOTS];
	double blocks1g[BLOCK_SLOTS];
	/* The IC IVAU gate (above), written by JavaScript: */
	uint32_t ic_enabled; /* the gate may be used */
	uint32_t ic_full;    /* the page set overflowed: every IC IVAU goes to JavaScript */
	uint64_t ic_handled; /* IC IVAUs let run here (statistics) */
	/* Open-addressed set of k = PA >> 10 (1 KiB pages): slot k mod IC_SLOTS and on, holding k + 1 (0: empty). */
	double ic_pages[IC_SLOTS];
	/* private */
	void *uc;
	void *cpu;
	insn_sys_cb js;
	void *fill;
	struct tlbi_front *next;
} tlbi_front;

static reg_read_fn front_reg_read;
static fill_drop_fn front_fill_drop;
static fill_lookup_fn front_fill_lookup;
static tlbi_front *fronts;

static int in_blocks(const double *set, double k)
{
	for (unsigned i = 0; i < BLOCK_SLOTS; i++) {
		double v = set[((uint64_t)(int64_t)k + i) & (BLOCK_SLOTS - 1)];
		if (v == 0)
			return 0;
		if (v == 2 * k + 1)
			return 1;
	}
	return 1;
}

static int in_ic_pages(const double *set, uint64_t k)
{
	for (unsigned i = 0; i < IC_SLOTS; i++) {
		double v = set[(k + i) & (IC_SLOTS - 1)];
		if (v == 0)
			return 0;
		if (v == (double)(k + 1))
			return 1;
	}
	return 1;
}

static uint32_t tlbi_front_cb(void *uc, int reg, const uc_arm64_cp_reg *cp, void *ud)
{
	tlbi_front *t = fronts;
	while (t != NULL && t->uc != uc)
		t = t->next;
	if (t == NULL)
		return 0; /* cannot happen: the front is registered before its hook */
	unsigned key = (cp->op0 & 3) << 14 | (cp->op1 & 7) << 11 | (cp->crn & 15) << 7 | (cp->crm & 15) << 3 | (cp->op2 & 7);
	if (key == IC_IVAU_KEY) {
		uint64_t pa;
		if (t->ic_enabled && !t->ic_full && t->fill != NULL && front_fill_lookup != NULL &&
		    front_fill_lookup(t->fill, uc, cp->val, &pa) == 0 && !in_ic_pages(t->ic_pages, pa >> 10)) {
			t->ic_handled++;
			return 0;
		}
		return t->js(uc, reg, cp, ud);
	}
	if (!t->enabled || t->blocks_full || t->count >= TLBI_RING)
		return t->js(uc, reg, cp, ud);
	if (!(t->bits[key >> 3] & (1u << (key & 7))))
		return t->js(uc, reg, cp, ud);
	uint64_t pstate = 0;
	if (front_reg_read(uc, REG_PSTATE, &pstate) != 0 || ((pstate >> 2) & 3) != 1)
		return t->js(uc, reg, cp, ud);
	/* Xt[43:0] = VA[55:12], sign-extended from VA[55] (Arm ARM TLBI VAE1 "Register format"). */
	int64_t va = ((int64_t)(cp->val << 20)) >> 8;
	if (in_blocks(t->blocks2m, (double)(va >> 21)) || in_blocks(t->blocks1g, (double)(va >> 30)))
		return t->js(uc, reg, cp, ud);
	/*
	 * The other three 1 KiB pages of the 4 KiB page, from the MMU indexes QEMU's own TLBI by VA
	 * flushes (target/arm/helper.c vae1_tlbmask, Non-secure EL1&0: E10_0, E10_1, E10_1_PAN, core
	 * indexes 0, 2, 3); QEMU's TLBI, which Unicorn runs next, flushes the one at the VA.
	 */
	double vas[4];
	for (int i = 0; i < 4; i++) {
		uint64_t page = (uint64_t)(va + i * 0x400);
		vas[i] = (double)(va + i * 0x400);
		if (flush_page_idx == NULL)
			flush_page(t->cpu, page);
		else if (i != 0)
			flush_page_idx(t->cpu, page, MMUIDX_E10);
	}
	if (t->fill != NULL)
		front_fill_drop(t->fill, vas, 4);
	t->xt[t->count] = cp->val;
	t->key[t->count] = key;
	t->count++;
	t->handled++;
	return 0;
}

/*
 * A front for `uc` (cpu_off: hypemu_tlb_locate_cpu's answer) in front of the JavaScript callback
 * `js`; `fill`: the native fill cache of the same engine or NULL, whose library (`fill_lib`, loaded
 * already) exports hypemu_fill_drop_pages. Returns the front (its callback: hypemu_tlbi_front_cb)
 * or NULL.
 */
void *hypemu_tlbi_front_new(void *uc, long cpu_off, insn_sys_cb js, void *fill, const char *fill_lib)
{
	if (unicorn == NULL || flush_page == NULL || cpu_off < 0)
		return NULL;
	front_reg_read = (reg_read_fn)dlsym(unicorn, "uc_reg_read");
	if (front_reg_read == NULL)
		return NULL;
	if (fill != NULL) {
		void *fh = dlopen(fill_lib, RTLD_NOW | RTLD_NOLOAD);
		front_fill_drop = fh ? (fill_drop_fn)dlsym(fh, "hypemu_fill_drop_pages") : NULL;
		if (front_fill_drop == NULL)
			return NULL;
		/* A fill cache built before hypemu_fill_lookup: no IC IVAU gate (all of them to JavaScript). */
		front_fill_lookup = (fill_lookup_fn)dlsym(fh, "hypemu_fill_lookup");
	}
	tlbi_front *t = calloc(1, sizeof *t);
	if (t == NULL)
		return NULL;
	memcpy(&t->cpu, (char *)uc + cpu_off, sizeof t->cpu);
	t->uc = uc;
	t->js = js;
	t->fill = fill;
	t->next = fronts;
	fronts = t;
	return t;
}

/* The callback to hand to hypemu_sysinsn_filter_new in place of the JavaScript one. */
void *hypemu_tlbi_front_cb(void)
{
	return (void *)tlbi_front_cb;
}

/* Bytes of the front JavaScript views (up to and including the block tables), and where bits and the tables start. */
uint32_t hypemu_tlbi_front_layout(int what)
{
	switch (what) {
	case 0: return (uint32_t)offsetof(tlbi_front, uc);
	case 1: return (uint32_t)offsetof(tlbi_front, xt);
	case 2: return (uint32_t)offsetof(tlbi_front, key);
	case 3: return (uint32_t)offsetof(tlbi_front, bits);
	case 4: return (uint32_t)offsetof(tlbi_front, blocks2m);
	case 5: return (uint32_t)offsetof(tlbi_front, blocks1g);
	default: return TLBI_RING | (uint32_t)BLOCK_SLOTS << 16;
	}
}

/*
 * The IC IVAU gate's part of the front: 0 where ic_enabled starts (ic_full, ic_handled, then
 * ic_pages follow it: see the struct), 1 the slots of ic_pages; 0 from both when the gate cannot
 * work (no fill cache with hypemu_fill_lookup): JavaScript then leaves it off.
 */
uint32_t hypemu_tlbi_front_ic_layout(void *front, int what)
{
	tlbi_front *t = front;
	if (t->fill == NULL || front_fill_lookup == NULL)
		return 0;
	return what == 0 ? (uint32_t)offsetof(tlbi_front, ic_enabled) : IC_SLOTS;
}
