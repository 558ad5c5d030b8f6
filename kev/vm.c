/*
 * vm.c: creating, configuring, running and destroying VMs. See vm.h.
 */
#include "vm.h"
#include "mm.h"
#include "permission_maps.h"
#include "printk.h"
#include "smp.h"

static int next_vm_id;

static void vmcb_init_control(struct vm *vm, struct vmcb *vmcb)
{
	struct vmcb_control_area *c = &vmcb->control;
	c->intercept_misc1 = INTERCEPT_INTR | INTERCEPT_NMI | INTERCEPT_CPUID | INTERCEPT_HLT |
			     INTERCEPT_IOIO_PROT | INTERCEPT_MSR_PROT | INTERCEPT_SHUTDOWN;
	c->intercept_misc2 = INTERCEPT_VMRUN | INTERCEPT_VMMCALL | INTERCEPT_VMLOAD |
			     INTERCEPT_VMSAVE | INTERCEPT_STGI | INTERCEPT_CLGI | INTERCEPT_SKINIT;
	c->iopm_base_pa = iopm_pa();
	c->msrpm_base_pa = msrpm_pa();
	/* One ASID per VM (1..15: QEMU offers 16), and a flush at the first run. */
	c->asid = 1 + vm->id % 15;
	c->int_ctl = V_INTR_MASKING;
	c->nested_ctl = SVM_NESTED_CTL_NP_ENABLE;
	c->nested_cr3 = kev_npt->root_pa(vm->npt);
}

struct vm *vm_create(const char *name, int nvcpus, uint64_t mem_size)
{
	if (nvcpus < 1 || nvcpus > VM_MAX_VCPUS)
		return NULL;
	if (!svm_available())
		return NULL;
	if (!kev_npt)
		panic("vm_create: no nested page table (kev_set_npt_ops was never called)");
	permission_maps_init();
	struct vm *vm = kzalloc(sizeof(*vm));
	if (!vm)
		return NULL;
	strncpy(vm->name, name, sizeof(vm->name) - 1);
	vm->id = __atomic_fetch_add(&next_vm_id, 1, __ATOMIC_RELAXED);
	vm->nvcpus = nvcpus;
	vm->mem_size = mem_size;
	spin_init(&vm->npt_lock, "npt_lock");
	faultlog_init(&vm->faultlog);
	vm->npt = kev_npt->create();
	if (!vm->npt)
		goto fail;
	for (int i = 0; i < nvcpus; i++) {
		struct vcpu *v = &vm->vcpus[i];
		v->vm = vm;
		v->id = i;
		v->vmcb = page_alloc();
		if (!v->vmcb)
			goto fail;
		vmcb_init_control(vm, v->vmcb);
		v->flush_tlb = true;
	}
	return vm;
fail:
	vm_destroy(vm);
	return NULL;
}

void vm_destroy(struct vm *vm)
{
	if (!vm)
		return;
	faultlog_print(vm);
	for (int i = 0; i < vm->nvcpus; i++)
		if (vm->vcpus[i].vmcb)
			page_free(vm->vcpus[i].vmcb);
	if (vm->npt)
		kev_npt->destroy(vm->npt);
	kfree(vm);
}

void vm_set_fault_handler(struct vm *vm, npf_handler_fn fn, void *arg, const char *name)
{
	vm->fault_handler = fn;
	vm->fault_arg = arg;
	vm->fault_handler_name = name;
}

int vm_add_mmio(struct vm *vm, uint64_t gpa, uint64_t size,
		int (*access)(struct vcpu *, uint64_t, bool, int, uint64_t *, void *), void *arg)
{
	if (vm->nmmio == VM_MAX_MMIO)
		return -1;
	vm->mmio[vm->nmmio++] = (struct mmio_region){gpa, size, access, arg};
	return 0;
}

int vm_add_ports(struct vm *vm, uint16_t first, uint16_t last,
		 int (*io)(struct vcpu *, uint16_t, bool, int, uint32_t *, void *), void *arg)
{
	if (vm->nports == VM_MAX_PORTS)
		return -1;
	vm->ports[vm->nports++] = (struct port_handler){first, last, io, arg};
	return 0;
}

void vm_run(struct vm *vm)
{
	for (int i = 0; i < vm->nvcpus; i++) {
		struct vcpu *v = &vm->vcpus[i];
		char name[32];
		snprintf(name, sizeof(name), "%s/vcpu%d", vm->name, i);
		v->verdict = VCPU_RUNNING;
		v->thread = thread_create(name, vcpu_loop, v, (vm->first_cpu + i) % ncpu);
		if (!v->thread)
			panic("vm_run: cannot create a thread for %s", name);
	}
	for (int i = 0; i < vm->nvcpus; i++)
		thread_join(vm->vcpus[i].thread);
	faultlog_print_if_failed(vm);
}
