/*
 * mmu-faults: stage-1 translation, access-flag and permission faults at
 * each lookup level, taken at EL1, repaired by the handler and retried.
 *
 * 4 KB granule, 48-bit VA (lookup levels 0-3). Every test gets its own
 * 512 GB window (its own level-0 entry), maps it to RAM with a leaf at
 * level 1 (1 GB block), 2 (2 MB block) or 3 (4 KB page), then breaks one
 * descriptor (Arm ARM D8.3 descriptor formats, D8.4 access control):
 *   translation fault: descriptor bit[0] = 0 (at a table or leaf level)
 *   access-flag fault: leaf AF (bit 10) = 0
 *   permission fault, write: leaf AP[2:1] = 0b10 (read-only) and a store
 *   permission fault, read:  leaf AP[2:1] = 0b00 (no EL0 access) and an
 *                            EL1 LDTR* (unprivileged load)
 *   permission fault, exec:  leaf PXN (bit 53) = 1 and a BLR into it
 * The handler checks nothing itself: it records ESR/FAR/ELR, restores the
 * descriptor, does DSB ISHST + TLBI VAAE1IS + DSB ISH + ISB, and returns
 * to the same instruction, which must then complete exactly once.
 *
 * Expected syndrome (Arm ARM, ESR_EL1 ISS encoding for Data/Instruction Aborts):
 *   EC 0x25 (data abort, same EL) / 0x21 (instruction abort, same EL), IL = 1;
 *   DFSC/IFSC [5:0]: translation 0b0001LL, access flag 0b0010LL,
 *   permission 0b0011LL, LL = level; WnR [6] = 1 for stores; S1PTW, CM, EA,
 *   FnV [10:7] = 0. ISS[24:14] (ISV and the fields it validates) is not
 *   compared: whether ISV is set for a stage-1 abort reported in ESR_EL1 is
 *   an implementation choice (QEMU sets 0). FAR_EL1 = the first faulting
 *   byte: for LDP/STP that cross into the faulting page, the first byte of
 *   that page (the access of the second register faults).
 */
#include "mmu.h"

#define G 4096UL
#define WINDOW(i) (0x0000010000000000UL + (u64)(i) * 0x0000008000000000UL)

static u8 pool[96 * G] __attribute__((aligned(G)));
static u8 scratch[3 * G] __attribute__((aligned(G)));   /* page A, page B (the target), spare */
static struct pt pt;

enum kind { TRANS, AFLAG, PERM_W, PERM_R, PERM_X };

/* Fault bookkeeping, filled by the handler. */
static struct {
	u64 *slot, good, va;
	int armed;
} fix;
static volatile unsigned nfault;
static u64 f_esr, f_far, f_elr;
static unsigned f_vec;

void exception_handler(struct frame *f, unsigned vec)
{
	unsigned ec = ESR_EC(f->esr);
	if (!fix.armed || (ec != EC_DABT_CUR && ec != EC_IABT_CUR)) {
		printf("FAIL unexpected fault (armed=%d count=%u)\n", fix.armed, nfault);
		unexpected_exception(f, vec);
	}
	nfault++;
	f_esr = f->esr;
	f_far = f->far;
	f_elr = f->elr;
	f_vec = vec;
	*fix.slot = fix.good;   /* repair */
	tlbi_va(fix.va);        /* DSB ISHST; TLBI VAAE1IS; DSB ISH; ISB */
	fix.armed = 0;
	/* return to ELR_EL1 unchanged: the access is retried */
}

struct res {
	u64 pc;       /* address of the faulting instruction */
	u64 v0, v1;   /* loaded values */
	u64 base;     /* base register after the instruction (writeback forms) */
};

/* Each access gets the target VA t (inside page B of the window alias). */
typedef void (*access_fn)(u64 t, struct res *r);

static void a_ldr_unaligned(u64 t, struct res *r)
{
	__asm__ volatile("adr %0, 1f\n1: ldr %1, [%2]" : "=&r"(r->pc), "=&r"(r->v0) : "r"(t) : "memory");
}
static void a_ldr_regoff(u64 t, struct res *r)
{
	/* base past the target, negative register offset */
	u64 b = t + 0x1000, o = (u64)-0x1000;
	__asm__ volatile("adr %0, 1f\n1: ldr %1, [%2, %3]" : "=&r"(r->pc), "=&r"(r->v0) : "r"(b), "r"(o) : "memory");
}
static void a_ldr_preindex(u64 t, struct res *r)
{
	u64 b = t - 0x40;
	__asm__ volatile("adr %0, 1f\n1: ldr %1, [%2, #0x40]!" : "=&r"(r->pc), "=&r"(r->v0), "+r"(b) :: "memory");
	r->base = b;
}
static void a_ldp_cross(u64 t, struct res *r)
{
	/* t is the first byte of page B: the pair starts 8 bytes before it */
	u64 b = t - 8;
	__asm__ volatile("adr %0, 1f\n1: ldp %1, %2, [%3]" : "=&r"(r->pc), "=&r"(r->v0), "=&r"(r->v1) : "r"(b) : "memory");
}
static void a_str_postindex(u64 t, struct res *r)
{
	u64 b = t;
	__asm__ volatile("adr %0, 1f\n1: str %2, [%1], #32" : "=&r"(r->pc), "+r"(b) : "r"(0x1111222233334444UL) : "memory");
	r->base = b;
}
static void a_ldrb_imm(u64 t, struct res *r)
{
	u64 b = t - 0x7ff;
	__asm__ volatile("adr %0, 1f\n1: ldrb %w1, [%2, #0x7ff]" : "=&r"(r->pc), "=&r"(r->v0) : "r"(b) : "memory");
}
static void a_stp_cross(u64 t, struct res *r)
{
	u64 b = t - 8;
	__asm__ volatile("adr %0, 1f\n1: stp %1, %2, [%3]" : "=&r"(r->pc)
			 : "r"(0xaaaa5555aaaa5555UL), "r"(0x5555aaaa5555aaaaUL), "r"(b) : "memory");
}
static void a_str_sxtw(u64 t, struct res *r)
{
	/* base + (sign-extended w-register << 2), index -3 */
	u64 b = t + 12;
	u32 idx = (u32)-3;
	__asm__ volatile("adr %0, 1f\n1: str %w1, [%2, %w3, sxtw #2]" : "=&r"(r->pc)
			 : "r"(0xdeadbeefU), "r"(b), "r"(idx) : "memory");
}
static void a_strh_preindex_neg(u64 t, struct res *r)
{
	u64 b = t + 6;
	__asm__ volatile("adr %0, 1f\n1: strh %w2, [%1, #-6]!" : "=&r"(r->pc), "+r"(b) : "r"(0xbeefU) : "memory");
	r->base = b;
}
static void a_stur_unaligned(u64 t, struct res *r)
{
	u64 b = t + 5;
	__asm__ volatile("adr %0, 1f\n1: stur %1, [%2, #-5]" : "=&r"(r->pc) : "r"(0x0102030405060708UL), "r"(b) : "memory");
}
static void a_ldtr(u64 t, struct res *r)
{
	u64 b = t - 8;
	__asm__ volatile("adr %0, 1f\n1: ldtr %1, [%2, #8]" : "=&r"(r->pc), "=&r"(r->v0) : "r"(b) : "memory");
}
static void a_ldtrh(u64 t, struct res *r)
{
	u64 b = t + 2;
	__asm__ volatile("adr %0, 1f\n1: ldtrh %w1, [%2, #-2]" : "=&r"(r->pc), "=&r"(r->v0) : "r"(b) : "memory");
}
static void a_ldtrb(u64 t, struct res *r)
{
	__asm__ volatile("adr %0, 1f\n1: ldtrb %w1, [%2]" : "=&r"(r->pc), "=&r"(r->v0) : "r"(t) : "memory");
}

/* Executed through the window aliases: position independent. */
__asm__(".text\n.balign 16\n.global exec_target\nexec_target:\n movz x0, #0x5a5a\n ret\n");
extern char exec_target[];

static void a_exec(u64 t, struct res *r)
{
	register u64 x0 __asm__("x0");
	__asm__ volatile("blr %1" : "=r"(x0) : "r"(t) : "x30", "memory");
	r->pc = t;
	r->v0 = x0;
}

/* Byte pattern of the scratch pages, so every retried load has a known value. */
static u8 pat(u64 pa) { return (u8)((pa - (u64)scratch) * 13 + 7); }
static u64 pat64(u64 pa)
{
	u64 v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | pat(pa + i);
	return v;
}
static u64 rd64(u64 pa)
{
	u64 v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | *(volatile u8 *)(pa + i);
	return v;
}

struct test {
	const char *name;
	int leaf, level;
	enum kind kind;
	access_fn fn;
	u64 off;          /* target offset from the start of page B (or of exec_target) */
	int write;
};

static const struct test tests[] = {
	{ "translation L0 ldr unaligned",      3, 0, TRANS,  a_ldr_unaligned,     0x123, 0 },
	{ "translation L1 ldr reg-offset",     1, 1, TRANS,  a_ldr_regoff,        0x238, 0 },
	{ "translation L2 ldr pre-index",      2, 2, TRANS,  a_ldr_preindex,      0x340, 0 },
	{ "translation L3 ldp page-crossing",  3, 3, TRANS,  a_ldp_cross,         0,     0 },
	{ "translation L2 table->L3 exec",     3, 2, TRANS,  a_exec,              0,     0 },
	{ "translation L3 exec",               3, 3, TRANS,  a_exec,              0,     0 },
	{ "access-flag L1 str post-index",     1, 1, AFLAG,  a_str_postindex,     0x450, 1 },
	{ "access-flag L2 ldrb imm",           2, 2, AFLAG,  a_ldrb_imm,          0x80f, 0 },
	{ "access-flag L3 stp page-crossing",  3, 3, AFLAG,  a_stp_cross,         0,     1 },
	{ "access-flag L3 exec",               3, 3, AFLAG,  a_exec,              0,     0 },
	{ "permission-write L1 str sxtw",      1, 1, PERM_W, a_str_sxtw,          0x7f4, 1 },
	{ "permission-write L2 strh pre-index",2, 2, PERM_W, a_strh_preindex_neg, 0x900, 1 },
	{ "permission-write L3 stur unaligned",3, 3, PERM_W, a_stur_unaligned,    0xa03, 1 },
	{ "permission-read L1 ldtr",           1, 1, PERM_R, a_ldtr,              0xb08, 0 },
	{ "permission-read L2 ldtrh",          2, 2, PERM_R, a_ldtrh,             0xc00, 0 },
	{ "permission-read L3 ldtrb",          3, 3, PERM_R, a_ldtrb,             0xd01, 0 },
	{ "permission-exec L1 blr",            1, 1, PERM_X, a_exec,              0,     0 },
	{ "permission-exec L2 blr",            2, 2, PERM_X, a_exec,              0,     0 },
	{ "permission-exec L3 blr",            3, 3, PERM_X, a_exec,              0,     0 },
};

static unsigned field_fail(const char *name, const char *field, u64 got, u64 want)
{
	if (got == want)
		return 0;
	printf("FAIL %s: %s got=%p want=%p\n", name, field, got, want);
	return 1;
}

/* The retried access must have completed exactly once: what it loaded, stored or wrote back. */
static unsigned check_retried(const struct test *t, u64 pa, u64 va, const struct res *r)
{
	unsigned bad_fields = 0;
	if (t->fn == a_exec) {
		bad_fields += field_fail(t->name, "retried call result", r->v0, 0x5a5a);
	} else if (t->fn == a_ldr_unaligned || t->fn == a_ldr_regoff || t->fn == a_ldr_preindex || t->fn == a_ldtr) {
		bad_fields += field_fail(t->name, "retried load", r->v0, pat64(pa));
	} else if (t->fn == a_ldp_cross) {
		bad_fields += field_fail(t->name, "retried ldp first", r->v0, pat64(pa - 8));
		bad_fields += field_fail(t->name, "retried ldp second", r->v1, pat64(pa));
	} else if (t->fn == a_ldrb_imm || t->fn == a_ldtrb) {
		bad_fields += field_fail(t->name, "retried load", r->v0, pat(pa));
	} else if (t->fn == a_ldtrh) {
		bad_fields += field_fail(t->name, "retried load", r->v0, pat(pa) | (u64)pat(pa + 1) << 8);
	} else if (t->fn == a_str_postindex) {
		bad_fields += field_fail(t->name, "stored", rd64(pa), 0x1111222233334444UL);
	} else if (t->fn == a_stp_cross) {
		bad_fields += field_fail(t->name, "stored first", rd64(pa - 8), 0xaaaa5555aaaa5555UL);
		bad_fields += field_fail(t->name, "stored second", rd64(pa), 0x5555aaaa5555aaaaUL);
	} else if (t->fn == a_str_sxtw) {
		bad_fields += field_fail(t->name, "stored", *(volatile u32 *)pa, 0xdeadbeef);
	} else if (t->fn == a_strh_preindex_neg) {
		bad_fields += field_fail(t->name, "stored", *(volatile u16 *)pa, 0xbeef);
	} else if (t->fn == a_stur_unaligned) {
		bad_fields += field_fail(t->name, "stored", rd64(pa), 0x0102030405060708UL);
	}
	if (t->fn == a_ldr_preindex || t->fn == a_strh_preindex_neg)
		bad_fields += field_fail(t->name, "base writeback (once)", r->base, va);
	if (t->fn == a_str_postindex)
		bad_fields += field_fail(t->name, "base writeback (once)", r->base, va + 32);
	return bad_fields;
}

static void run_test(unsigned i, const struct test *t)
{
	int exec = t->fn == a_exec;
	u64 pageB = (u64)scratch + G;
	/* physical target and the leaf region around it */
	u64 pa = exec ? (u64)exec_target : pageB + t->off;
	u64 lsize = pt_level_size(&pt, t->leaf);
	u64 region = t->leaf == 3 ? (exec ? pa & ~(G - 1) : (u64)scratch) : pa & ~(lsize - 1);
	u64 size = t->leaf == 3 ? (exec ? G : 2 * G) : lsize;
	u64 win = WINDOW(i);
	u64 va = win + (pa - region);

	u64 prot = PTE_AF | PTE_SH_INNER | PTE_ATTRIDX(ATTR_NORMAL) | PTE_UXN;
	prot |= t->kind == PERM_R ? PTE_AP_RW_ALL : PTE_AP_RW_EL1;
	pt_map(&pt, win, region, size, prot, t->leaf);

	u64 *slot = pt_slot(&pt, va, t->level);
	u64 good = *slot, bad;
	switch (t->kind) {
	case TRANS: bad = 0; break;
	case AFLAG: bad = good & ~PTE_AF; break;
	case PERM_W: bad = (good & ~PTE_AP_MASK) | PTE_AP_RO_EL1; break;
	case PERM_R: bad = (good & ~PTE_AP_MASK) | PTE_AP_RW_EL1; break;
	default: bad = good | PTE_PXN; break;
	}
	*slot = bad;
	tlbi_va(va);
	fix.slot = slot;
	fix.good = good;
	fix.va = va;
	fix.armed = 1;
	nfault = 0;

	struct res r = { 0, 0, 0, 0 };
	t->fn(va, &r);

	/* expected syndrome */
	u64 fsc = (t->kind == TRANS ? 0x04 : t->kind == AFLAG ? 0x08 : 0x0c) | t->level;
	u64 want_esr = ((u64)(exec ? EC_IABT_CUR : EC_DABT_CUR) << 26) | ESR_IL | ((u64)t->write << 6) | fsc;
	u64 ignore = exec ? 0 : 0x1ffc000UL;   /* ISS[24:14] for data aborts, see above */
	u64 want_far = va;   /* for the page-crossing pairs: the first byte of page B */

	unsigned bad_fields = 0;
	bad_fields += field_fail(t->name, "faults taken", nfault, 1);
	bad_fields += field_fail(t->name, "vector offset", (u64)f_vec * 0x80, 0x200);
	bad_fields += field_fail(t->name, "ESR_EL1", f_esr & ~ignore, want_esr);
	bad_fields += field_fail(t->name, "FAR_EL1", f_far, want_far);
	bad_fields += field_fail(t->name, "ELR_EL1", f_elr, r.pc);

	bad_fields += check_retried(t, pa, va, &r);
	if (bad_fields)
		failures++;
	else
		printf("PASS %s (ESR=%p FAR=%p)\n", t->name, f_esr, f_far);
}

int main(void)
{
	puts("mmu-faults: stage-1 faults at EL1, repaired and retried (4 KB granule)\n");
	install_vectors();
	for (u64 i = 0; i < sizeof scratch; i++)
		scratch[i] = pat((u64)scratch + i);

	pt_init(&pt, 12, pool, sizeof pool);
	pt_identity_default(&pt);
	mmu_enable(DEFAULT_MAIR, tcr_for(12), (u64)pt.root, 0);
	/* TTBR1 is unused: disable walks for it (TCR_EL1.EPD1, bit 23). */
	write_sysreg(read_sysreg(tcr_el1) | (1UL << 23), tcr_el1);
	isb();

	for (unsigned i = 0; i < sizeof tests / sizeof tests[0]; i++)
		run_test(i, &tests[i]);
	finish(GUEST_NAME);
}
