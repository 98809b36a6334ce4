/*
 * el2-storm (QEMU only: -M virt,virtualization=on -cpu max): the reference
 * point for the cost of trapping the VM sysreg group on a real EL2.
 *
 * Starts at EL2 (no MMU), installs VBAR_EL2, sets HCR_EL2.RW (bit 31,
 * EL1 is AArch64) and HCR_EL2.TVM (bit 26, trap EL1 writes to the VM
 * registers, MAIR_EL1 among them), and ERETs to EL1h. EL1 performs the
 * sysreg-storm loop: 1,000,000 MSR MAIR_EL1 writes. Every write traps to
 * EL2 with EC 0x18; the EL2 handler is a fast path: it decodes the ISS
 * (Arm ARM, ESR_EL2 ISS encoding for EC 0x18: Op0[21:20] Op2[19:17]
 * Op1[16:14] CRn[13:10] Rt[9:5] CRm[4:1] Direction[0], 0 = write),
 * checks it is MAIR_EL1 (Op0 3, Op1 0, CRn 10, CRm 2, Op2 0), writes
 * MAIR_EL1 with the value of Rt, advances ELR_EL2 by 4 and ERETs.
 * The guest then exits with the hypemu convention (HVC #0, x0 = 0xC600_0001),
 * which the EL2 handler turns into PSCI SYSTEM_OFF over SMC (QEMU's PSCI
 * conduit is SMC when virtualization=on).
 */
#include "start.inc"
#define WRITES 1000000
#define MAIR_A 0x00000000004404ff
#define MAIR_B 0x0000000000ff04ff
#define FRAME 256
#include "storm.inc"

	.section .text.start, "ax"
	.global _start
_start:
	msr	daifset, #0xf
	STACK_AND_BSS
	adr	x0, msg_banner
	bl	puts
	mrs	x0, CurrentEL
	cmp	x0, #(2 << 2)
	b.eq	3f
	adr	x0, msg_not_el2
	bl	puts
	mov	x0, #1
	b	exit				/* at EL1: the usual hvc / PSCI-over-HVC exit */
3:	adr	x0, el2_vectors
	msr	vbar_el2, x0
	mov	x0, #(1 << 31)			/* HCR_EL2.RW */
	orr	x0, x0, #(1 << 26)		/* HCR_EL2.TVM */
	msr	hcr_el2, x0
	adrp	x0, el1_stack_top
	add	x0, x0, :lo12:el1_stack_top
	msr	sp_el1, x0
	adr	x0, el1_entry
	msr	elr_el2, x0
	mov	x0, #0x3c5			/* SPSR_EL2: EL1h, DAIF masked */
	msr	spsr_el2, x0
	isb
	eret

/* ---------------- EL1 ---------------- */
el1_entry:
	adr	x0, msg_el1
	bl	puts
	MAIR_STORM
	mrs	x19, mair_el1			/* reads are not trapped (no TRVM) */
	REPORT_X19 msg_mair, puthex, MAIR_B, msg_pass_mair, msg_fail_mair
	adrp	x0, trap_count
	ldr	x19, [x0, :lo12:trap_count]
	REPORT_X19 msg_traps, putdec, WRITES, msg_pass_traps, msg_fail_traps
	adr	x0, msg_done
	bl	puts
	mov	x0, #0
	b	exit				/* hvc #0: handled by our EL2 below */

/* ---------------- EL2 ---------------- */
	.balign 2048
el2_vectors:
	.rept	8				/* current EL: never expected */
	.balign	0x80
	b	el2_unexpected
	.endr
	.balign	0x80				/* 0x400: lower EL, AArch64, synchronous */
	b	el2_sync_lower
	.rept	7
	.balign	0x80
	b	el2_unexpected
	.endr

el2_sync_lower:
	sub	sp, sp, #FRAME
	stp	x0, x1, [sp, #0]
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
	str	xzr, [sp, #248]			/* frame[31]: Rt = 31 is XZR */
	mrs	x0, esr_el2
	lsr	x1, x0, #26
	cmp	x1, #0x18
	b.eq	trap_sysreg
	cmp	x1, #0x16
	b.eq	trap_hvc
	b	el2_unexpected

trap_sysreg:
	ldr	x2, =0x3ffc1f			/* Op0, Op2, Op1, CRn, CRm, Direction */
	and	x2, x0, x2
	ldr	x3, =((3 << 20) | (0 << 17) | (0 << 14) | (10 << 10) | (2 << 1) | 0)
	cmp	x2, x3
	b.ne	el2_unexpected
	ubfx	x4, x0, #5, #5			/* Rt */
	ldr	x5, [sp, x4, lsl #3]
	msr	mair_el1, x5
	adrp	x6, trap_count
	ldr	x7, [x6, :lo12:trap_count]
	add	x7, x7, #1
	str	x7, [x6, :lo12:trap_count]
	mrs	x6, elr_el2
	add	x6, x6, #4
	msr	elr_el2, x6
	ldp	x0, x1, [sp, #0]
	ldp	x2, x3, [sp, #16]
	ldp	x4, x5, [sp, #32]
	ldp	x6, x7, [sp, #48]
	add	sp, sp, #FRAME			/* x8..x30 untouched */
	eret

trap_hvc:
	ldr	x1, [sp, #0]			/* guest x0 */
	ldr	x2, =0xC6000001
	cmp	x1, x2
	b.ne	el2_unexpected
	adr	x0, msg_exit
	bl	puts
	ldr	x0, [sp, #8]			/* guest x1 = status */
	bl	putdec
	mov	x0, #'\n'
	bl	putc
	b	power_off

el2_unexpected:
	adr	x0, msg_unexpected
	bl	puts
	mrs	x0, esr_el2
	bl	puthex
	adr	x0, msg_elr
	bl	puts
	mrs	x0, elr_el2
	bl	puthex
	mov	x0, #'\n'
	bl	putc
power_off:
	movz	x0, #0x0008			/* PSCI SYSTEM_OFF over SMC */
	movk	x0, #0x8400, lsl #16
	smc	#0
	b	.

	.ltorg
msg_banner:	.asciz "el2-storm: EL2 emulates trapped MAIR_EL1 writes (HCR_EL2.TVM)\n"
msg_not_el2:	.asciz "FAIL not started at EL2 (run with -M virt,virtualization=on)\n"
msg_el1:	.asciz "EL1: 1000000 MAIR_EL1 writes, each trapped to EL2\n"
msg_mair:	.asciz "MAIR_EL1 = "
msg_pass_mair:	.asciz "\nPASS MAIR_EL1 holds the last value written\n"
msg_fail_mair:	.asciz "\nFAIL MAIR_EL1 does not hold the last value written\n"
msg_traps:	.asciz "EL2 traps handled: "
msg_pass_traps:	.asciz "\nPASS one trap per write\n"
msg_fail_traps:	.asciz "\nFAIL trap count differs from the number of writes\n"
msg_done:	.asciz "done\n"
msg_exit:	.asciz "EL2: guest exit hypercall, status "
msg_unexpected:	.asciz "FAIL EL2: unexpected exception ESR_EL2="
msg_elr:	.asciz " ELR_EL2="

	.bss
	.balign 16
trap_count:
	.quad	0
	.balign 16
	.space	0x2000
el1_stack_top:
