/*
 * exit(status): the hypemu exit convention, then PSCI SYSTEM_OFF.
 *
 * hypemu: hvc #0 with x0 = 0xC600_0001, x1 = status ends the run.
 * QEMU -M virt (no virtualization=on) implements PSCI on the HVC conduit
 * at EL1 and answers the unknown function with NOT_SUPPORTED (-1), so we
 * fall through to PSCI SYSTEM_OFF (0x8400_0008, Arm DEN0022) which powers
 * the board off. If even that returns, spin in WFI.
 */
	.text
	.global exit
	.type exit, %function
exit:
	mov	x1, x0
	movz	x0, #0x0001
	movk	x0, #0xC600, lsl #16
	hvc	#0
	movz	x0, #0x0008
	movk	x0, #0x8400, lsl #16
	hvc	#0
1:	wfi
	b	1b
	.size exit, . - exit
