/*
 * switch.S: swtch(&old_rsp, new_rsp) saves the callee-saved registers on the
 * current stack, stores the stack pointer in *old_rsp, and resumes the thread
 * whose stack pointer is new_rsp. Everything else was saved by the C caller.
 */
	.text
	.globl swtch, thread_entry
swtch:
	pushq %rbp
	pushq %rbx
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	movq %rsp, (%rdi)
	movq %rsi, %rsp
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %rbx
	popq %rbp
	ret

/* A new thread's first swtch "returns" here (see thread_create). */
thread_entry:
	xorl %ebp, %ebp
	andq $-16, %rsp
	call thread_start
	ud2
