/*
 * nested-l1: an L1 mini-hypervisor. Starts at EL2h (QEMU -M virt,virtualization=on;
 * hypemu run --nested), builds stage-2 tables for two L2 VMs and runs them at EL1 with
 * their stage-1 MMU off, so every L2 data address is an IPA:
 *
 *   VM A: VMID 1, HCR_EL2.TVM set (L1 traps and emulates MAIR_EL1 writes).
 *   VM B: VMID 2, no TVM; its own stage-2 tables map the same IPA to a different page.
 *
 * Checked from EL2 (ESR/FAR/HPFAR/ELR as the Arm ARM says hardware sets them):
 *   - an L2 HVC (EC 0x16, imm16, ELR_EL2 = the next instruction), and the value returned;
 *   - an L2 MAIR_EL1 write trapped by TVM (EC 0x18, ISS Op0/Op1/CRn/CRm/Op2/Rt/Direction),
 *     emulated by L1 and read back by L2;
 *   - stage-2 translation faults at level 2 and 3 and a permission fault (EC 0x24, DFSC,
 *     WnR, FAR_EL2, HPFAR_EL2), fixed by mapping the page, and the access retried;
 *   - break-before-make remaps of a page (invalid descriptor, DSB, TLBI IPAS2E1IS,
 *     DSB, TLBI VMALLE1IS, DSB, new descriptor), by IPA, by last-level IPA with a TTL
 *     hint, and by IPA range (TLBI RIPAS2E1IS): L2 never sees the old page again;
 *   - VMID separation: the same IPA in VM A and VM B reads each VM's own page, before and
 *     after the other ran; an unmap of VM B's page with TLBI VMALLS12E1IS faults again;
 *   - L1's own trap controls for VM B's last run: TID3 (an ID register read, EC 0x18, L1
 *     answers), TRVM (a MAIR_EL1 read), TWI (WFI, EC 0x01, ELR = the WFI) and TSC (SMC,
 *     EC 0x17, ELR = the SMC, L1's return value in X0).
 *
 * Stage 2 (Arm ARM D8.3 descriptor formats, D8.4 stage-2 permissions, D8.5 MemAttr):
 * 4 KB granule, 32-bit IPA (VTCR_EL2.T0SZ = 32), walks start at level 1 (SL0 = 1).
 * IPA 0x4000_0000 (2 MiB block, the image) and 0x0900_0000 (UART page) are identity
 * mapped; IPA 0x5000_0000.. is the test window.
 *
 * Exit: l1_exit (nested-l1-el2.S): hypemu vendor exit over SMC, then PSCI SYSTEM_OFF.
 *
 * Size (~590 lines), why it stays whole: it is one guest program, a scripted sequence of the
 * checks listed above; the L1 EL2 handler, the L2 bodies and the phases main() runs share the file-static state
 * (vms, cur, reports, table_pool) and read in the order they run.
 */
#include "runtime.h"

/* ---- stage-2 descriptors (Arm ARM D8.3, D8.4.x stage 2 access permissions) ---- */
#define S2_VALID (1UL << 0)
#define S2_TABLE (1UL << 1)          /* levels 0-2: table; level 3: page */
#define S2_MEMATTR(x) ((u64)(x) << 2)  /* MemAttr[3:0] (FWB off) */
#define S2_NORMAL_WB S2_MEMATTR(0xf)
#define S2_DEVICE_nGnRE S2_MEMATTR(0x1)
#define S2AP_RO (1UL << 6)
#define S2AP_RW (3UL << 6)
#define S2_SH_INNER (3UL << 8)
#define S2_AF (1UL << 10)
#define S2_XN (2UL << 53)            /* XN[1:0] = 0b10: not executable at EL1 or EL0 */
#define S2_OA_MASK 0x0000fffffffff000UL

#define S2_PAGE_RW (S2_VALID | S2_TABLE | S2_AF | S2_SH_INNER | S2AP_RW | S2_NORMAL_WB)
#define S2_PAGE_RO (S2_VALID | S2_TABLE | S2_AF | S2_SH_INNER | S2AP_RO | S2_NORMAL_WB)
#define S2_BLOCK_RW (S2_VALID | S2_AF | S2_SH_INNER | S2AP_RW | S2_NORMAL_WB)
#define S2_DEVICE (S2_VALID | S2_TABLE | S2_AF | S2AP_RW | S2_DEVICE_nGnRE | S2_XN)

/* VTCR_EL2: T0SZ 32, SL0 1 (level 1), IRGN0/ORGN0 WB-WA, SH0 inner, TG0 4 KB, PS 40 bits, RES1 bit 31. */
#define VTCR_VALUE (32UL | (1UL << 6) | (1UL << 8) | (1UL << 10) | (3UL << 12) | (0UL << 14) | (2UL << 16) | (1UL << 31))
/* HCR_EL2 bits (Arm ARM, HCR_EL2 register description). */
#define HCR_VM (1UL << 0)
#define HCR_TWI (1UL << 13)
#define HCR_TSC (1UL << 19)
#define HCR_TID3 (1UL << 18)
#define HCR_TVM (1UL << 26)
#define HCR_TRVM (1UL << 30)
#define HCR_RW (1UL << 31)

/* ESR_EL2 fields for data aborts (Arm ARM, ISS encoding for an exception from a Data Abort). */
#define EC_WFX 0x01
#define EC_SMC64 0x17
/* ISS for a trapped WFx from AArch64: CV = 1, COND = 0b1110, TI[1:0] (00 WFI) */
#define ISS_WFX_A64 ((1UL << 24) | (0xeUL << 20))
#define ISS_ISV (1UL << 24)
#define ISS_WNR (1UL << 6)
#define DFSC(esr) ((esr) & 0x3f)
#define DFSC_TRANS_L2 0x06
#define DFSC_TRANS_L3 0x07
#define DFSC_PERM_L3 0x0f

/*
 * TLB maintenance by IPA / VMID, written as SYS so no -march beyond v8.1 is needed
 * (Arm ARM C5.5, TLBI instruction encodings: op1 = 4 for the EL2-executed stage-2 forms).
 *   TLBI IPAS2E1IS    op1 4, CRm 0, op2 1      TLBI IPAS2LE1IS  op1 4, CRm 0, op2 5
 *   TLBI RIPAS2E1IS   op1 4, CRm 0, op2 2      TLBI VMALLS12E1IS op1 4, CRm 3, op2 6
 *   TLBI VMALLE1IS    op1 0, CRm 3, op2 0
 */
#define tlbi_ipas2e1is(x) __asm__ volatile("sys #4, c8, c0, #1, %0" :: "r"((u64)(x)) : "memory")
#define tlbi_ipas2le1is(x) __asm__ volatile("sys #4, c8, c0, #5, %0" :: "r"((u64)(x)) : "memory")
#define tlbi_ripas2e1is(x) __asm__ volatile("sys #4, c8, c0, #2, %0" :: "r"((u64)(x)) : "memory")
#define tlbi_vmalls12e1is() __asm__ volatile("tlbi vmalls12e1is" ::: "memory")
#define tlbi_vmalle1is() __asm__ volatile("tlbi vmalle1is" ::: "memory")

/* TTL hint (FEAT_TTL), operand bits [47:44]: TTL[3:2] = 0b01 (4 KB granule), TTL[1:0] = level. */
#define TTL_4K_L3 (0x7UL << 44)

/* ---- L1's view of things ---- */
#define IPA_WIN 0x50000000UL
#define IPA_UART UART0_BASE
#define IPA_IMAGE 0x40000000UL     /* 2 MiB block holding the image */
#define MAIR_A 0x000000000044ff04UL
#define MAIR_B 0x0000000000ff4404UL

/* Hypercalls from L2 (x0 = function). */
enum { HC_ECHO = 1, HC_REPORT, HC_REMAP, HC_REMAP_RANGE, HC_DONE };
/* Values L2 reports back (x1 = slot, x2 = value). */
enum {
	R_ECHO_RET, R_MAIR_A, R_LOAD_A1, R_LOAD_A2, R_LOAD_P, R_STORE_P, R_MAIR_B, R_LOAD_B,
	R_MAIR_A_AGAIN, R_LOAD_A_AGAIN, R_LOAD_A3, R_LOAD_B_AGAIN, R_ID_PFR0, R_MAIR_TRVM, R_SMC_RET, R_COUNT
};

#define MAGIC_A1 0xa1a1a1a1u
#define MAGIC_A2 0xa2a2a2a2u
#define MAGIC_A3 0xa3a3a3a3u
#define MAGIC_P 0x9a9a9a9au
#define MAGIC_B 0xb0b0b0b0u

enum { PG_A1, PG_A2, PG_A3, PG_P, PG_B, NPAGES };
static u8 data_pages[NPAGES][4096] __attribute__((aligned(4096)));
static u64 table_pool[16][512] __attribute__((aligned(4096)));
static unsigned tables_used;
static u8 l2_stacks[2][4096] __attribute__((aligned(16)));

struct vm {
	const char *name;
	u64 vmid;
	u64 hcr;
	u64 mair;       /* L2's MAIR_EL1 while it is not running (context switch) */
	u64 *l1;        /* level-1 table (IPA 4 GiB: 4 entries) */
	u64 *l2_high;   /* level-2 table for IPA 1..2 GiB */
	u64 *l3_win;    /* level-3 table for IPA 0x5000_0000.., built on the first fault */
	u64 stack_top;
	/* what L1 saw */
	unsigned tvm_traps, s2_faults, hvcs;
	u64 last_sysreg_esr, last_sysreg_val;
	u64 fault_esr[4], fault_far[4], fault_hpfar[4];
	u64 echo_esr, echo_elr, echo_want_elr;
	/* the HCR_EL2 trap phase (TID3, TRVM, TWI, TSC) */
	unsigned id_traps, trvm_traps, wfi_traps, smc_traps;
	u64 id_esr, trvm_esr, wfi_esr, wfi_elr, wfi_want_elr, smc_esr, smc_elr, smc_want_elr;
};
#define FAKE_PFR0 0x1111222233334444UL

static struct vm vms[2];
static struct vm *cur;
static u64 reports[R_COUNT];

extern char vectors_el2[];
extern char guest_return[];
extern char l1_exit_vendor_smc[];
u64 enter_guest(u64 entry, u64 sp_el1, u64 arg);
void l1_exit(u64 status) __attribute__((noreturn));
void el2_handler(struct frame *f, unsigned vec);

static u64 *alloc_table(void)
{
	if (tables_used == sizeof(table_pool) / sizeof(table_pool[0])) {
		printf("FAIL stage-2 table pool exhausted\n");
		l1_exit(0xEF);
	}
	u64 *t = table_pool[tables_used++];
	memset(t, 0, 4096);
	return t;
}

static u64 vttbr(const struct vm *vm) { return (vm->vmid << 48) | (u64)vm->l1; }
static u64 l3_index(u64 ipa) { return (ipa >> 12) & 511; }

static void build_vm(struct vm *vm, const char *name, u64 vmid, u64 hcr, u64 mair, int stack)
{
	vm->name = name;
	vm->vmid = vmid;
	vm->hcr = hcr;
	vm->mair = mair;
	vm->l1 = alloc_table();
	u64 *l2_low = alloc_table();
	u64 *l3_uart = alloc_table();
	vm->l2_high = alloc_table();
	vm->l1[0] = (u64)l2_low | S2_VALID | S2_TABLE;
	vm->l1[1] = (u64)vm->l2_high | S2_VALID | S2_TABLE;
	l2_low[(IPA_UART >> 21) & 511] = (u64)l3_uart | S2_VALID | S2_TABLE;
	l3_uart[l3_index(IPA_UART)] = IPA_UART | S2_DEVICE;
	vm->l2_high[(IPA_IMAGE >> 21) & 511] = IPA_IMAGE | S2_BLOCK_RW;
	vm->stack_top = (u64)l2_stacks[stack] + sizeof(l2_stacks[stack]);
}

static void map_window_table(struct vm *vm)
{
	if (!vm->l3_win) {
		vm->l3_win = alloc_table();
		dsb(ishst);
		vm->l2_high[(IPA_WIN >> 21) & 511] = (u64)vm->l3_win | S2_VALID | S2_TABLE;
	}
}

static void set_page(struct vm *vm, u64 ipa, u64 desc)
{
	map_window_table(vm);
	vm->l3_win[l3_index(ipa)] = desc;
	dsb(ishst);
}

/*
 * Break-before-make (Arm ARM D8.16.1 "Using break-before-make when updating translation
 * table entries"): invalid descriptor, DSB, TLBI by IPA, DSB, TLBI of stage-1 entries
 * that may have been built from the old stage-2 mapping (VMALLE1IS, for the current
 * VMID), DSB, then the new descriptor. `how` picks the by-IPA invalidation.
 */
enum remap_how { BY_IPA, BY_RANGE };
static void bbm_remap(struct vm *vm, u64 ipa, u64 pa, enum remap_how how)
{
	vm->l3_win[l3_index(ipa)] = 0;
	dsb(ishst);
	if (how == BY_IPA)
		tlbi_ipas2e1is(ipa >> 12);
	else
		/* RIPAS2E1IS: TG[47:46] = 01 (4 KB), SCALE 0, NUM 0 = 2 pages from BaseADDR[36:0] = IPA[48:12]. */
		tlbi_ripas2e1is((1UL << 46) | (ipa >> 12));
	dsb(ish);
	tlbi_vmalle1is();
	dsb(ish);
	isb();
	vm->l3_win[l3_index(ipa)] = pa | S2_PAGE_RW;
	dsb(ishst);
	isb();
}

static void leave_guest(struct frame *f, u64 value)
{
	f->x[0] = value;
	f->elr = (u64)guest_return;
	f->spsr = SPSR_DAIF | 0x9;   /* EL2h */
}

static void hvc_from_l2(struct frame *f)
{
	struct vm *vm = cur;
	vm->hvcs++;
	switch (f->x[0]) {
	case HC_ECHO:
		vm->echo_esr = f->esr;
		vm->echo_elr = f->elr;
		vm->echo_want_elr = f->x[2];
		f->x[0] = f->x[1] + 1;
		return;
	case HC_REPORT:
		if (f->x[1] < R_COUNT)
			reports[f->x[1]] = f->x[2];
		f->x[0] = 0;
		return;
	case HC_REMAP:
		bbm_remap(vm, IPA_WIN, (u64)data_pages[PG_A2], BY_IPA);
		f->x[0] = 0;
		return;
	case HC_REMAP_RANGE:
		bbm_remap(vm, IPA_WIN, (u64)data_pages[PG_A3], BY_RANGE);
		f->x[0] = 0;
		return;
	case HC_DONE:
		leave_guest(f, f->x[1]);
		return;
	default:
		printf("FAIL %s: unknown hypercall %p\n", vm->name, f->x[0]);
		l1_exit(0xEE);
	}
}

/* Trapped L2 system-register access (EC 0x18): emulates MSR MAIR_EL1 (HCR_EL2.TVM). */
static void sysreg_from_l2(struct frame *f)
{
	struct vm *vm = cur;
	u64 iss = ESR_ISS(f->esr);
	unsigned rt = (iss >> 5) & 31;
	/* ISS: Op0[21:20] Op2[19:17] Op1[16:14] CRn[13:10] Rt[9:5] CRm[4:1] Direction[0] (0 = write). */
	u64 enc = iss & 0x3ffc1f;
	u64 mair_write = (3UL << 20) | (0UL << 17) | (0UL << 14) | (10UL << 10) | (2UL << 1) | 0;
	u64 mair_read = mair_write | 1;
	u64 pfr0_read = (3UL << 20) | (0UL << 17) | (0UL << 14) | (0UL << 10) | (4UL << 1) | 1; /* ID_AA64PFR0_EL1 */
	if (enc == pfr0_read) {          /* HCR_EL2.TID3: L1 says what L2's CPU has */
		vm->id_traps++;
		vm->id_esr = f->esr;
		if (rt != 31)
			f->x[rt] = FAKE_PFR0;
		f->elr += 4;
		return;
	}
	if (enc == mair_read) {          /* HCR_EL2.TRVM: L2 reads what it wrote */
		vm->trvm_traps++;
		vm->trvm_esr = f->esr;
		if (rt != 31)
			f->x[rt] = vm->mair;
		f->elr += 4;
		return;
	}
	vm->tvm_traps++;
	vm->last_sysreg_esr = f->esr;
	if (enc != mair_write) {
		printf("FAIL %s: unexpected trapped sysreg access ESR=%p\n", vm->name, f->esr);
		l1_exit(0xEE);
	}
	u64 v = rt == 31 ? 0 : f->x[rt];
	vm->last_sysreg_val = v;
	vm->mair = v;
	write_sysreg(v, mair_el1);
	f->elr += 4;
}

/* Stage-2 fault from L2 (EC 0x24): map the page the window policy says, then retry. */
static void s2_fault_from_l2(struct frame *f)
{
	struct vm *vm = cur;
	u64 hpfar = read_sysreg(hpfar_el2);
	u64 ipa = ((hpfar >> 4) << 12) | (f->far & 0xfff);
	unsigned n = vm->s2_faults++;
	if (n < 4) {
		vm->fault_esr[n] = f->esr;
		vm->fault_far[n] = f->far;
		vm->fault_hpfar[n] = hpfar;
	}
	u64 page = ipa & ~0xfffUL;
	if (vm == &vms[0] && page == IPA_WIN) {
		set_page(vm, page, (u64)data_pages[PG_A1] | S2_PAGE_RW);
	} else if (vm == &vms[0] && page == IPA_WIN + 0x1000 && DFSC(f->esr) == DFSC_TRANS_L3) {
		set_page(vm, page, (u64)data_pages[PG_P] | S2_PAGE_RO);   /* read-only first */
	} else if (vm == &vms[0] && page == IPA_WIN + 0x1000 && DFSC(f->esr) == DFSC_PERM_L3) {
		/* Permission upgrade RO -> RW: no break needed, but the old entry must go
		 * (TLBI IPAS2LE1IS with a TTL hint: the leaf is a level-3 4 KB page). */
		set_page(vm, page, (u64)data_pages[PG_P] | S2_PAGE_RW);
		tlbi_ipas2le1is((page >> 12) | TTL_4K_L3);
		dsb(ish);
		isb();
	} else if (vm == &vms[1] && page == IPA_WIN) {
		set_page(vm, page, (u64)data_pages[PG_B] | S2_PAGE_RW);
	} else {
		printf("FAIL %s: unexpected stage-2 fault ESR=%p FAR=%p HPFAR=%p ELR=%p\n", vm->name, f->esr, f->far,
		       hpfar, f->elr);
		l1_exit(0xEE);
	}
}

void el2_handler(struct frame *f, unsigned vec)
{
	unsigned ec = ESR_EC(f->esr);
	if (vec == VEC_LOWER64_SYNC && cur) {
		if (ec == EC_HVC64)
			return hvc_from_l2(f);
		if (ec == EC_SYS64)
			return sysreg_from_l2(f);
		if (ec == EC_DABT_LOW)
			return s2_fault_from_l2(f);
		if (ec == EC_WFX) {      /* HCR_EL2.TWI: ELR_EL2 is the WFI itself */
			cur->wfi_traps++;
			cur->wfi_esr = f->esr;
			cur->wfi_elr = f->elr;
			cur->wfi_want_elr = f->x[3];
			f->elr += 4;
			return;
		}
		if (ec == EC_SMC64) {    /* HCR_EL2.TSC: ELR_EL2 is the SMC itself (preferred return) */
			cur->smc_traps++;
			cur->smc_esr = f->esr;
			cur->smc_elr = f->elr;
			cur->smc_want_elr = f->x[3];
			f->x[0] = 0x77;
			f->elr += 4;
			return;
		}
	}
	/* QEMU: an SMC with a function ID its PSCI code does not know is UNDEFINED. */
	if (vec == VEC_CUR_SPX_SYNC && ec == EC_UNKNOWN && f->elr == (u64)l1_exit_vendor_smc) {
		f->elr += 4;
		return;
	}
	printf("FAIL unexpected exception at EL2 vector=%p ESR=%p ELR=%p FAR=%p SPSR=%p\n", (u64)vec * 0x80, f->esr,
	       f->elr, f->far, f->spsr);
	l1_exit(0xEE);
}

/* ---------------- L2 code (EL1, stage-1 MMU off: VA = IPA) ---------------- */

static inline u64 l2_hvc(u64 fn, u64 a, u64 b)
{
	register u64 x0 __asm__("x0") = fn;
	register u64 x1 __asm__("x1") = a;
	register u64 x2 __asm__("x2") = b;
	__asm__ volatile("hvc #0" : "+r"(x0) : "r"(x1), "r"(x2) : "memory");
	return x0;
}
#define l2_report(slot, v) l2_hvc(HC_REPORT, (slot), (v))
#define win32(off) (*(volatile u32 *)(IPA_WIN + (off)))

/* VM A, first run. */
static void __attribute__((noreturn, noinline)) l2_vm_a(u64 arg)
{
	/* HVC #0x42 with x2 = the address HVC returns to (ELR_EL2 must be the next instruction). */
	register u64 x0 __asm__("x0") = HC_ECHO;
	register u64 x1 __asm__("x1") = 0x1234;
	register u64 x2 __asm__("x2");
	__asm__ volatile("adr x2, 1f\n hvc #0x42\n1:" : "+r"(x0), "=&r"(x2) : "r"(x1) : "memory");
	l2_report(R_ECHO_RET, x0);

	/* A VM-register write, trapped by HCR_EL2.TVM: Rt is x5. */
	__asm__ volatile("mov x5, %0\n msr mair_el1, x5\n isb" :: "r"(MAIR_A) : "x5");
	l2_report(R_MAIR_A, read_sysreg(mair_el1));

	l2_report(R_LOAD_A1, win32(0x10));          /* stage-2 translation fault, level 2 */
	l2_hvc(HC_REMAP, 0, 0);                      /* L1: break-before-make to page A2 */
	l2_report(R_LOAD_A2, win32(0x10));
	l2_report(R_LOAD_P, win32(0x1008));          /* translation fault, level 3: mapped RO */
	win32(0x1008) = 0x5a5a0007;                  /* permission fault: made RW */
	l2_report(R_STORE_P, win32(0x1008));
	l2_hvc(HC_DONE, arg, 0);
	for (;;)
		;
}

/* VM B: no TVM; the same IPA window is its own page. */
static void __attribute__((noreturn, noinline)) l2_vm_b(u64 arg)
{
	__asm__ volatile("msr mair_el1, %0\n isb" :: "r"(MAIR_B));
	l2_report(R_MAIR_B, read_sysreg(mair_el1));
	l2_report(arg ? R_LOAD_B_AGAIN : R_LOAD_B, win32(0x10));
	l2_hvc(HC_DONE, arg, 0);
	for (;;)
		;
}

/* VM B, third run: L1 traps ID registers (TID3), VM-register reads (TRVM), WFI (TWI) and SMC (TSC). */
static void __attribute__((noreturn, noinline)) l2_vm_b_traps(u64 arg)
{
	l2_report(R_ID_PFR0, read_sysreg(id_aa64pfr0_el1));
	l2_report(R_MAIR_TRVM, read_sysreg(mair_el1));
	__asm__ volatile("adr x3, 1f\n1: wfi" ::: "x3", "memory");
	register u64 x0 __asm__("x0") = 0xc2000042;
	__asm__ volatile("adr x3, 1f\n1: smc #7" : "+r"(x0) :: "x3", "memory");
	l2_report(R_SMC_RET, x0);
	l2_hvc(HC_DONE, arg, 0);
	for (;;)
		;
}

/* VM A, second run (after VM B ran). */
static void __attribute__((noreturn, noinline)) l2_vm_a_again(u64 arg)
{
	l2_report(R_MAIR_A_AGAIN, read_sysreg(mair_el1));
	l2_report(R_LOAD_A_AGAIN, win32(0x10));
	l2_hvc(HC_REMAP_RANGE, 0, 0);              /* L1: break-before-make with TLBI RIPAS2E1IS */
	l2_report(R_LOAD_A3, win32(0x10));
	l2_hvc(HC_DONE, arg, 0);
	for (;;)
		;
}

/* ---------------- L1 (EL2) ---------------- */

static u64 run_vm(struct vm *vm, void (*entry)(u64), u64 arg)
{
	cur = vm;
	write_sysreg(vttbr(vm), vttbr_el2);
	write_sysreg(VTCR_VALUE, vtcr_el2);
	write_sysreg(vm->hcr, hcr_el2);
	write_sysreg(vm->mair, mair_el1);
	isb();
	u64 r = enter_guest((u64)entry, vm->stack_top, arg);
	vm->mair = read_sysreg(mair_el1);
	write_sysreg(HCR_RW, hcr_el2);
	isb();
	cur = 0;
	return r;
}

static u32 page_word(int pg, u64 off) { return *(volatile u32 *)(data_pages[pg] + off); }

/* L1 at EL2: its vectors, the backing pages' contents, both VMs' stage 2 (B's window mapped). */
static void l1_init(struct vm *a, struct vm *b)
{
	u64 el = read_sysreg(CurrentEL) >> 2;
	if (el != 2) {
		printf("FAIL not started at EL2 (CurrentEL=%p): run with -M virt,virtualization=on / --nested\n", el);
		l1_exit(1);
	}
	write_sysreg((u64)vectors_el2, vbar_el2);
	write_sysreg(HCR_RW, hcr_el2);
	isb();

	*(volatile u32 *)(data_pages[PG_A1] + 0x10) = MAGIC_A1;
	*(volatile u32 *)(data_pages[PG_A2] + 0x10) = MAGIC_A2;
	*(volatile u32 *)(data_pages[PG_A3] + 0x10) = MAGIC_A3;
	*(volatile u32 *)(data_pages[PG_P] + 0x8) = MAGIC_P;
	*(volatile u32 *)(data_pages[PG_B] + 0x10) = MAGIC_B;

	build_vm(a, "vm-a", 1, HCR_VM | HCR_RW | HCR_TVM, 0, 0);
	build_vm(b, "vm-b", 2, HCR_VM | HCR_RW, 0, 1);
	set_page(b, IPA_WIN, (u64)data_pages[PG_B] | S2_PAGE_RW);   /* B's window is mapped up front */
	dsb(ish);
}

/* VM A: an HVC, a TVM-trapped MAIR_EL1 write, three stage-2 faults L1 fixes (with BBM and TLBI). */
static void vm_a_first(struct vm *a)
{
	check("vm-a ran to its done hypercall", run_vm(a, l2_vm_a, 0xa), 0xa);
	check("vm-a HVC: ESR_EL2.EC = 0x16, IL, imm16 = 0x42", a->echo_esr, (0x16UL << 26) | ESR_IL | 0x42);
	check("vm-a HVC: ELR_EL2 = the instruction after HVC", a->echo_elr, a->echo_want_elr);
	check("vm-a HVC: return value reached L2", reports[R_ECHO_RET], 0x1235);
	check("vm-a TVM: one trapped MAIR_EL1 write", a->tvm_traps, 1);
	check("vm-a TVM: ESR_EL2 = EC 0x18, IL, MAIR_EL1 write from x5", a->last_sysreg_esr,
	      (0x18UL << 26) | ESR_IL | (3UL << 20) | (10UL << 10) | (5UL << 5) | (2UL << 1));
	check("vm-a TVM: L1 emulated the write, L2 reads it back", reports[R_MAIR_A], MAIR_A);
	check("vm-a stage-2 faults taken", a->s2_faults, 3);
	check("vm-a fault 1: translation fault level 2, read, ISV (ESR_EL2)",
	      a->fault_esr[0] & (0x3fUL << 26 | ISS_ISV | ISS_WNR | 0x3f), (0x24UL << 26) | ISS_ISV | DFSC_TRANS_L2);
	check("vm-a fault 1: FAR_EL2 = the L2 address", a->fault_far[0], IPA_WIN + 0x10);
	check("vm-a fault 1: HPFAR_EL2 = IPA[47:12] << 4", a->fault_hpfar[0], (IPA_WIN >> 12) << 4);
	check("vm-a load after the fault was fixed (retried)", reports[R_LOAD_A1], MAGIC_A1);
	check("vm-a load after break-before-make + TLBI IPAS2E1IS", reports[R_LOAD_A2], MAGIC_A2);
	check("vm-a fault 2: translation fault level 3, read",
	      a->fault_esr[1] & (0x3fUL << 26 | ISS_WNR | 0x3f), (0x24UL << 26) | DFSC_TRANS_L3);
	check("vm-a fault 2: HPFAR_EL2", a->fault_hpfar[1], ((IPA_WIN + 0x1000) >> 12) << 4);
	check("vm-a load of the read-only page", reports[R_LOAD_P], MAGIC_P);
	check("vm-a fault 3: permission fault level 3, write (WnR)",
	      a->fault_esr[2] & (0x3fUL << 26 | ISS_WNR | 0x3f), (0x24UL << 26) | ISS_WNR | DFSC_PERM_L3);
	check("vm-a fault 3: FAR_EL2", a->fault_far[2], IPA_WIN + 0x1008);
	check("vm-a store retried after RW + TLBI IPAS2LE1IS (TTL)", reports[R_STORE_P], 0x5a5a0007);
	check("vm-a store reached the backing page", page_word(PG_P, 0x8), 0x5a5a0007);
}

/* VM B, then VM A again: each its own MAIR_EL1 and its own page at the same IPA (VMID 1, 2). */
static void vms_apart(struct vm *a, struct vm *b)
{
	check("vm-b ran to its done hypercall", run_vm(b, l2_vm_b, 0), 0);
	check("vm-b MAIR_EL1 write not trapped (no TVM)", b->tvm_traps, 0);
	check("vm-b MAIR_EL1 reads its own value", reports[R_MAIR_B], MAIR_B);
	check("vm-b same IPA, own stage 2 (VMID 2): its own page", reports[R_LOAD_B], MAGIC_B);
	check("vm-b no stage-2 fault", b->s2_faults, 0);

	/* ---- VM A again ---- */
	check("vm-a re-entered", run_vm(a, l2_vm_a_again, 0xa2), 0xa2);
	check("vm-a MAIR_EL1 restored by L1's context switch", reports[R_MAIR_A_AGAIN], MAIR_A);
	check("vm-a same IPA after vm-b ran: still its own page", reports[R_LOAD_A_AGAIN], MAGIC_A2);
	check("vm-a load after break-before-make + TLBI RIPAS2E1IS (range)", reports[R_LOAD_A3], MAGIC_A3);
	check("vm-a no further stage-2 faults", a->s2_faults, 3);
}

/* VM B again, after L1 unmapped its page: TLBI VMALLS12E1IS for VMID 2. */
static void vm_b_unmapped(struct vm *a, struct vm *b)
{
	b->l3_win[l3_index(IPA_WIN)] = 0;
	dsb(ishst);
	write_sysreg(vttbr(b), vttbr_el2);   /* VMALLS12E1IS acts on the current VMID */
	isb();
	tlbi_vmalls12e1is();
	dsb(ish);
	check("vm-b re-entered", run_vm(b, l2_vm_b, 1), 1);
	check("vm-b unmapped page faulted after TLBI VMALLS12E1IS", b->s2_faults, 1);
	check("vm-b fault: HPFAR_EL2", b->fault_hpfar[0], (IPA_WIN >> 12) << 4);
	check("vm-b load after remapping", reports[R_LOAD_B_AGAIN], MAGIC_B);
	check("vm-a and vm-b HVC counts", a->hvcs * 100 + b->hvcs, 14 * 100 + 6);
}

/* VM B once more, with L1 trapping TID3, TRVM, TWI and TSC. */
static void vm_b_traps(struct vm *b)
{
	b->hcr = HCR_VM | HCR_RW | HCR_TID3 | HCR_TRVM | HCR_TWI | HCR_TSC;
	check("vm-b trap phase ran", run_vm(b, l2_vm_b_traps, 2), 2);
	check("vm-b TID3: one trap, ESR_EL2 = EC 0x18 read of ID_AA64PFR0_EL1", b->id_traps * 0x100000000UL + (b->id_esr & ~(31UL << 5)),
	      0x100000000UL + ((0x18UL << 26) | ESR_IL | (3UL << 20) | (4UL << 1) | 1));
	check("vm-b TID3: L2 reads the value L1 gave", reports[R_ID_PFR0], FAKE_PFR0);
	check("vm-b TRVM: one trap, ESR_EL2 = EC 0x18 read of MAIR_EL1", b->trvm_traps * 0x100000000UL + (b->trvm_esr & ~(31UL << 5)),
	      0x100000000UL + ((0x18UL << 26) | ESR_IL | (3UL << 20) | (10UL << 10) | (2UL << 1) | 1));
	check("vm-b TRVM: L2 reads its own MAIR_EL1 through L1", reports[R_MAIR_TRVM], MAIR_B);
	check("vm-b TWI: one trap, ESR_EL2 = EC 0x01, CV/COND, WFI (TI = 0)", b->wfi_traps * 0x100000000UL + b->wfi_esr,
	      0x100000000UL + ((0x01UL << 26) | ESR_IL | ISS_WFX_A64));
	check("vm-b TWI: ELR_EL2 = the WFI", b->wfi_elr, b->wfi_want_elr);
	check("vm-b TSC: one trap, ESR_EL2 = EC 0x17, imm16 = 7", b->smc_traps * 0x100000000UL + b->smc_esr,
	      0x100000000UL + ((0x17UL << 26) | ESR_IL | 7));
	check("vm-b TSC: ELR_EL2 = the SMC", b->smc_elr, b->smc_want_elr);
	check("vm-b TSC: L1's return value reached L2", reports[R_SMC_RET], 0x77);
}

int main(void)
{
	printf("nested-l1: an L1 hypervisor at EL2 running two L2 VMs\n");
	struct vm *a = &vms[0], *b = &vms[1];
	l1_init(a, b);
	vm_a_first(a);
	vms_apart(a, b);
	vm_b_unmapped(a, b);
	vm_b_traps(b);
	printf("RESULT nested-l1: %u failure%s\n", failures, failures == 1 ? "" : "s");
	l1_exit(failures);
}
