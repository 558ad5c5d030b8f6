/*
 * asm.h: macros shared by the assembly files (include it from a .S file).
 */
#pragma once

#ifdef __ASSEMBLER__
/* clang-format off */

/* The registers a System V function must give back as it found them (besides %rsp). */
.macro push_callee_saved
	.irp reg, rbp, rbx, r12, r13, r14, r15
	pushq %\reg
	.endr
.endm

/* The same, in the reverse order. */
.macro pop_callee_saved
	.irp reg, r15, r14, r13, r12, rbx, rbp
	popq %\reg
	.endr
.endm
/* clang-format on */

#endif
