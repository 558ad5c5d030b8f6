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
#define R(n) (8 * (n))
	.text
	.globl svm_vmrun
svm_vmrun:
	pushq %rbp
	movq %rsp, %rbp
	pushq %rbx
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	pushq %rdx		/* host_vmcb_pa */
	pushq %rsi		/* regs */

	movq %rdi, %rax		/* guest VMCB: VMRUN takes it in RAX */

	movq R(1)(%rsi), %rcx
	movq R(2)(%rsi), %rdx
	movq R(3)(%rsi), %rbx
	movq R(5)(%rsi), %rbp
	movq R(7)(%rsi), %rdi
	movq R(8)(%rsi), %r8
	movq R(9)(%rsi), %r9
	movq R(10)(%rsi), %r10
	movq R(11)(%rsi), %r11
	movq R(12)(%rsi), %r12
	movq R(13)(%rsi), %r13
	movq R(14)(%rsi), %r14
	movq R(15)(%rsi), %r15
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
	movq %r8, R(8)(%rsi)
	movq %r9, R(9)(%rsi)
	movq %r10, R(10)(%rsi)
	movq %r11, R(11)(%rsi)
	movq %r12, R(12)(%rsi)
	movq %r13, R(13)(%rsi)
	movq %r14, R(14)(%rsi)
	movq %r15, R(15)(%rsi)
	popq R(6)(%rsi)
	addq $8, %rsp		/* regs */

	popq %rax		/* host_vmcb_pa */
	vmload %rax		/* our FS/GS base, TR, ... back */
	stgi

	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %rbx
	popq %rbp
	ret
