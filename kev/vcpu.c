/*
 * vcpu.c: the run loop of one vCPU — enter the guest, handle the exit, repeat.
 */
#include "cpu.h"
#include "mm.h"
#include "printk.h"
#include "spinlock.h"
#include "vm.h"
#include "x86.h"

void svm_vmrun(uint64_t vmcb_pa, uint64_t *regs, uint64_t host_vmcb_pa);

void vcpu_end(struct vcpu *vcpu, enum vcpu_verdict verdict, uint64_t code)
{
	vcpu->verdict = verdict;
	vcpu->exit_code = code;
	/* Errors and triple faults end the whole VM; an exit hypercall only this vCPU. */
	if (verdict != VCPU_EXITED)
		vcpu->vm->stopping = true;
}

/* Enter the guest once; on return vcpu->exit describes why it stopped. */
static void vcpu_enter(struct vcpu *vcpu)
{
	struct vmcb *vmcb = vcpu->vmcb;
	vmcb->save.rax = vcpu->regs[RAX];
	vmcb->save.rsp = vcpu->regs[RSP];
	vmcb->control.tlb_ctl = vcpu->flush_tlb ? TLB_CONTROL_FLUSH_ALL : 0;
	vcpu->flush_tlb = false;

	push_off(); /* no thread switch between VMRUN and reading the exit */
	struct cpu *c = mycpu();
	c->vcpu = vcpu; /* a watchdog NMI in the guest reports the guest's RIP */
	svm_vmrun(V2P(vmcb), vcpu->regs, V2P(c->svm_host_vmcb));
	c->vcpu = NULL;
	pop_off(); /* a host interrupt that caused the exit is taken here */

	vcpu->regs[RAX] = vmcb->save.rax;
	vcpu->regs[RSP] = vmcb->save.rsp;
	vcpu->exit = (struct vm_exit){
	    .code = vmcb->control.exit_code,
	    .info1 = vmcb->control.exit_info_1,
	    .info2 = vmcb->control.exit_info_2,
	    .rip = vmcb->save.rip,
	};
	vcpu->exits++;
}

void vcpu_describe(const struct vcpu *vcpu)
{
	printk("  in guest: vm %s vcpu%d at guest rip 0x%lx (%lu exits, %lu of them #NPF)\n",
	       vcpu->vm->name, vcpu->id, vcpu->vmcb->save.rip, vcpu->exits, vcpu->npf_exits);
}

void vcpu_loop(void *arg)
{
	struct vcpu *vcpu = arg;
	if (svm_init_cpu() != 0) {
		vcpu_fail(vcpu, "this CPU cannot run guests (no SVM/NPT)");
		return;
	}
	while (vcpu->verdict == VCPU_RUNNING) {
		if (vcpu->vm->stopping) {
			vcpu_end(vcpu, VCPU_STOPPED, 0);
			break;
		}
		vcpu_enter(vcpu);
		if (!handle_exit(vcpu))
			break;
	}
	console_flush(vcpu);
}
