/*
 * guest_mem.c: guest memory as the hypervisor reaches it. See guest_mem.h.
 */
#include "guest_mem.h"
#include "mm.h"
#include "printk.h"
#include "vm.h"
#include "x86.h"

const struct npt_ops *kev_npt;

void kev_set_npt_ops(const struct npt_ops *ops)
{
	kev_npt = ops;
}

int vm_alloc_ram(struct vm *vm, uint64_t gpa, uint64_t len)
{
	for (uint64_t a = ALIGN_DOWN(gpa, PAGE_SIZE); a < gpa + len; a += PAGE_SIZE) {
		void *page = page_alloc();
		if (!page)
			return -1;
		spin_lock(&vm->npt_lock);
		int err = kev_npt->map(vm->npt, a, page);
		spin_unlock(&vm->npt_lock);
		if (err) {
			page_free(page);
			return err;
		}
	}
	return 0;
}

int vm_fault_in(struct vm *vm, uint64_t gpa)
{
	if (!vm->fault_handler || gpa >= vm->mem_size)
		return 0;
	return vm->fault_handler(vm, ALIGN_DOWN(gpa, PAGE_SIZE), vm->fault_arg);
}

/* The handler said "mapped" (1) and the page is not: name it, keep it as the VM's error. */
static void handler_did_not_map(struct vm *vm, uint64_t gpa)
{
	char msg[sizeof(vm->error)];
	snprintf(msg, sizeof(msg), "%s returned 1 for guest-physical 0x%lx but did not map it",
		 vm_fault_handler_name(vm), gpa);
	printk("kev: %s: %s\n", vm->name, msg);
	if (!__atomic_test_and_set(&vm->error_taken, __ATOMIC_SEQ_CST))
		memcpy(vm->error, msg, sizeof(msg));
}

/* Where the host finds one guest byte: 0 and *host, or the translation's error. */
typedef int (*to_host_fn)(void *ctx, uint64_t addr, uint8_t **host);

/* Copy between host memory and guest memory, a page piece at a time. */
static int copy_guest(to_host_fn to_host, void *ctx, uint64_t addr, void *buf, size_t len,
		      bool to_guest)
{
	uint8_t *p = buf;
	while (len > 0) {
		size_t chunk = MIN(len, PAGE_SIZE - addr % PAGE_SIZE);
		uint8_t *host;
		int err = to_host(ctx, addr, &host);
		if (err)
			return err;
		if (to_guest)
			memcpy(host, p, chunk);
		else
			memcpy(p, host, chunk);
		addr += chunk, p += chunk, len -= chunk;
	}
	return 0;
}

/*
 * A guest-physical byte. If it is not mapped yet, ask the fault handler (the
 * lazy pager loads pages for us as for the guest).
 */
static int gpa_to_host(void *vm_, uint64_t gpa, uint8_t **host)
{
	struct vm *vm = vm_;
	uint64_t hpa;
	spin_lock(&vm->npt_lock);
	int err = kev_npt->gpa2hpa(vm->npt, gpa, &hpa);
	if (err && vm_fault_in(vm, gpa) == 1 && (err = kev_npt->gpa2hpa(vm->npt, gpa, &hpa)))
		handler_did_not_map(vm, gpa);
	spin_unlock(&vm->npt_lock);
	*host = err ? NULL : P2V(hpa);
	return err;
}

int vm_write_gpa(struct vm *vm, uint64_t gpa, const void *src, size_t len)
{
	return copy_guest(gpa_to_host, vm, gpa, (void *)src, len, true);
}

int vm_read_gpa(struct vm *vm, uint64_t gpa, void *dst, size_t len)
{
	return copy_guest(gpa_to_host, vm, gpa, dst, len, false);
}

static bool guest_paging_on(struct vcpu *vcpu)
{
	return vcpu->vmcb->save.cr0 & CR0_PG;
}

const char *vcpu_translation_name(struct vcpu *vcpu)
{
	return guest_paging_on(vcpu) ? "npt_gva2hpa" : "npt_gpa2hpa";
}

/* A guest-virtual byte, through the guest's page table: the student's npt_gva2hpa. */
static int gva_to_host(void *vcpu_, uint64_t gva, uint8_t **host)
{
	struct vcpu *vcpu = vcpu_;
	struct vm *vm = vcpu->vm;
	uint64_t hpa;
	spin_lock(&vm->npt_lock);
	int err = kev_npt->gva2hpa(vm->npt, vcpu->vmcb->save.cr3, gva, &hpa);
	spin_unlock(&vm->npt_lock);
	*host = err ? NULL : P2V(hpa);
	return err;
}

/* Paging off: guest-virtual is guest-physical (32 bits, as the CPU sees it). */
static int copy_gva(struct vcpu *vcpu, uint64_t gva, void *buf, size_t len, bool to_guest)
{
	if (!guest_paging_on(vcpu))
		return copy_guest(gpa_to_host, vcpu->vm, gva & 0xFFFFFFFF, buf, len, to_guest);
	return copy_guest(gva_to_host, vcpu, gva, buf, len, to_guest);
}

int vcpu_read_gva(struct vcpu *vcpu, uint64_t gva, void *dst, size_t len)
{
	return copy_gva(vcpu, gva, dst, len, false);
}

int vcpu_write_gva(struct vcpu *vcpu, uint64_t gva, const void *src, size_t len)
{
	return copy_gva(vcpu, gva, (void *)src, len, true);
}

/* No lock and no fault handler: gdb calls it with the machine stopped anywhere. */
uint64_t kev_debug_gva2hva(struct vcpu *vcpu, uint64_t gva)
{
	struct npt *npt = vcpu->vm->npt;
	uint64_t hpa;
	int err = guest_paging_on(vcpu) ? kev_npt->gva2hpa(npt, vcpu->vmcb->save.cr3, gva, &hpa)
					: kev_npt->gpa2hpa(npt, gva & 0xFFFFFFFF, &hpa);
	return err ? 0 : (uint64_t)P2V(hpa);
}
