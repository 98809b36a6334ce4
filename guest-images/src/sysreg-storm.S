/*
 * sysreg-storm: 1,000,000 writes to MAIR_EL1 at EL1, alternating two
 * values (one with a Normal-NC attribute, one all Write-Back), then reads
 * MAIR_EL1 back and exits 0. Under a hypervisor with HCR_EL2.TVM set every
 * write traps (seed 000: the cost of trapping the VM sysreg group).
 */
#define WRITES 1000000
#define MAIR_A 0x00000000004404ff	/* Attr0 Normal-WB, Attr1 Device-nGnRE, Attr2 Normal-NC */
#define MAIR_B 0x0000000000ff04ff	/* Attr2 Normal-WB instead */
#include "storm.inc"

	.text
	.global main
main:
	stp	x29, x30, [sp, #-32]!
	str	x19, [sp, #16]
	adr	x0, msg_start
	bl	puts
	MAIR_STORM
	mrs	x19, mair_el1
	REPORT_X19 msg_mair, puthex, MAIR_B, msg_pass, msg_fail
	adr	x0, msg_done
	bl	puts
	ldr	x19, [sp, #16]
	ldp	x29, x30, [sp], #32
	mov	x0, #0
	ret

msg_start: .asciz "sysreg-storm: 1000000 MAIR_EL1 writes at EL1\n"
msg_mair:  .asciz "MAIR_EL1 = "
msg_pass:  .asciz "\nPASS MAIR_EL1 holds the last value written\n"
msg_fail:  .asciz "\nFAIL MAIR_EL1 does not hold the last value written\n"
msg_done:  .asciz "done\n"
	.balign 8
	.ltorg
