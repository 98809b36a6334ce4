/*
 * nested-irq: physical interrupt routing with a guest hypervisor (issue 12). An L1 at EL2
 * (QEMU -M virt,virtualization=on; hypemu run --nested) runs one L2 VM with stage 2 on and
 * its stage-1 MMU off; L2 arms the virtual timer (PPI 27, through the GICv3 set up by L1)
 * and spins until someone has taken the interrupt:
 *
 *   run 1: HCR_EL2.IMO = 1, L2 with PSTATE.I = 1. The IRQ is routed to EL2, so L2's mask
 *          does not hold it (Arm ARM D1.3.6, asynchronous exception masking with EL2
 *          enabled): taken at VBAR_EL2 + 0x480 (lower EL, AArch64, IRQ; D1.10.2), ELR_EL2 =
 *          the interrupted L2 instruction, SPSR_EL2 = L2's PSTATE (EL1h, DAIF as L2 had them).
 *   run 2: HCR_EL2.IMO = 0, L2 unmasks: the IRQ goes to L2's own VBAR_EL1 + 0x280 (current
 *          EL with SP_ELx), ELR_EL1/SPSR_EL1 likewise; L1's vector sees nothing.
 *   run 3: HCR_EL2.IMO = 1 again, L2 unmasked with its vectors installed: L1 takes it, L2's
 *          vector sees nothing.
 * Whoever takes it acknowledges through ICC_IAR1_EL1 (INTID 27), stops the timer and writes
 * ICC_EOIR1_EL1 (GICv3, IHI0069), then sets the flag L2 spins on. At EL2 (L1's own code) with
 * IMO = 0 the IRQ is never taken: it waits for L2.
 *
 * Uses the EL2 vectors, enter_guest and l1_exit of nested-l1-el2.S.
 */
#include "runtime.h"
#include "gicv3.h"

#define TIMER_PPI 27

/* Stage 2 (as nested-l1.c): 4 KB granule, 32-bit IPA, walks from level 1. */
#define S2_VALID (1UL << 0)
#define S2_TABLE (1UL << 1)
#define S2_BLOCK_RW ((1UL << 0) | (1UL << 10) | (3UL << 8) | (3UL << 6) | (0xfUL << 2))
#define VTCR_VALUE (32UL | (1UL << 6) | (1UL << 8) | (1UL << 10) | (3UL << 12) | (0UL << 14) | (2UL << 16) | (1UL << 31))
#define HCR_VM (1UL << 0)
#define HCR_IMO (1UL << 4)
#define HCR_RW (1UL << 31)
#define VEC_LOWER64_IRQ 9   /* VBAR_EL2 + 0x480 */
#define VEC_CUR_SPX_IRQ 5   /* VBAR_EL1 + 0x280 */
#define HC_DONE 5

static u64 s2_l1[512] __attribute__((aligned(4096)));
static u64 s2_l2[512] __attribute__((aligned(4096)));
static u8 l2_stack[4096] __attribute__((aligned(16)));

/* What each side saw (written by the handlers, read by L1 after the run). */
struct seen { unsigned hits; unsigned vec; u64 elr, spsr, intid; };
static struct seen at_l1, at_l2;
static volatile u32 irq_flag;

extern char vectors_el2[];
extern char guest_return[];
extern char l1_exit_vendor_smc[];
extern char vectors_el1[];
extern char l2_spin_armed[], l2_spin_end[];
u64 enter_guest(u64 entry, u64 sp_el1, u64 arg);
void l1_exit(u64 status) __attribute__((noreturn));
void el2_handler(struct frame *f, unsigned vec);
u64 l2_spin(volatile u32 *flag, u64 tval);

/*
 * l2_spin(flag, tval): arm the virtual timer tval ticks ahead (CNTV_TVAL_EL0, CNTV_CTL_EL0 =
 * ENABLE), then count iterations until *flag != 0. Armed by L2 itself, so the IRQ can only
 * come while L2 runs, inside [l2_spin_armed, l2_spin_end) whatever the host's speed (QEMU's
 * counter follows the wall clock).
 */
__asm__(".text\n"
	".global l2_spin\n.type l2_spin, %function\n"
	"l2_spin:\n"
	"	msr cntv_tval_el0, x1\n"
	"	mov x3, #1\n"
	"	msr cntv_ctl_el0, x3\n"
	"	isb\n"
	".global l2_spin_armed\nl2_spin_armed:\n"
	"	mov x1, #0\n"
	"l2_spin_loop:\n"
	"	ldr w2, [x0]\n"
	"	add x1, x1, #1\n"
	"	cbz w2, l2_spin_loop\n"
	".global l2_spin_end\nl2_spin_end:\n"
	"	mov x0, x1\n"
	"	ret\n"
	".size l2_spin, . - l2_spin\n");

/* Acknowledge, stop the timer (its level-sensitive PPI drops), end, tell L2. */
static void take_timer_irq(struct seen *s, unsigned vec, u64 elr, u64 spsr)
{
	u64 iar = read_sysreg(S3_0_C12_C12_0);   /* ICC_IAR1_EL1 */
	s->hits++;
	s->vec = vec;
	s->elr = elr;
	s->spsr = spsr;
	s->intid = iar & 0xffffff;
	write_sysreg(0, cntv_ctl_el0);
	isb();
	write_sysreg(iar, S3_0_C12_C12_1);       /* ICC_EOIR1_EL1 */
	irq_flag = 1;
}

/* L2's EL1 vectors (lib/vectors.S calls this). */
void exception_handler(struct frame *f, unsigned vec)
{
	if (vec == VEC_CUR_SPX_IRQ) {
		take_timer_irq(&at_l2, vec, f->elr, f->spsr);
		return;
	}
	unexpected_exception(f, vec);
}

static u64 l2_hvc(u64 fn, u64 a)
{
	register u64 x0 __asm__("x0") = fn;
	register u64 x1 __asm__("x1") = a;
	__asm__ volatile("hvc #0" : "+r"(x0) : "r"(x1) : "memory");
	return x0;
}

/* L2 (EL1, MMU off): its own vectors; arg = 1: unmask IRQs. Spins until the IRQ was taken. */
static void __attribute__((noreturn, noinline)) l2_main(u64 arg)
{
	write_sysreg((u64)vectors_el1, vbar_el1);
	isb();
	if (arg)
		__asm__ volatile("msr daifclr, #2" ::: "memory");
	u64 n = l2_spin(&irq_flag, read_sysreg(cntfrq_el0) / 10000);   /* 100 us */
	__asm__ volatile("msr daifset, #2" ::: "memory");
	l2_hvc(HC_DONE, n);
	for (;;)
		;
}

void el2_handler(struct frame *f, unsigned vec)
{
	unsigned ec = ESR_EC(f->esr);
	if (vec == VEC_LOWER64_IRQ) {
		take_timer_irq(&at_l1, vec, f->elr, f->spsr);
		return;
	}
	if (vec == VEC_LOWER64_SYNC && ec == EC_HVC64 && f->x[0] == HC_DONE) {
		f->x[0] = f->x[1];
		f->elr = (u64)guest_return;
		f->spsr = SPSR_DAIF | 0x9;   /* EL2h */
		return;
	}
	/* QEMU: an SMC with a function ID its PSCI code does not know is UNDEFINED. */
	if (vec == VEC_CUR_SPX_SYNC && ec == EC_UNKNOWN && f->elr == (u64)l1_exit_vendor_smc) {
		f->elr += 4;
		return;
	}
	printf("FAIL unexpected exception at EL2 vector=%p ESR=%p ELR=%p SPSR=%p\n", (u64)vec * 0x80, f->esr, f->elr, f->spsr);
	l1_exit(0xEE);
}

/* One L2 run: HCR_EL2 = hcr; L2 arms the timer 100 us ahead and spins until the IRQ was taken. */
static u64 run_l2(u64 hcr, u64 unmask)
{
	irq_flag = 0;
	write_sysreg((u64)s2_l1 | (1UL << 48), vttbr_el2);
	write_sysreg(VTCR_VALUE, vtcr_el2);
	write_sysreg(hcr, hcr_el2);
	isb();
	u64 n = enter_guest((u64)l2_main, (u64)l2_stack + sizeof l2_stack, unmask);
	write_sysreg(HCR_RW, hcr_el2);
	isb();
	return n;
}

static int in_spin(u64 elr) { return elr >= (u64)l2_spin_armed && elr < (u64)l2_spin_end; }

int main(void)
{
	printf("nested-irq: physical IRQ routing between an L1 hypervisor and its L2 VM\n");
	if ((read_sysreg(CurrentEL) >> 2) != 2) {
		printf("FAIL not started at EL2: run with -M virt,virtualization=on / --nested\n");
		l1_exit(1);
	}
	write_sysreg((u64)vectors_el2, vbar_el2);
	write_sysreg(HCR_RW, hcr_el2);
	isb();
	/* Stage 2: IPA 1..2 GiB identity, 2 MiB blocks (the image, its data and stack). */
	s2_l1[1] = (u64)s2_l2 | S2_VALID | S2_TABLE;
	for (u64 i = 0; i < 8; i++)
		s2_l2[i] = (0x40000000UL + (i << 21)) | S2_BLOCK_RW;
	dsb(ish);
	gicv3_enable_ppi(TIMER_PPI);

	/* ---- run 1: IMO = 1, L2 masked ---- */
	u64 n = run_l2(HCR_VM | HCR_RW | HCR_IMO, 0);
	check_bool("run 1 (IMO, L2 PSTATE.I = 1): L2 spun until the IRQ was taken", n > 0);
	check("run 1: one IRQ at L1's VBAR_EL2 + 0x480 (lower EL, AArch64), none at L2", at_l1.hits * 0x100 + at_l1.vec * 0x10 + at_l2.hits, 0x100 + 0x90);
	check("run 1: INTID 27 (virtual timer PPI)", at_l1.intid, TIMER_PPI);
	check_bool("run 1: ELR_EL2 = the interrupted L2 instruction", in_spin(at_l1.elr));
	check("run 1: SPSR_EL2 = L2's PSTATE: EL1h, D A I F set", at_l1.spsr & 0x3cf, 0x3c5);

	/* ---- run 2: IMO = 0, L2 unmasked ---- */
	n = run_l2(HCR_VM | HCR_RW, 1);
	check_bool("run 2 (no IMO, L2 unmasked): L2 spun until the IRQ was taken", n > 0);
	check("run 2: one IRQ at L2's VBAR_EL1 + 0x280 (current EL, SP_ELx), none at L1", at_l2.hits * 0x100 + at_l2.vec * 0x10 + at_l1.hits, 0x100 + 0x50 + 1);
	check("run 2: INTID 27", at_l2.intid, TIMER_PPI);
	check_bool("run 2: ELR_EL1 = the interrupted L2 instruction", in_spin(at_l2.elr));
	check("run 2: SPSR_EL1: EL1h, D A F set, I clear", at_l2.spsr & 0x3cf, 0x345);

	/* ---- run 3: IMO = 1, L2 unmasked with its own vectors ---- */
	n = run_l2(HCR_VM | HCR_RW | HCR_IMO, 1);
	check_bool("run 3 (IMO, L2 unmasked): L2 spun until the IRQ was taken", n > 0);
	check("run 3: L1 takes it again (two in all), L2's vector still once", at_l1.hits * 0x10 + at_l2.hits, 0x21);
	check_bool("run 3: ELR_EL2 = the interrupted L2 instruction", in_spin(at_l1.elr));
	check("run 3: SPSR_EL2: EL1h, D A F set, I clear", at_l1.spsr & 0x3cf, 0x345);

	printf("RESULT nested-irq: %u failure%s\n", failures, failures == 1 ? "" : "s");
	l1_exit(failures);
}
