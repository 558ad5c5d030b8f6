/*
 * vcpu.c: one vCPU's life: its first register state, then the run loop —
 * enter the guest, handle the exit, repeat. See vcpu.h.
 */
#include "vcpu.h"
#include "cpu.h"
#include "exit.h"
#include "mm.h"
#include "printk.h"
#include "x86.h"

static void seg(struct vmcb_seg *s, uint16_t sel, uint16_t attrib, uint32_t limit)
{
	*s = (struct vmcb_seg){.selector = sel, .attrib = attrib, .limit = limit, .base = 0};
}

/* What every guest starts with, whatever its mode. */
static void vcpu_init_common(struct vcpu *vcpu, uint64_t rip)
{
	struct vmcb_save_area *s = &vcpu->vmcb->save;
	memset(vcpu->regs, 0, sizeof(vcpu->regs));
	seg(&s->ldtr, 0, 0x0082, 0xFFFF);
	seg(&s->tr, 0, 0x008B, 0xFFFF);
	seg(&s->gdtr, 0, 0, 0xFFFF);
	seg(&s->idtr, 0, 0, 0xFFFF);
	s->efer = EFER_SVME; /* VMRUN refuses a guest without it, even in 32-bit mode */
	s->dr6 = 0xFFFF0FF0;
	s->dr7 = 0x400;
	s->rflags = 0x2;
	s->rip = rip;
	s->g_pat = 0x0007040600070406UL; /* the power-on PAT */
}

void vcpu_init_protected32(struct vcpu *vcpu, uint64_t rip)
{
	struct vmcb_save_area *s = &vcpu->vmcb->save;
	vcpu_init_common(vcpu, rip);
	seg(&s->cs, 0x08, 0x0C9B, 0xFFFFFFFF); /* 32-bit code, flat */
	seg(&s->ds, 0x10, 0x0C93, 0xFFFFFFFF);
	s->es = s->ss = s->fs = s->gs = s->ds;
	s->cr0 = CR0_PE | CR0_ET | CR0_NE;
	s->cr3 = 0;
	s->cr4 = 0;
}

void vcpu_init_long64(struct vcpu *vcpu, uint64_t rip, uint64_t cr3, uint64_t rsp)
{
	struct vmcb_save_area *s = &vcpu->vmcb->save;
	vcpu_init_common(vcpu, rip);
	seg(&s->cs, 0x08, 0x0A9B, 0xFFFFFFFF); /* 64-bit code */
	seg(&s->ds, 0x10, 0x0C93, 0xFFFFFFFF);
	s->es = s->ss = s->fs = s->gs = s->ds;
	s->cr0 = CR0_PG | CR0_WP | CR0_NE | CR0_ET | CR0_MP | CR0_PE;
	s->cr3 = cr3;
	s->cr4 = CR4_PAE;
	s->efer = EFER_SVME | EFER_LME | EFER_LMA | EFER_NXE;
	s->rsp = rsp;
}

void vcpu_end(struct vcpu *vcpu, enum vcpu_verdict verdict, uint64_t guest_code)
{
	vcpu->verdict = verdict;
	vcpu->guest_code = guest_code;
	/* Errors and triple faults end the whole VM; an exit hypercall only this vCPU. */
	if (verdict != VCPU_EXITED)
		vcpu->vm->stopping = true;
}

/* Enter the guest once; on return vcpu->exit describes why it stopped. */
static void vcpu_enter(struct vcpu *vcpu)
{
	struct vmcb *vmcb = vcpu->vmcb;
	vmcb->save.rax = vcpu->regs[VCPU_RAX];
	vmcb->save.rsp = vcpu->regs[VCPU_RSP];
	vmcb->control.tlb_ctl = vcpu->flush_tlb ? TLB_CONTROL_FLUSH_ALL : 0;
	vcpu->flush_tlb = false;

	push_off(); /* no thread switch between VMRUN and reading the exit */
	struct cpu *c = mycpu();
	c->vcpu = vcpu; /* a watchdog NMI in the guest reports the guest's RIP */
	svm_vmrun(V2P(vmcb), vcpu->regs, svm_host_vmcb_pa());
	c->vcpu = NULL;
	pop_off(); /* a host interrupt that caused the exit is taken here */

	vcpu->regs[VCPU_RAX] = vmcb->save.rax;
	vcpu->regs[VCPU_RSP] = vmcb->save.rsp;
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
	if (svm_enable_cpu() != 0) {
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
