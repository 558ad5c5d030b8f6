/*
 * vmrun.S: svm_vmrun(vmcb_pa, regs, host_vmcb_pa) enters the guest and
 * returns at its next #VMEXIT.
 *
 * VMRUN itself switches only RAX, RSP, RIP, RFLAGS, the control registers
 * and CS/DS/ES/SS; the other general-purpose registers are ours to swap, from
 * and to regs[] (indexed by enum vcpu_gpr). VMLOAD/VMSAVE move the rest of the
 * segment state (FS, GS, TR, LDTR, syscall MSRs): the host's was saved once
 * per CPU in host_vmcb_pa (svm_enable_cpu) and is reloaded after every exit.
 *
 * Called with interrupts off. Inside, GIF is cleared and IF set, so that a
 * host interrupt arriving while the guest runs causes an INTR exit instead
 * of being lost; after the exit it is taken as soon as the caller re-enables
 * interrupts. Not under QEMU's record/replay (kev_guest_irqs_off, svm.c):
 * there IF stays clear, and host interrupts wait for the guest's next exit.
 */
#include "asm.h"

#define R(n) (8 * (n))
	.text
	.globl svm_vmrun
svm_vmrun:
	push_callee_saved
	pushq %rdx		/* host_vmcb_pa */
	pushq %rsi		/* regs */

	movq %rdi, %rax		/* guest VMCB: VMRUN takes it in RAX */

	movq R(1)(%rsi), %rcx
	movq R(2)(%rsi), %rdx
	movq R(3)(%rsi), %rbx
	movq R(5)(%rsi), %rbp
	movq R(7)(%rsi), %rdi
	.irp n, 8, 9, 10, 11, 12, 13, 14, 15
	movq R(\n)(%rsi), %r\n
	.endr
	movq R(6)(%rsi), %rsi

	clgi
	cmpb $0, kev_guest_irqs_off(%rip)
	jne 1f
	sti
1:	vmload %rax
	vmrun %rax
	vmsave %rax
	/* Back in the host: RAX is the guest VMCB address again, RSP ours. */
	cli

	pushq %rsi		/* the guest's rsi */
	movq 8(%rsp), %rsi	/* regs */
	movq %rcx, R(1)(%rsi)
	movq %rdx, R(2)(%rsi)
	movq %rbx, R(3)(%rsi)
	movq %rbp, R(5)(%rsi)
	movq %rdi, R(7)(%rsi)
	.irp n, 8, 9, 10, 11, 12, 13, 14, 15
	movq %r\n, R(\n)(%rsi)
	.endr
	popq R(6)(%rsi)
	addq $8, %rsp		/* regs */

	popq %rax		/* host_vmcb_pa */
	vmload %rax		/* our FS/GS base, TR, ... back */
	stgi

	pop_callee_saved
	ret
