/*
 * code-alias: code rewritten through another virtual address (an alias of its
 * physical page) runs as rewritten, as Linux's text patching needs (static
 * keys, ftrace and alternatives write kernel text through the linear map or a
 * fixmap slot, then clean the D-cache and invalidate the I-cache by the text's
 * VA: Arm ARM B2.4.4, "Concurrent modification and execution of instructions").
 *
 * A function f (MOVZ W0, #1; RET) runs once from its page. After a TLB flush,
 * two words of that 1 KiB page are written through a writable alias at another
 * VA: first a word f does not contain, then f's MOVZ (now #2). After the
 * cache maintenance (and another TLB flush), f must return 2. Unicorn 2.1
 * checks only the first store through a new TLB entry against translated code
 * (emulator/cpu/code-guard.ts), so f's old translation returned 1: the run
 * that had translated f before took another path than a run restored from a
 * snapshot (which translates afresh). Then the same with both writes to f.
 * Exit status = number of failed checks.
 */
#include "mmu.h"

#define G 4096UL
#define ALIAS 0x0000001000000000UL

static u8 pool[16 * G] __attribute__((aligned(G)));
static u32 code[G / 4] __attribute__((aligned(G)));
static struct pt pt;

#define MOVZ_W0(imm) (0x52800000u | ((u32)(imm) << 5))
#define RET 0xd65f03c0u
#define NOP 0xd503201fu

static void sync_code(void *p)
{
	__asm__ volatile("dc cvau, %0\n dsb ish\n ic ivau, %0\n dsb ish\n isb" :: "r"(p) : "memory");
}

static u64 call(void)
{
	return ((u64 (*)(void))code)();
}

int main(void)
{
	puts("code-alias: code rewritten through an alias of its page runs as rewritten\n");
	install_vectors();
	pt_init(&pt, 12, pool, sizeof pool);
	pt_identity_default(&pt);
	pt_map(&pt, ALIAS, (u64)code, G, PROT_KERNEL | PTE_PXN, 3);
	mmu_enable(DEFAULT_MAIR, tcr_for(12) | (1UL << 23) /* EPD1 */, (u64)pt.root, 0);
	volatile u32 *alias = (volatile u32 *)ALIAS;

	code[0] = MOVZ_W0(1);
	code[1] = RET;
	code[64] = NOP;
	sync_code(&code[0]);
	sync_code(&code[64]);
	check("f runs from its page", call(), 1);

	/* Another word of the page first, then f's first instruction, through one alias entry. */
	tlbi_all();
	alias[64] = MOVZ_W0(7);
	alias[0] = MOVZ_W0(2);
	sync_code(&code[64]);
	sync_code(&code[0]);
	tlbi_all();
	check("f rewritten through the alias (second store to the page)", call(), 2);
	check("the first write reads back through the text VA", code[64], MOVZ_W0(7));

	/* Both words of f, twice, without a TLB flush in between. */
	alias[0] = MOVZ_W0(3);
	alias[1] = RET;
	sync_code(&code[0]);
	check("f rewritten again (alias entry still live)", call(), 3);
	alias[0] = MOVZ_W0(4);
	sync_code(&code[0]);
	check("and again", call(), 4);
	finish("code-alias");
}
