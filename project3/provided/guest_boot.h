/*
 * guest_boot.h: booting a guest kernel from its ELF file with the lazy pager
 * (Project 3) — the provided VM configuration around the student's code.
 */
#pragma once
#include "mmio.h"
#include "pager.h"
#include "vm.h"

#define GUEST_MEM     (256UL << 20) /* 256 MiB of guest RAM */
#define GUEST_MBI_GPA 0x9000UL	    /* where the multiboot2 boot information goes */

struct guest {
	struct vm *vm;
	struct pager pager;
	struct mmio_printer printer;
	uint64_t entry_pa;
};

/*
 * Open the ELF image `name` on the disk, check its headers, register its
 * pages with the lazy pager (nothing is read yet), and make a VM with nvcpus
 * vCPUs that all start at the entry point like a multiboot2 kernel.
 * 0, or -1 with the reason in err.
 */
int guest_create(struct guest *g, const char *name, int nvcpus, char *err, size_t errlen);
void guest_destroy(struct guest *g);
