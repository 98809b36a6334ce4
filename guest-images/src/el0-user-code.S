/*
 * EL0 program of el0-user, in its own page (.user_text), run through the
 * user alias U = 0x10_0000_0000 (x0 = U on entry):
 *   U+0x0000 this code (AP=11, PXN)   U+0x1000 user data (AP=01)
 *   U+0x2000 user stack (AP=01)       U+0x3000 kernel-only (AP=00)
 *   U+0x4000 user read-only (AP=11)
 * Results go to U+0x1100.. for the kernel to check.
 */
	.section .user_text, "ax"
	.global user_main, user_kread, user_rowrite
user_main:
	ldr	x1, [x0, #0x1000]	/* read a user page */
	str	x1, [x0, #0x1100]	/* write a user page */
	ldr	x2, [x0, #0x4000]	/* read the read-only user page */
	str	x2, [x0, #0x1108]
	stp	x1, x2, [sp, #-16]!	/* EL0 stack */
	ldp	x3, x4, [sp], #16
	str	x4, [x0, #0x1110]
	mov	x5, #0
	add	x6, x0, #0x3000
user_kread:
	ldr	w5, [x6, #0x124]	/* kernel-only page: permission fault, skipped by the handler */
	str	x5, [x0, #0x1118]
user_rowrite:
	str	x1, [x0, #0x4010]	/* read-only page: permission fault (WnR), skipped */
	mov	x0, #0x600d
	svc	#0			/* back to the kernel */
	b	.
