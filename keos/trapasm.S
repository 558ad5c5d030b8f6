/*
 * trapasm.S: one entry stub per vector. Each pushes a fake error code when
 * the CPU pushes none, then the vector number, then every GPR, and calls
 * trap(struct trapframe *). The stubs' addresses form trap_vectors[].
 */
	.altmacro
	.text
	.macro VECTOR n
	.align 16
vector\n:
	/* Exceptions 8, 10-14, 17, 21, 29, 30 push an error code themselves. */
	.if (\n == 8) || (\n >= 10 && \n <= 14) || (\n == 17) || (\n == 21) || (\n == 29) || (\n == 30)
	.else
	pushq $0
	.endif
	pushq $\n
	jmp trap_common
	.endm

	.set i, 0
	.rept 256
	VECTOR %i
	.set i, i + 1
	.endr

trap_common:
	pushq %rax
	pushq %rbx
	pushq %rcx
	pushq %rdx
	pushq %rbp
	pushq %rsi
	pushq %rdi
	pushq %r8
	pushq %r9
	pushq %r10
	pushq %r11
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	movq %rsp, %rdi
	cld
	call trap
	/* A backtrace that finds this return address goes on from the trapframe above
	 * it (panic.c's walk_frames): the code the interrupt stopped. */
	.globl trap_return
trap_return:
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %r11
	popq %r10
	popq %r9
	popq %r8
	popq %rdi
	popq %rsi
	popq %rbp
	popq %rdx
	popq %rcx
	popq %rbx
	popq %rax
	addq $16, %rsp	/* vector and error code */
	iretq

	.section .rodata
	.align 8
	.globl trap_vectors
trap_vectors:
	.macro VECTOR_ADDR n
	.quad vector\n
	.endm
	.set i, 0
	.rept 256
	VECTOR_ADDR %i
	.set i, i + 1
	.endr
