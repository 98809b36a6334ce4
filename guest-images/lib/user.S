/*
 * EL0 entry and return.
 *
 * enter_user(fn, sp, arg): saves the callee-saved registers and SP_EL1,
 * then ERETs to fn at EL0t (SPSR_EL1 = 0x3c0: M[3:0] = 0b0000, DAIF masked)
 * with SP_EL0 = sp and x0 = arg. A handler ends the EL0 run with
 * return_to_kernel(frame, value), which makes its ERET land on
 * user_return at EL1h; enter_user then returns value.
 */
	.text
	.global enter_user
	.type enter_user, %function
enter_user:
	stp	x29, x30, [sp, #-96]!
	stp	x19, x20, [sp, #16]
	stp	x21, x22, [sp, #32]
	stp	x23, x24, [sp, #48]
	stp	x25, x26, [sp, #64]
	stp	x27, x28, [sp, #80]
	mov	x3, sp
	adrp	x4, saved_kernel_sp
	str	x3, [x4, :lo12:saved_kernel_sp]
	msr	sp_el0, x1
	msr	elr_el1, x0
	mov	x3, #0x3c0
	msr	spsr_el1, x3
	mov	x0, x2
	eret
	.size enter_user, . - enter_user

	.global user_return
	.type user_return, %function
user_return:
	adrp	x4, saved_kernel_sp
	ldr	x3, [x4, :lo12:saved_kernel_sp]
	mov	sp, x3
	ldp	x19, x20, [sp, #16]
	ldp	x21, x22, [sp, #32]
	ldp	x23, x24, [sp, #48]
	ldp	x25, x26, [sp, #64]
	ldp	x27, x28, [sp, #80]
	ldp	x29, x30, [sp], #96
	ret
	.size user_return, . - user_return

	.bss
	.balign 8
saved_kernel_sp:
	.quad 0
