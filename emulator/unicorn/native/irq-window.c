/*
 * hypemu's native interrupt window (issue 10): stop Unicorn right after the instruction that
 * unmasks a pending interrupt, without slicing the guest into straight-line pieces.
 *
 * Why: an interrupt the EL2 model holds pending while PSTATE.I masks it must be taken at the
 * instruction after the one that unmasks it (Arm ARM D1.3.6 "Asynchronous exception masking":
 * MSR DAIFClr, MSR DAIF, or an exception return restoring SPSR take effect for the next
 * instruction). Unicorn is never told about our interrupts, so the run loop used to run
 * straight-line code one piece at a time up to each branch (emulator/cpu/unmask-scan.ts): a
 * Linux boot made ~450k uc_emu_start slices of 1-16 instructions that way, each a JavaScript
 * round trip.
 *
 * How: QEMU itself re-evaluates a pending interrupt whenever it returns to its CPU loop, and it
 * returns there right after each of those three instructions (translate-a64.c ends the TB with
 * DISAS_UPDATE after MSR DAIFClr and after any system-register write, DISAS_EXIT after ERET, "to
 * check un-masked IRQs"). While an interrupt is pending and masked, the run loop raises
 * CPU_INTERRUPT_HARD on Unicorn's CPU (cpu_interrupt_handler, exported), and this file puts its
 * own function in the CPU's CPUClass.cpu_exec_interrupt slot (arm_cpu_exec_interrupt would
 * perform QEMU's own exception entry): when PSTATE.I reads clear, it records that the window
 * fired and stops the CPU (uc_emu_stop); QEMU's loop then leaves with PC at the instruction
 * after the unmask, everything before it retired. With PSTATE.I still set it does nothing and
 * the guest runs on. The model then takes the interrupt at that slice start, as before.
 *
 * The slot is *found*, never assumed: the CPUClass lives inside ARMCPU (Unicorn 2.1
 * target/arm/cpu.h: `struct ARMCPUClass cc`, CPUState.cc points to it); among the words after
 * the CPUState, the first one equal to arm_cpu_exec_interrupt_aarch64 (exported) must have
 * arm_cpu_do_interrupt_aarch64 (exported) 16 words before it (CPUClass: do_interrupt is field 2,
 * cpu_exec_interrupt field 18, include/hw/core/cpu.h) and the ARMCPU must hold, before that CPUClass, a
 * pointer to its start (CPUState.cc). Reads of memory not known to be ours go through
 * process_vm_readv, which reports a bad address instead of faulting. If any check fails the
 * caller keeps the straight-line slicing.
 *
 * A side effect QEMU has too: with CPU_INTERRUPT_HARD raised, a WFI completes at once instead of
 * halting (arm_cpu_has_work), which is what the architecture says of a WFI with an interrupt
 * pending, masked or not (Arm ARM C6.2 "WFI", D1.16.2 "Wait for Interrupt"), and so it is not
 * trapped by HCR_EL2.TWI either (TWI traps a WFI only "if it would otherwise cause the PE to
 * enter a low-power state").
 *
 * Built by scripts/setup.sh with the system cc into vendor/native/ (git-ignored); loaded only by
 * emulator/unicorn/ffi.ts, optional. No Unicorn headers: the constants are restated (QEMU 5.0
 * include/hw/core/cpu.h CPU_INTERRUPT_HARD; Unicorn arm64.h UC_ARM64_REG_PSTATE 265).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#define CPU_INTERRUPT_HARD 0x0002
#define REG_PSTATE 265
#define PSTATE_I (1u << 7)
/* CPUClass field indices (8-byte words): do_interrupt 2, cpu_exec_interrupt 18. */
#define SLOT_DO_INTERRUPT 2
#define SLOT_EXEC_INTERRUPT 18
#define SCAN_CPU (512 * 1024)

typedef bool (*exec_interrupt_fn)(void *cpu, int req);
typedef void (*interrupt_handler_fn)(void *cpu, int mask);
typedef void (*reset_interrupt_fn)(void *cpu, int mask);
typedef int (*reg_read_fn)(void *uc, int regid, void *value);
typedef int (*emu_stop_fn)(void *uc);

/* One per vCPU (uc engine). JavaScript reads `fired` through a view and clears it. */
typedef struct window {
	uint32_t fired; /* the window stopped the CPU (PSTATE.I read clear while raised) */
	uint32_t raised; /* CPU_INTERRUPT_HARD is raised on this CPU */
	void *uc;
	void *cpu;
	struct window *next;
} window;

static exec_interrupt_fn orig_exec;
static void *orig_do_interrupt;
static interrupt_handler_fn *interrupt_handler;
static reset_interrupt_fn reset_interrupt;
static reg_read_fn reg_read;
static emu_stop_fn emu_stop;
static window *windows;

/* Copy up to n bytes at addr into out; returns how many could be read (see tlb-flush.c). */
#define PIECE 4096
static size_t safe_read(const void *addr, void *out, size_t n)
{
	struct iovec local = { out, n };
	struct iovec remote[16];
	size_t done = 0;
	while (done < n) {
		size_t k = 0, chunk = 0;
		for (size_t off = done; off < n && k < 16; off += PIECE, k++) {
			remote[k].iov_base = (char *)addr + off;
			remote[k].iov_len = n - off < PIECE ? n - off : PIECE;
			chunk += remote[k].iov_len;
		}
		local.iov_base = (char *)out + done;
		local.iov_len = chunk;
		ssize_t r = process_vm_readv(getpid(), &local, 1, remote, k, 0);
		if (r <= 0)
			break;
		done += (size_t)r;
		if ((size_t)r < chunk)
			break;
	}
	return done;
}

/* Resolve what this file calls in the libunicorn already loaded from `libpath` (RTLD_NOLOAD: koffi's copy). 0 when found. */
int hypemu_irqwin_init(const char *libpath)
{
	void *h = dlopen(libpath, RTLD_NOW | RTLD_NOLOAD);
	if (h == NULL)
		return -1;
	orig_exec = (exec_interrupt_fn)dlsym(h, "arm_cpu_exec_interrupt_aarch64");
	orig_do_interrupt = dlsym(h, "arm_cpu_do_interrupt_aarch64");
	interrupt_handler = (interrupt_handler_fn *)dlsym(h, "cpu_interrupt_handler");
	reset_interrupt = (reset_interrupt_fn)dlsym(h, "cpu_reset_interrupt");
	reg_read = (reg_read_fn)dlsym(h, "uc_reg_read");
	emu_stop = (emu_stop_fn)dlsym(h, "uc_emu_stop");
	if (!orig_exec || !orig_do_interrupt || !interrupt_handler || !reset_interrupt || !reg_read || !emu_stop)
		return -2;
	return 0;
}

/*
 * QEMU's CPU loop calls this (in place of arm_cpu_exec_interrupt) while some interrupt_request
 * bit is set: only ours, CPU_INTERRUPT_HARD, since Unicorn has no interrupt controller.
 */
static bool window_exec_interrupt(void *cpu, int req)
{
	window *w = windows;
	while (w != NULL && w->cpu != cpu)
		w = w->next;
	if (w == NULL || !(req & CPU_INTERRUPT_HARD) || !w->raised)
		return false;
	uint64_t pstate = 0;
	if (reg_read(w->uc, REG_PSTATE, &pstate) != 0)
		return false;
	if (pstate & PSTATE_I)
		return false;
	w->fired = 1;
	emu_stop(w->uc);
	return false;
}

/*
 * Install the window on the CPU of `uc` (cpu_off: uc_struct's `CPUState *cpu`, tlb-flush.c's
 * hypemu_tlb_locate_cpu). Returns the window, or NULL when the slot was not found for certain.
 */
void *hypemu_irqwin_new(void *uc, long cpu_off)
{
	if (orig_exec == NULL || cpu_off < 0)
		return NULL;
	void *cpu;
	memcpy(&cpu, (char *)uc + cpu_off, sizeof cpu);
	if (cpu == NULL)
		return NULL;
	uint64_t *words = malloc(SCAN_CPU);
	if (words == NULL)
		return NULL;
	size_t n = safe_read(cpu, words, SCAN_CPU) / 8;
	const uint64_t want = (uint64_t)(uintptr_t)orig_exec;
	const uint64_t mine = (uint64_t)(uintptr_t)window_exec_interrupt;
	long slot = -1;
	for (size_t i = SLOT_EXEC_INTERRUPT; i < n; i++) {
		if (words[i] != want && words[i] != mine)
			continue;
		if (words[i - (SLOT_EXEC_INTERRUPT - SLOT_DO_INTERRUPT)] != (uint64_t)(uintptr_t)orig_do_interrupt)
			continue;
		slot = (long)i;
		break;
	}
	int back = 0;
	if (slot >= 0) {
		const uint64_t cc = (uint64_t)(uintptr_t)cpu + (uint64_t)(slot - SLOT_EXEC_INTERRUPT) * 8;
		for (long i = 0; i < slot - SLOT_EXEC_INTERRUPT; i++)
			if (words[i] == cc)
				back = 1;
	}
	free(words);
	if (slot < 0 || !back)
		return NULL;
	window *w = calloc(1, sizeof *w);
	if (w == NULL)
		return NULL;
	w->uc = uc;
	w->cpu = cpu;
	w->next = windows;
	windows = w;
	exec_interrupt_fn fn = window_exec_interrupt;
	memcpy((char *)cpu + slot * 8, &fn, sizeof fn);
	return w;
}

/* Raise (on = 1) or lower CPU_INTERRUPT_HARD on the window's CPU; outside uc_emu_start only. */
void hypemu_irqwin_raise(void *win, int on)
{
	window *w = win;
	if (on && !w->raised)
		(*interrupt_handler)(w->cpu, CPU_INTERRUPT_HARD);
	else if (!on && w->raised)
		reset_interrupt(w->cpu, CPU_INTERRUPT_HARD);
	w->raised = on != 0;
}
