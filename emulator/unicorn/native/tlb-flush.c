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
#include <stdint.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

typedef void (*flush_page_fn)(void *cpu, uint64_t addr);

static flush_page_fn flush_page;

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
	void *h = dlopen(libpath, RTLD_NOW | RTLD_NOLOAD);
	if (h == NULL)
		return -1;
	flush_page = (flush_page_fn)dlsym(h, "tlb_flush_page_aarch64");
	return flush_page == NULL ? -2 : 0;
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
