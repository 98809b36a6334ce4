/*
 * Shared EL1 vector table (VBAR_EL1). 16 entries of 0x80 bytes, 2 KiB
 * aligned (Arm ARM D1.10: vector offsets 0x000 current EL with SP_EL0,
 * 0x200 current EL with SP_ELx, 0x400 lower EL AArch64, 0x600 lower EL
 * AArch32; +0x00 sync, +0x80 IRQ, +0x100 FIQ, +0x180 SError).
 *
 * Every entry saves a struct frame (runtime.h) on SP_EL1 and calls
 * exception_handler(frame, index) with index = vector offset / 0x80.
 * ELR_EL1, SPSR_EL1 and SP_EL0 are written back from the frame before
 * ERET, so a handler can skip an instruction or return to a new context.
 */
#define FRAME_SIZE 288

	.macro ventry idx
	.balign 0x80
	sub	sp, sp, #FRAME_SIZE
	stp	x0, x1, [sp, #0]
	mov	x1, #\idx
	b	vec_common
	.endm

	.text
	.balign 2048
	.global vectors_el1
vectors_el1:
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

vec_common:
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
	mrs	x2, elr_el1
	mrs	x3, spsr_el1
	stp	x2, x3, [sp, #256]
	mrs	x2, esr_el1
	mrs	x3, far_el1
	stp	x2, x3, [sp, #272]
	mov	x0, sp
	bl	exception_handler
	ldp	x2, x3, [sp, #256]
	msr	elr_el1, x2
	msr	spsr_el1, x3
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
