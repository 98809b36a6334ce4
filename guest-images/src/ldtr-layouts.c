/*
 * ldtr-layouts: an EL1 LDTR/STTR is checked with EL0 permissions wherever it sits (Arm ARM C6.2
 * "LDTR": an unprivileged access when executed at EL1). hypemu cannot ask Unicorn which MMU index
 * a TLB fill is for, so it recognises LDTR/STTR by the instruction at PC (DESIGN.md); this guest
 * places them at every position in a translation block and a page that could hide one: first
 * instruction of a block, after straight-line code, last word and first word of Unicorn's 1 KiB
 * pages and of 4 KiB pages (blocks that cross into the page holding it), code rewritten in place
 * (IC IVAU), and code executed through a second virtual address. Each LDTR/STTR targets a page
 * with AP = 00 (EL1 only): every one must take a permission fault (EC 0x25, DFSC level 3).
 */
#include "runtime.h"
#include "mmu.h"

#define CODE_VA 0x200000000UL  /* 8 GiB: a second VA for the code buffer */
#define NOP 0xd503201fu
#define RET 0xd65f03c0u
#define LDTR_X0_X1 0xf8400820u /* ldtr x0, [x1] */
#define STTR_X2_X1 0xf8000822u /* sttr x2, [x1] */

static u8 pool[64 * 1024] __attribute__((aligned(4096)));
static u32 codebuf[4 * 1024] __attribute__((aligned(16384)));
static u64 kernel_only[512] __attribute__((aligned(4096)));
static volatile int faults;
static volatile u64 fault_esr, fault_far;

void exception_handler(struct frame *f, unsigned vec)
{
	if (vec == 4 && ESR_EC(f->esr) == 0x25) {
		faults++;
		fault_esr = f->esr;
		fault_far = f->far;
		f->elr += 4;
		return;
	}
	unexpected_exception(f, vec);
}

static void sync_code(void *p, u64 n)
{
	for (u64 a = (u64)p & ~63UL; a < (u64)p + n; a += 64)
		__asm__ volatile("dc cvau, %0\n ic ivau, %0" : : "r"(a) : "memory");
	__asm__ volatile("dsb ish\n isb" ::: "memory");
}

/* Writes NOPs from word `start` up to `at`, the access at `at`, RET after it; calls it at `base`. */
static void trial_n(const char *what, u64 base, unsigned start, unsigned at, u32 insn, int want)
{
	for (unsigned i = start; i < at; i++)
		codebuf[i] = NOP;
	codebuf[at] = insn;
	codebuf[at + 1] = RET;
	sync_code(&codebuf[start], (at - start + 2) * 4);
	faults = 0;
	fault_esr = 0;
	void (*fn)(u64, u64) = (void (*)(u64, u64))(base + start * 4);
	register u64 x1 __asm__("x1") = (u64)&kernel_only[8];
	register u64 x2 __asm__("x2") = 0x5a5a;
	__asm__ volatile("blr %2" : "+r"(x1), "+r"(x2) : "r"(fn) : "x0", "x30", "memory");
	printf("%s: faults %u, ESR %lx, FAR ok %u\n", what, faults, fault_esr, fault_far == (u64)&kernel_only[8]);
	check_bool(what, want ? faults == 1 && (fault_esr & 0x3f) == 0x0f && fault_far == (u64)&kernel_only[8] : faults == 0);
}
#define trial(w, b, s, a, i) trial_n(w, b, s, a, i, 1)

int main(void)
{
	struct pt pt;
	install_vectors();
	pt_init(&pt, 12, pool, sizeof pool);
	pt_identity_default(&pt);
	/* The code buffer again at CODE_VA (EL1 executable), and the target page EL1-only, page-mapped. */
	pt_map(&pt, CODE_VA, (u64)codebuf, sizeof codebuf, PROT_KERNEL, 3);
	pt_map(&pt, (u64)kernel_only, (u64)kernel_only, 4096, PROT_KERNEL, 3);
	mmu_enable(DEFAULT_MAIR, tcr_for(12), (u64)pt.root, 0);
	kernel_only[8] = 0x1234;

	u64 b = (u64)codebuf;
	trial("LDTR first in its block", b, 0, 0, LDTR_X0_X1);
	trial("LDTR after 20 straight-line instructions", b, 0, 20, LDTR_X0_X1);
	trial("LDTR in the last word of a 1 KiB page (block starts there)", b, 255, 255, LDTR_X0_X1);
	trial("LDTR in the last word of a 1 KiB page, after a block start", b, 240, 255, LDTR_X0_X1);
	trial("LDTR in the first word of a 1 KiB page, block from the previous page", b, 250, 256, LDTR_X0_X1);
	trial("LDTR in the first word of a 4 KiB page, block from the previous page", b, 1020, 1024, LDTR_X0_X1);
	trial("LDTR in the last word of a 4 KiB page", b, 2040, 2047, LDTR_X0_X1);
	trial("STTR after straight-line code", b, 3000, 3010, STTR_X2_X1);
	/* Code rewritten in place where a plain LDR ran before: the block is translated anew. */
	trial_n("LDR (privileged) at the same place: no fault", b, 0, 0, 0xf9400020u /* ldr x0, [x1] */, 0);
	trial("LDTR rewritten over that LDR", b, 0, 0, LDTR_X0_X1);
	/* Through the second virtual address of the same code. */
	trial("LDTR through a second VA of the code", CODE_VA, 0, 20, LDTR_X0_X1);
	trial("LDTR through a second VA, 1 KiB page start", CODE_VA, 250, 256, LDTR_X0_X1);
	/* The target page was just read at EL1 (its EL1 translation cached). */
	(void)*(volatile u64 *)&kernel_only[8];
	trial("LDTR after an EL1 read of the same page", b, 100, 130, LDTR_X0_X1);
	finish("ldtr-layouts");
}
