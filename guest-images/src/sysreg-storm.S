/*
 * sysreg-storm: 1,000,000 writes to MAIR_EL1 at EL1, alternating two
 * values (one with a Normal-NC attribute, one all Write-Back), then reads
 * MAIR_EL1 back and exits 0. Under a hypervisor with HCR_EL2.TVM set every
 * write traps (seed 000: the cost of trapping the VM sysreg group).
 */
#define WRITES 1000000
#define MAIR_A 0x00000000004404ff	/* Attr0 Normal-WB, Attr1 Device-nGnRE, Attr2 Normal-NC */
#define MAIR_B 0x0000000000ff04ff	/* Attr2 Normal-WB instead */

	.text
	.global main
main:
	stp	x29, x30, [sp, #-32]!
	str	x19, [sp, #16]
	adr	x0, msg_start
	bl	puts
	ldr	x1, =MAIR_A
	ldr	x2, =MAIR_B
	ldr	x3, =WRITES / 2
1:	msr	mair_el1, x1
	msr	mair_el1, x2
	subs	x3, x3, #1
	b.ne	1b
	mrs	x19, mair_el1
	adr	x0, msg_mair
	bl	puts
	mov	x0, x19
	bl	puthex
	ldr	x1, =MAIR_B
	cmp	x19, x1
	adr	x0, msg_pass
	adr	x1, msg_fail
	csel	x0, x0, x1, eq
	bl	puts
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
