/*
 * hypemu's system-instruction filter: a UC_HOOK_INSN callback (MRS/MSR/SYS/SYSL)
 * that keeps the instructions the EL2 model routes natively from crossing into
 * JavaScript (issue 10: a Linux boot makes ~3.25M such hook calls, almost all for
 * instructions Unicorn then runs itself; each is a koffi round trip).
 *
 * It makes no decision of its own: the bitmap (one bit per packed encoding
 * op0:op1:CRn:CRm:op2, the key of emulator/cpu/sysreg-catalogue.ts) is computed
 * and written by TypeScript (emulator/cpu/sysinsn-filter.ts). A set bit: return
 * 0 (Unicorn executes the instruction). A clear bit: copy the uc_arm64_cp_reg
 * into the filter's own buffer (one fixed address, so JavaScript keeps one view
 * of it) and return what the JavaScript callback returns.
 *
 * Leaving the translation block (issue 13): when the JavaScript callback returns 3
 * (bit 1 set) it has moved PC (a skipped instruction, an exception entry) or asked
 * Unicorn to stop, and the rest of the translation block must not run. Unicorn only
 * looks at its exit request at the next instruction's count hook (and without a
 * count hook, at the next block): until then the guest runs on, and the count hook
 * of the next instruction counts it once here and once more when it really runs at
 * the new PC (an MRS answered by the EL2 model counted the next instruction twice).
 * So the filter leaves the block at once, as QEMU's own helpers do when they raise
 * an exception: cpu_loop_exit_noexc (QEMU's, exported by libunicorn with the target
 * suffix) longjmps back to the CPU loop, which then honours the new PC or the stop.
 * Only C frames lie between (no JavaScript frame is on the stack by then).
 *
 * Built by scripts/setup.sh with the system cc into vendor/native/ (git-ignored);
 * loaded only by emulator/unicorn/ffi.ts. No Unicorn headers needed: the two types
 * it touches are restated below (Unicorn 2.1 include/unicorn/arm64.h).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
	uint32_t crn, crm, op0, op1, op2;
	uint64_t val;
} uc_arm64_cp_reg;

typedef uint32_t (*insn_sys_cb)(void *uc, int reg, const uc_arm64_cp_reg *cp, void *ud);

typedef void (*loop_exit_fn)(void *cpu);

typedef struct {
	uint8_t bits[65536 / 8];
	uc_arm64_cp_reg cp;
	insn_sys_cb js;
	/* Set by hypemu_sysinsn_filter_exit_init: QEMU's cpu_loop_exit_noexc and where uc_struct keeps the CPUState pointer. */
	loop_exit_fn loop_exit;
	long cpu_off;
} hypemu_sysinsn_filter;

static uint32_t filter_hook(void *uc, int reg, const uc_arm64_cp_reg *cp, void *ud)
{
	hypemu_sysinsn_filter *f = ud;
	unsigned key = (cp->op0 & 3) << 14 | (cp->op1 & 7) << 11 | (cp->crn & 15) << 7 | (cp->crm & 15) << 3 | (cp->op2 & 7);
	if (f->bits[key >> 3] & (1u << (key & 7)))
		return 0;
	f->cp = *cp;
	uint32_t r = f->js(uc, reg, &f->cp, NULL);
	if ((r & 2) && f->loop_exit != NULL) {
		void *cpu;
		memcpy(&cpu, (char *)uc + f->cpu_off, sizeof cpu);
		f->loop_exit(cpu); /* does not return */
	}
	return r & 1;
}

/* One filter per hook kind; js is the koffi-registered callback. Never freed (lives as long as the hook). */
void *hypemu_sysinsn_filter_new(insn_sys_cb js)
{
	hypemu_sysinsn_filter *f = calloc(1, sizeof *f);
	if (f)
		f->js = js;
	return f;
}

/* The callback to pass to uc_hook_add, with the filter as user data. */
void *hypemu_sysinsn_filter_hook(void)
{
	return (void *)filter_hook;
}

/* Where the copied uc_arm64_cp_reg lives (JavaScript makes one view of it). */
void *hypemu_sysinsn_filter_cp(void *f)
{
	return &((hypemu_sysinsn_filter *)f)->cp;
}

/* Replace the bitmap (8192 bytes), or clear it when bits is NULL: everything goes to JavaScript. */
void hypemu_sysinsn_filter_set(void *f, const uint8_t *bits)
{
	hypemu_sysinsn_filter *h = f;
	if (bits)
		memcpy(h->bits, bits, sizeof h->bits);
	else
		memset(h->bits, 0, sizeof h->bits);
}

/*
 * Let a return value of 3 leave the translation block (see the top): resolve
 * cpu_loop_exit_noexc_aarch64 in the libunicorn already loaded from `libpath` (RTLD_NOLOAD:
 * koffi's copy); cpu_off is uc_struct's `CPUState *cpu` field (found by tlb-flush.c's
 * hypemu_tlb_locate_cpu). Returns 0 when armed; otherwise 3 stays a plain skip.
 */
int hypemu_sysinsn_filter_exit_init(void *f, const char *libpath, long cpu_off)
{
	hypemu_sysinsn_filter *h = f;
	if (cpu_off < 0)
		return -3;
	void *lib = dlopen(libpath, RTLD_NOW | RTLD_NOLOAD);
	if (lib == NULL)
		return -1;
	loop_exit_fn fn = (loop_exit_fn)dlsym(lib, "cpu_loop_exit_noexc_aarch64");
	if (fn == NULL)
		return -2;
	h->cpu_off = cpu_off;
	h->loop_exit = fn;
	return 0;
}
