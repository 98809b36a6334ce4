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
#include "frame.inc"

	.text
	.balign 2048
	.global vectors_el1
vectors_el1:
	VECTORS vec_common

vec_common:
	FRAME_SAVE 1
	mov	x0, sp
	bl	exception_handler
	FRAME_RESTORE 1
	eret
