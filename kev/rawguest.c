/*
 * rawguest.c: see rawguest.h.
 */
#include "rawguest.h"
#include "lapic.h"
#include "mm.h"
#include "printk.h"
#include "x86.h"

/*
 * Identity-map the guest's first 4 GiB with 2 MiB pages (so MMIO addresses
 * like 0xcafe0000 are reachable): a PML4 at table_gpa, a PDPT after it, then
 * four page directories. The six table pages must already be guest RAM.
 */
static int build_identity_page_table(struct vm *vm, uint64_t table_gpa)
{
	uint64_t pdpt = table_gpa + PAGE_SIZE, pd = table_gpa + 2 * PAGE_SIZE;
	uint64_t pml4e = pdpt | PTE_P | PTE_W;
	if (vm_write_gpa(vm, table_gpa, &pml4e, 8) != 0)
		return -1;
	for (uint64_t i = 0; i < 4; i++) {
		uint64_t pdpte = (pd + i * PAGE_SIZE) | PTE_P | PTE_W;
		if (vm_write_gpa(vm, pdpt + 8 * i, &pdpte, 8) != 0)
			return -1;
	}
	for (uint64_t i = 0; i < 4 * 512; i++) {
		uint64_t pde = (i << 21) | PTE_P | PTE_W | PTE_PS;
		if (vm_write_gpa(vm, pd + 8 * i, &pde, 8) != 0)
			return -1;
	}
	return 0;
}

static int setup_vm(struct vm *vm, const uint8_t *code, const uint8_t *end, bool long_mode)
{
	if (vm_alloc_ram(vm, 0, RAWGUEST_RAM) != 0 ||
	    build_identity_page_table(vm, RAWGUEST_TABLES) != 0 ||
	    vm_write_gpa(vm, RAWGUEST_CODE, code, end - code) != 0)
		return -1;
	for (int i = 0; i < vm->nvcpus; i++) {
		if (long_mode)
			vcpu_init_long64(&vm->vcpus[i], RAWGUEST_CODE, RAWGUEST_TABLES,
					 RAWGUEST_STACK_TOP - i * PAGE_SIZE);
		else
			vcpu_init_protected32(&vm->vcpus[i], RAWGUEST_CODE);
	}
	return 0;
}

int rawguest_run(const uint8_t *code, const uint8_t *end, int nvcpus, bool long_mode,
		 rawguest_setup_fn setup, void *arg, struct rawguest_result *out)
{
	kev_require_svm();
	memset(out, 0, sizeof(*out));
	size_t before = pages_free_count();
	struct vm *vm = vm_create("raw", nvcpus, RAWGUEST_RAM);
	if (!vm)
		return -1;
	if (setup_vm(vm, code, end, long_mode) != 0) {
		vm_destroy(vm);
		return -1;
	}
	if (setup)
		setup(vm, arg);
	uint64_t t0 = uptime_us();
	vm_run(vm);
	out->us = uptime_us() - t0;
	vm_verdict_string(vm, out->verdict, sizeof(out->verdict));
	memcpy(out->console, vm->console, sizeof(out->console));
	for (int i = 0; i < nvcpus; i++) {
		out->codes[i] = vm->vcpus[i].guest_code;
		out->verdicts[i] = vm->vcpus[i].verdict;
		out->exits += vm->vcpus[i].exits;
		out->intr_exits += vm->vcpus[i].intr_exits;
	}
	vm_destroy(vm);
	out->pages_leaked = before - pages_free_count();
	return 0;
}
