/*
 * EL0 entry and return.
 *
 * enter_user(fn, sp, arg): saves the callee-saved registers and SP_EL1,
 * then ERETs to fn at EL0t (SPSR_EL1 = 0x3c0: M[3:0] = 0b0000, DAIF masked)
 * with SP_EL0 = sp and x0 = arg. A handler ends the EL0 run with
 * return_to_kernel(frame, value), which makes its ERET land on
 * user_return at EL1h; enter_user then returns value.
 */
#include "frame.inc"

	.text
	.global enter_user
	.type enter_user, %function
enter_user:
	CALLEE_SAVE saved_kernel_sp
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
	CALLEE_RESTORE saved_kernel_sp
	ret
	.size user_return, . - user_return

	.bss
	.balign 8
saved_kernel_sp:
	.quad 0
