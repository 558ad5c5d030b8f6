/*
 * switch.S: swtch(&old_rsp, new_rsp) saves the callee-saved registers on the
 * current stack, stores the stack pointer in *old_rsp, and resumes the thread
 * whose stack pointer is new_rsp. Everything else was saved by the C caller.
 */
#include "asm.h"

	.text
	.globl swtch, thread_entry
swtch:
	push_callee_saved
	movq %rsp, (%rdi)
	movq %rsi, %rsp
	pop_callee_saved
	ret

/* A new thread's first swtch "returns" here (see thread_create). */
thread_entry:
	xorl %ebp, %ebp
	andq $-16, %rsp
	call thread_start
	ud2
