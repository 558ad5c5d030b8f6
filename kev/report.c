/*
 * report.c: how a VM ends, in words. See report.h.
 */
#include "report.h"
#include "mm.h"
#include "printk.h"
#include "vm.h"
#include "x86.h"

const char *vm_fault_handler_name(const struct vm *vm)
{
	if (vm->fault_handler_name)
		return vm->fault_handler_name;
	uint64_t off;
	const char *name = symbol_lookup((uint64_t)vm->fault_handler, &off);
	return name ? name : "the fault handler";
}

/*
 * What a TA needs to place a guest crash: the event being delivered, the RIP
 * with the guest ELF's own symbol, the bytes there (read through the
 * student's translation), and whoever filled that code's page
 * (vm->describe_code: the pager's loaders).
 */
void vcpu_report_crash(struct vcpu *vcpu)
{
	struct vm *vm = vcpu->vm;
	struct vmcb_save_area *s = &vcpu->vmcb->save;
	char event[64], sym[48] = "";
	svm_describe_event(vcpu->vmcb->control.exit_int_info, event, sizeof(event));
	if (vm->symbolize && vm->symbolize(vm->report_arg, s->rip, sym + 1, sizeof(sym) - 1) == 0)
		sym[0] = ' ';
	printk("kev:   exit_int_info 0x%lx: %s\n", vcpu->vmcb->control.exit_int_info, event);
	printk("kev:   rip 0x%lx%s  rsp 0x%lx  cr0 0x%lx cr3 0x%lx efer 0x%lx\n", s->rip, sym,
	       s->rsp, s->cr0, s->cr3, s->efer);
	uint8_t code[16];
	int err = vcpu_read_gva(vcpu, s->rip, code, sizeof(code));
	if (err) {
		printk("kev:   the bytes at rip cannot be read: %s says %s\n",
		       vcpu_translation_name(vcpu), kev_npt->strerror(err));
	} else {
		char hex[3 * sizeof(code) + 1];
		for (size_t i = 0; i < sizeof(code); i++)
			snprintf(hex + 3 * i, 4, " %02x", code[i]);
		printk("kev:   bytes at rip:%s\n", hex);
	}
	if (vm->describe_code)
		vm->describe_code(vm->report_arg, s->rip, !(s->cr0 & CR0_PG));
}

void vcpu_fail(struct vcpu *vcpu, const char *fmt, ...)
{
	struct vm *vm = vcpu->vm;
	char msg[128];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	printk("kev: %s vcpu%d: %s (rip 0x%lx)\n", vm->name, vcpu->id, msg, vcpu->vmcb->save.rip);
	if (vcpu->vmcb->control.exit_int_info & SVM_EXITINTINFO_VALID)
		vcpu_report_crash(vcpu); /* it happened while delivering an exception */
	/* Keep the first error only: later ones are usually its consequences. */
	if (!__atomic_test_and_set(&vm->error_taken, __ATOMIC_SEQ_CST)) {
		snprintf(vm->error, sizeof(vm->error), "vcpu%d: %s", vcpu->id, msg);
		vm->error_vcpu = vcpu;
	}
	vcpu_end(vcpu, VCPU_ERROR, 0);
}

const char *vm_verdict_string(struct vm *vm, char *buf, size_t len)
{
	if (vm->error[0]) {
		snprintf(buf, len, "error: %s", vm->error);
		return buf;
	}
	for (int i = 0; i < vm->nvcpus; i++) {
		if (vm->vcpus[i].verdict == VCPU_TRIPLE_FAULT) {
			snprintf(buf, len, "triple fault on vcpu%d: %s", i, vm->vcpus[i].crash);
			return buf;
		}
	}
	snprintf(buf, len, "exited %lu", vm->vcpus[0].guest_code);
	return buf;
}
