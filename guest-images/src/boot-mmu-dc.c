/*
 * boot-mmu-dc: the early boot of a kernel, as seen by a hypervisor that
 * sets HCR_EL2.DC while the guest MMU is off and traps the VM registers
 * with HCR_EL2.TVM until the guest sets SCTLR_EL1.M (seed 002). About six
 * VM-register writes with the MMU off (MAIR, TCR, TTBR0, TTBR1, CONTEXTIDR,
 * AMAIR), then SCTLR_EL1.M, then a few more (TTBR0 with a new ASID,
 * CONTEXTIDR, MAIR). Each register must read back what was written, and
 * data written with the MMU off must be seen with the MMU on.
 * The registers of the TVM group: Arm ARM, HCR_EL2.TVM description.
 */
#include "mmu.h"

#define G 4096UL
#define HIGH 0xffff000000000000UL

static u8 pool0[8 * G] __attribute__((aligned(G)));
static u8 pool1[8 * G] __attribute__((aligned(G)));
static struct pt idmap, kmap;
static volatile u64 early_data[4];

#define VMREG(name, value) do { \
		u64 __w = (value); \
		printf("  %-14s <- %p\n", #name, __w); \
		write_sysreg(__w, name); \
		isb(); \
		check(#name " reads back", read_sysreg(name), __w); \
	} while (0)

int main(void)
{
	puts("boot-mmu-dc: kernel-style early boot (VM registers, then SCTLR_EL1.M)\n");
	install_vectors();
	check("MMU off at entry (SCTLR_EL1.M)", read_sysreg(sctlr_el1) & SCTLR_M, 0);

	pt_init(&idmap, 12, pool0, sizeof pool0);
	pt_identity_default(&idmap);
	pt_init(&kmap, 12, pool1, sizeof pool1);
	pt_map_auto(&kmap, HIGH + RAM_BASE, RAM_BASE, 64UL << 20, PROT_KERNEL, 1);
	for (int i = 0; i < 4; i++)
		early_data[i] = 0xda7a0000UL + i;   /* written with the MMU off */

	puts("MMU off:\n");
	VMREG(mair_el1, DEFAULT_MAIR);
	VMREG(tcr_el1, tcr_for(12));
	VMREG(ttbr0_el1, (u64)idmap.root);
	VMREG(ttbr1_el1, (u64)kmap.root);
	VMREG(contextidr_el1, 0);
	VMREG(amair_el1, 0);
	__asm__ volatile("tlbi vmalle1\n dsb nsh\n isb" ::: "memory");

	u64 sctlr = (read_sysreg(sctlr_el1) | SCTLR_M | SCTLR_C | SCTLR_I | SCTLR_SPAN) & ~(SCTLR_A | SCTLR_WXN);
	printf("  %-14s <- %p  (M=1)\n", "sctlr_el1", sctlr);
	write_sysreg(sctlr, sctlr_el1);
	isb();
	check("sctlr_el1.M reads back", read_sysreg(sctlr_el1) & SCTLR_M, SCTLR_M);

	puts("MMU on:\n");
	int same = 1;
	for (int i = 0; i < 4; i++)
		same &= early_data[i] == 0xda7a0000UL + i;
	check_bool("data written with the MMU off is there", same);
	check("same data through the TTBR1 alias", *(volatile u64 *)((u64)&early_data[3] + HIGH), 0xda7a0003UL);
	VMREG(ttbr0_el1, (u64)idmap.root | (1UL << 48));   /* ASID 1 (TTBR0_EL1.ASID, bits [63:48]) */
	VMREG(contextidr_el1, 1);
	VMREG(mair_el1, DEFAULT_MAIR);
	puts("still running after the post-MMU writes\n");
	finish(GUEST_NAME);
}
