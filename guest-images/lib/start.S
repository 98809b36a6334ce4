/*
 * Entry point shared by every EL1 guest. Linked first at 0x4008_0000.
 * Entered at EL1h with the MMU off (QEMU -kernel, hypemu). Sets up SP_EL1
 * in RAM, zeroes .bss, calls main(), then exit(main's return value).
 */
	.section .text.start, "ax"
	.global _start
_start:
	msr	daifset, #0xf
	msr	spsel, #1
	adrp	x0, __stack_top
	add	x0, x0, :lo12:__stack_top
	mov	sp, x0
	adrp	x0, __bss_start
	add	x0, x0, :lo12:__bss_start
	adrp	x1, __bss_end
	add	x1, x1, :lo12:__bss_end
1:	cmp	x0, x1
	b.hs	2f
	stp	xzr, xzr, [x0], #16
	b	1b
2:	mov	x29, #0
	mov	x30, #0
	bl	main
	mov	w0, w0		/* main returns int: zero-extend the status */
	b	exit
