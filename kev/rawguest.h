/*
 * rawguest.h: running a few bytes of machine code as a guest — the way
 * KeV's early projects test a hypervisor. The host gives the guest 1 MiB of
 * RAM, copies the code to RAWGUEST_CODE, builds identity page tables for the
 * first 4 GiB, and starts it in 64-bit mode (or 32-bit protected mode with
 * paging off, like a multiboot loader).
 */
#pragma once
#include "vm.h"

#define RAWGUEST_CODE	   0x1000
#define RAWGUEST_TABLES	   0x10000
#define RAWGUEST_RAM	   (1UL << 20)
#define RAWGUEST_STACK_TOP 0x80000

struct rawguest_result {
	char verdict[160]; /* vm_verdict_string */
	char console[2048];
	uint64_t codes[VM_MAX_VCPUS];
	enum vcpu_verdict verdicts[VM_MAX_VCPUS];
	uint64_t exits;
	uint64_t intr_exits; /* host interrupts taken while the guest ran */
	uint64_t us;	     /* wall time of vm_run */
	size_t pages_leaked; /* pages not given back by vm_destroy */
};

/* Called after the VM is made, before it runs: add devices, ports, a pager. */
typedef void (*rawguest_setup_fn)(struct vm *vm, void *arg);

/* Run code [code, end) in a fresh VM, then destroy it. 0, or -1 if the VM could not be set up. */
int rawguest_run(const uint8_t *code, const uint8_t *end, int nvcpus, bool long_mode,
		 rawguest_setup_fn setup, void *arg, struct rawguest_result *out);
