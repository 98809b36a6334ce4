/*
 * trap-rules: WFI, WFE, SMC and HVC executed at EL0, where the Arm ARM (DDI0487)
 * decides the route before any hypervisor trap:
 *   - SCTLR_EL1.nTWI = 0 traps an EL0 WFI that would wait to EL1 (D19.2 "SCTLR_EL1",
 *     nTWI; ESR_ELx EC 0x01 "Trapped WFI or WFE": ISS CV = 1, COND = 0b1110, TI = 00),
 *     ELR = the WFI; this has priority over HCR_EL2.TWI (D1 "Synchronous exception
 *     prioritization"), which hypemu's EL2 model sets;
 *   - SCTLR_EL1.nTWE = 0 does the same for WFE (TI = 01), but only "if the instruction
 *     would otherwise have caused the PE to enter a low-power state": QEMU never waits on
 *     WFE, so never traps it, and neither does hypemu unless HCR_EL2.TWE makes its WFE wait
 *     (clear by default, as KVM leaves it): no exception here;
 *   - SMC at EL0 is UNDEFINED (C6.2 "SMC"), HVC at EL0 is UNDEFINED (C6.2 "HVC"):
 *     EC 0x00 to EL1, ELR = the instruction, never an exit to EL2.
 * Exit status = number of failed checks.
 */
#include "runtime.h"

#define MAX_REC 8
static struct { u64 esr, elr; } recs[MAX_REC];
static volatile unsigned nrec;

void exception_handler(struct frame *f, unsigned vec)
{
	if (vec != VEC_LOWER64_SYNC || nrec >= MAX_REC)
		unexpected_exception(f, vec);
	unsigned ec = ESR_EC(f->esr);
	if (ec == EC_SVC64) {
		return_to_kernel(f, 0);
		return;
	}
	recs[nrec].esr = f->esr;
	recs[nrec].elr = f->elr;
	nrec++;
	if (ec == 0x01 || ec == EC_UNKNOWN)
		f->elr += 4;     /* trapped WFx and UNDEFINED return to the instruction: skip it */
	else
		unexpected_exception(f, vec);
}

__asm__(
	"	.text\n"
	"	.global el0_code, el0_wfi, el0_wfe, el0_smc, el0_hvc\n"
	"el0_code:\n"
	"el0_wfi:\n"
	"	wfi\n"
	"el0_wfe:\n"
	"	sevl\n"
	"	wfe\n"          /* clears the event register SEVL set: never waits */
	"	wfe\n"
	"el0_smc:\n"
	"	smc	#0x12\n"
	"el0_hvc:\n"
	"	hvc	#0x55\n"
	"	svc	#0\n"
	"	b	.\n");
extern char el0_code[], el0_wfi[], el0_wfe[], el0_smc[], el0_hvc[];

static u64 el0_stack[512] __attribute__((aligned(16)));

#define WFX_ESR(ti) ((0x01UL << 26) | ESR_IL | (1UL << 24) | (0xeUL << 20) | (ti))
#define SCTLR_nTWI (1UL << 16)
#define SCTLR_nTWE (1UL << 18)

int main(void)
{
	puts("trap-rules: WFI/WFE/SMC/HVC at EL0 (SCTLR_EL1.nTWI/nTWE, UNDEFINED SMC/HVC)\n");
	install_vectors();
	u64 sctlr = read_sysreg(sctlr_el1);
	write_sysreg(sctlr & ~(SCTLR_nTWI | SCTLR_nTWE), sctlr_el1);
	isb();
	nrec = 0;
	enter_user((u64)el0_code, (u64)&el0_stack[512], 0);
	write_sysreg(sctlr, sctlr_el1);
	isb();

	unsigned i = 0;
	check("wfi-el0 ESR_EL1 (EC 0x01, TI 00)", recs[i].esr, WFX_ESR(0));
	check("wfi-el0 ELR_EL1", recs[i].elr, (u64)el0_wfi);
	i++;
	/* SEVL; WFE; WFE: neither waits on QEMU or hypemu (see the top), so neither traps. */
	check("smc-el0 ESR_EL1 (EC 0x00: UNDEFINED)", recs[i].esr, ESR_IL);
	check("smc-el0 ELR_EL1", recs[i].elr, (u64)el0_smc);
	i++;
	check("hvc-el0 ESR_EL1 (EC 0x00: UNDEFINED)", recs[i].esr, ESR_IL);
	check("hvc-el0 ELR_EL1", recs[i].elr, (u64)el0_hvc);
	i++;
	check("exceptions taken", nrec, i);
	finish(GUEST_NAME);
}
