/*
 * el0-user: EL0 and unprivileged accesses under stage-1 permissions.
 *
 * AP[2:1] (Arm ARM D8.4 "Memory access control", stage-1 EL1&0):
 *   00 EL1 RW / EL0 none   01 EL1 RW / EL0 RW   11 EL1 RO / EL0 RO.
 * UXN (bit 54) / PXN (bit 53) control execution at EL0 / EL1.
 * LDTR/STTR at EL1 are checked with EL0 permissions (Arm ARM, LDTR:
 * "unprivileged" load), so an EL1 LDTR of an AP=00 page faults.
 *
 * Expected syndromes (Arm ARM, ESR_EL1): EL0 data abort EC 0x24 (lower EL)
 * taken to VBAR_EL1 + 0x400; EL1 LDTR abort EC 0x25 taken to + 0x200;
 * DFSC 0b001111 = permission fault, level 3; WnR = 1 for the store.
 * Exit status = number of failed checks.
 */
#include "mmu.h"

#define G 4096UL
#define U 0x0000001000000000UL

static u8 pool[16 * G] __attribute__((aligned(G)));
static u8 udata[G] __attribute__((aligned(G)));
static u8 ustack[G] __attribute__((aligned(G)));
static u8 kdata[G] __attribute__((aligned(G)));
static u8 urodata[G] __attribute__((aligned(G)));
static struct pt pt;

extern char __user_text_start[], user_main[], user_kread[], user_rowrite[];
#define UVA(sym) (U + ((u64)(sym) - (u64)__user_text_start))

#define MAX_REC 4
static struct { unsigned vec; u64 esr, far, elr; } rec[MAX_REC];
static volatile unsigned nrec;

void exception_handler(struct frame *f, unsigned vec)
{
	unsigned ec = ESR_EC(f->esr);
	if (vec == VEC_LOWER64_SYNC && ec == EC_SVC64 && ESR_ISS(f->esr) == 0) {
		return_to_kernel(f, f->x[0]);
		return;
	}
	if (nrec >= MAX_REC || !((vec == VEC_LOWER64_SYNC && ec == EC_DABT_LOW) ||
				 (vec == VEC_CUR_SPX_SYNC && ec == EC_DABT_CUR)))
		unexpected_exception(f, vec);
	rec[nrec].vec = vec;
	rec[nrec].esr = f->esr;
	rec[nrec].far = f->far;
	rec[nrec].elr = f->elr;
	nrec++;
	f->elr += 4;   /* skip the faulting access */
}

/* ISS[24:14] (ISV and what it validates) is not compared, see mmu-faults.c. */
#define ESR_CMP(esr) ((esr) & ~0x1ffc000UL)

static void check_abort(const char *name, unsigned i, unsigned vec, u64 esr, u64 far, u64 elr)
{
	int ok = i < nrec && rec[i].vec == vec && ESR_CMP(rec[i].esr) == esr && rec[i].far == far && rec[i].elr == elr;
	if (ok) {
		printf("PASS %s (ESR=%p FAR=%p)\n", name, rec[i].esr, rec[i].far);
	} else {
		failures++;
		printf("FAIL %s got vector=%p ESR=%p FAR=%p ELR=%p want vector=%p ESR=%p FAR=%p ELR=%p\n", name,
		       (u64)rec[i].vec * 0x80, rec[i].esr, rec[i].far, rec[i].elr, (u64)vec * 0x80, esr, far, elr);
	}
}

int main(void)
{
	puts("el0-user: EL0 code on user pages, permission faults on kernel-only pages\n");
	install_vectors();
	for (unsigned i = 0; i < G / 8; i++) {
		((u64 *)udata)[i] = 0x0000500000000000UL | i;
		((u64 *)kdata)[i] = 0x00004b0000000000UL | i;
		((u64 *)urodata)[i] = 0x0000520000000000UL | i;
	}

	pt_init(&pt, 12, pool, sizeof pool);
	pt_identity_default(&pt);   /* kernel: AP=00, UXN */
	u64 base = PTE_AF | PTE_SH_INNER | PTE_ATTRIDX(ATTR_NORMAL) | PTE_NG;
	pt_map(&pt, U + 0x0000, (u64)__user_text_start, G, base | PTE_AP_RO_ALL | PTE_PXN, 3);
	pt_map(&pt, U + 0x1000, (u64)udata, G, base | PTE_AP_RW_ALL | PTE_PXN | PTE_UXN, 3);
	pt_map(&pt, U + 0x2000, (u64)ustack, G, base | PTE_AP_RW_ALL | PTE_PXN | PTE_UXN, 3);
	pt_map(&pt, U + 0x3000, (u64)kdata, G, base | PTE_AP_RW_EL1 | PTE_PXN | PTE_UXN, 3);
	pt_map(&pt, U + 0x4000, (u64)urodata, G, base | PTE_AP_RO_ALL | PTE_PXN | PTE_UXN, 3);
	printf("user code %p, user data %p, user stack %p, kernel-only %p, user read-only %p\n",
	       U, U + 0x1000, U + 0x2000, U + 0x3000, U + 0x4000);
	mmu_enable(DEFAULT_MAIR, tcr_for(12) | (1UL << 23) /* EPD1 */, (u64)pt.root, 0);

	/* EL0 run */
	nrec = 0;
	u64 ret = enter_user(UVA(user_main), U + 0x3000, U);
	check("el0 ran and returned via svc", ret, 0x600d);
	volatile u64 *res = (volatile u64 *)(udata + 0x100);
	check("el0 read+write of a user page", res[0], 0x0000500000000000UL);
	check("el0 read of a read-only user page", res[1], 0x0000520000000000UL);
	check("el0 stack push/pop", res[2], 0x0000520000000000UL);
	check_abort("el0 read of kernel-only page: permission fault L3, EC 0x24", 0, VEC_LOWER64_SYNC,
		    ((u64)EC_DABT_LOW << 26) | ESR_IL | 0x0f, U + 0x3124, UVA(user_kread));
	/* The destination of a faulting load may be UNKNOWN, but must not leak the data. */
	check_bool("el0 kernel-only read did not leak", (u32)res[3] != 0x00004b00);
	check_abort("el0 write of read-only user page: permission fault L3, WnR", 1, VEC_LOWER64_SYNC,
		    ((u64)EC_DABT_LOW << 26) | ESR_IL | (1 << 6) | 0x0f, U + 0x4010, UVA(user_rowrite));
	check("read-only user page unchanged", ((volatile u64 *)urodata)[2], 0x0000520000000002UL);
	check("el0 aborts taken", nrec, 2);

	/* EL1 unprivileged (LDTR) and privileged accesses */
	u64 v, pc;
	__asm__ volatile("ldtr %0, [%1]" : "=r"(v) : "r"(U + 0x1008) : "memory");
	check("el1 ldtr of a user page", v, 0x0000500000000001UL);
	__asm__ volatile("sttr %0, [%1]" :: "r"(0x5757UL), "r"(U + 0x1ff8) : "memory");
	check("el1 sttr to a user page", ((volatile u64 *)udata)[511], 0x5757);
	v = *(volatile u64 *)(U + 0x3010);
	check("el1 ldr of the kernel-only page", v, 0x00004b0000000002UL);
	nrec = 0;
	v = 0x1234;
	__asm__ volatile("adr %0, 1f\n1: ldtr %1, [%2]" : "=&r"(pc), "+r"(v) : "r"(U + 0x3048) : "memory");
	check_abort("el1 ldtr of kernel-only page: permission fault L3, EC 0x25", 0, VEC_CUR_SPX_SYNC,
		    ((u64)EC_DABT_CUR << 26) | ESR_IL | 0x0f, U + 0x3048, pc);
	check_bool("el1 ldtr faulting load did not leak", v != 0x00004b0000000009UL);
	finish(GUEST_NAME);
}
