/*
 * Every op0 = 0b10 system-register encoding as a two-instruction routine, for debug-fuzz:
 * sysreg_write[i] = "msr S2_<op1>_C<n>_C<m>_<op2>, x0; ret", sysreg_read[i] = "mrs x0, ...; ret",
 * i = op1:CRn:CRm:op2 (14 bits), 8 bytes each. Built once: the fuzz writes no code at run time.
 * el0_call: at EL0, x0 = {value, routine}: calls the routine with x0 = value, then SVC #0.
 */
	.macro ENT dir, op1, crn, crm, op2
	.ifc \dir, w
	msr	s2_\op1\()_c\crn\()_c\crm\()_\op2, x0
	.else
	mrs	x0, s2_\op1\()_c\crn\()_c\crm\()_\op2
	.endif
	ret
	.endm

	.macro TABLE dir
	.irp op1, 0,1,2,3,4,5,6,7
	.irp crn, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
	.irp crm, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
	.irp op2, 0,1,2,3,4,5,6,7
	ENT \dir, \op1, \crn, \crm, \op2
	.endr
	.endr
	.endr
	.endr
	.endm

	.text
	.balign 8
	.global sysreg_write, sysreg_read, el0_call
sysreg_write:
	TABLE w
sysreg_read:
	TABLE r
el0_call:
	ldr	x1, [x0, #8]
	ldr	x0, [x0]
	blr	x1
	svc	#0
	b	.
