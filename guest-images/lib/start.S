/*
 * Entry point shared by every EL1 guest. Linked first at 0x4008_0000.
 * Entered at EL1h with the MMU off (QEMU -kernel, hypemu). Sets up SP_EL1
 * in RAM, zeroes .bss, calls main(), then exit(main's return value).
 */
#include "start.inc"
	.section .text.start, "ax"
	.global _start
_start:
	msr	daifset, #0xf
	msr	spsel, #1
	STACK_AND_BSS
	mov	x29, #0
	mov	x30, #0
	bl	main
	mov	w0, w0		/* main returns int: zero-extend the status */
	b	exit
