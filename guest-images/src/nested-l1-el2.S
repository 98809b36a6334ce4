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
#include "frame.inc"

	.text
	.balign 2048
	.global vectors_el2
vectors_el2:
	VECTORS vec2_common

vec2_common:
	FRAME_SAVE 2
	mov	x0, sp
	bl	el2_handler
	FRAME_RESTORE 2
	eret

	.global enter_guest
	.type enter_guest, %function
enter_guest:
	CALLEE_SAVE saved_host_sp
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
	CALLEE_RESTORE saved_host_sp
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
