/*
 * nested-l1: the EL2 half of the L1 mini-hypervisor.
 *
 * vectors_el2: VBAR_EL2 table (Arm ARM D1.10: 16 entries of 0x80 bytes,
 * 2 KiB aligned). Every entry saves a struct frame (runtime.h; here elr,
 * spsr, esr and far are the EL2 registers) on SP_EL2 and calls
 * el2_handler(frame, index). ELR_EL2 and SPSR_EL2 are written back from
 * the frame before ERET, so a handler can skip an instruction, set an L2
 * return value, or leave the guest (el2_leave_guest).
 *
 * enter_guest(entry, sp_el1, arg): saves the callee-saved registers and
 * SP_EL2, sets SP_EL1, ELR_EL2 = entry, SPSR_EL2 = EL1h with DAIF masked,
 * x0 = arg, and ERETs into the L2 VM (whose VTTBR/VTCR/HCR the caller has
 * set). el2_leave_guest(frame, value) makes the vector's ERET land on
 * guest_return at EL2h, which restores that state: enter_guest returns value.
 *
 * l1_exit(status): the hypemu vendor exit over SMC (x0 = 0xC600_0001,
 * x1 = status), then PSCI SYSTEM_OFF over SMC (QEMU's PSCI conduit when
 * EL2 is present). QEMU answers an SMC with a function ID it does not know
 * with UNDEFINED (taken to EL2): the handler skips l1_exit_vendor_smc.
 */
#define FRAME_SIZE 288

	.macro ventry idx
	.balign 0x80
	sub	sp, sp, #FRAME_SIZE
	stp	x0, x1, [sp, #0]
	mov	x1, #\idx
	b	vec2_common
	.endm

	.text
	.balign 2048
	.global vectors_el2
vectors_el2:
	ventry 0
	ventry 1
	ventry 2
	ventry 3
	ventry 4
	ventry 5
	ventry 6
	ventry 7
	ventry 8
	ventry 9
	ventry 10
	ventry 11
	ventry 12
	ventry 13
	ventry 14
	ventry 15

vec2_common:
	stp	x2, x3, [sp, #16]
	stp	x4, x5, [sp, #32]
	stp	x6, x7, [sp, #48]
	stp	x8, x9, [sp, #64]
	stp	x10, x11, [sp, #80]
	stp	x12, x13, [sp, #96]
	stp	x14, x15, [sp, #112]
	stp	x16, x17, [sp, #128]
	stp	x18, x19, [sp, #144]
	stp	x20, x21, [sp, #160]
	stp	x22, x23, [sp, #176]
	stp	x24, x25, [sp, #192]
	stp	x26, x27, [sp, #208]
	stp	x28, x29, [sp, #224]
	str	x30, [sp, #240]
	mrs	x2, sp_el0
	str	x2, [sp, #248]
	mrs	x2, elr_el2
	mrs	x3, spsr_el2
	stp	x2, x3, [sp, #256]
	mrs	x2, esr_el2
	mrs	x3, far_el2
	stp	x2, x3, [sp, #272]
	mov	x0, sp
	bl	el2_handler
	ldp	x2, x3, [sp, #256]
	msr	elr_el2, x2
	msr	spsr_el2, x3
	ldr	x2, [sp, #248]
	msr	sp_el0, x2
	ldp	x2, x3, [sp, #16]
	ldp	x4, x5, [sp, #32]
	ldp	x6, x7, [sp, #48]
	ldp	x8, x9, [sp, #64]
	ldp	x10, x11, [sp, #80]
	ldp	x12, x13, [sp, #96]
	ldp	x14, x15, [sp, #112]
	ldp	x16, x17, [sp, #128]
	ldp	x18, x19, [sp, #144]
	ldp	x20, x21, [sp, #160]
	ldp	x22, x23, [sp, #176]
	ldp	x24, x25, [sp, #192]
	ldp	x26, x27, [sp, #208]
	ldp	x28, x29, [sp, #224]
	ldr	x30, [sp, #240]
	ldp	x0, x1, [sp, #0]
	add	sp, sp, #FRAME_SIZE
	eret

	.global enter_guest
	.type enter_guest, %function
enter_guest:
	stp	x29, x30, [sp, #-96]!
	stp	x19, x20, [sp, #16]
	stp	x21, x22, [sp, #32]
	stp	x23, x24, [sp, #48]
	stp	x25, x26, [sp, #64]
	stp	x27, x28, [sp, #80]
	mov	x3, sp
	adrp	x4, saved_host_sp
	str	x3, [x4, :lo12:saved_host_sp]
	msr	sp_el1, x1
	msr	elr_el2, x0
	mov	x3, #0x3c5			/* SPSR_EL2: EL1h, DAIF masked */
	msr	spsr_el2, x3
	mov	x0, x2
	isb
	eret
	.size enter_guest, . - enter_guest

	.global guest_return
	.type guest_return, %function
guest_return:
	adrp	x4, saved_host_sp
	ldr	x3, [x4, :lo12:saved_host_sp]
	mov	sp, x3
	ldp	x19, x20, [sp, #16]
	ldp	x21, x22, [sp, #32]
	ldp	x23, x24, [sp, #48]
	ldp	x25, x26, [sp, #64]
	ldp	x27, x28, [sp, #80]
	ldp	x29, x30, [sp], #96
	ret
	.size guest_return, . - guest_return

	.global l1_exit
	.type l1_exit, %function
	.global l1_exit_vendor_smc
l1_exit:
	mov	x1, x0
	movz	x0, #0x0001
	movk	x0, #0xC600, lsl #16
l1_exit_vendor_smc:
	smc	#0
	movz	x0, #0x0008
	movk	x0, #0x8400, lsl #16
	smc	#0
1:	wfi
	b	1b
	.size l1_exit, . - l1_exit

	.bss
	.balign 8
saved_host_sp:
	.quad 0
