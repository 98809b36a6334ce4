/*
 * boot-dtb's own entry (NOSTART): lib/start.S with x0 kept. The boot x0 is the point of this
 * guest, and lib/start.S must not grow (other guests' tests know their code addresses).
 */
#include "start.inc"
	.section .text.start, "ax"
	.global _start
_start:
	mov	x19, x0
	msr	daifset, #0xf
	msr	spsel, #1
	STACK_AND_BSS
	adrp	x0, boot_x0
	str	x19, [x0, :lo12:boot_x0]
	mov	x29, #0
	mov	x30, #0
	bl	main
	mov	w0, w0
	b	exit

	.bss
	.balign 8
	.global boot_x0
boot_x0:
	.quad 0
