/*
 * Project 3, part 3: the lazy pager. Read pager.h first: it is the spec.
 */
#include "pager.h"
#include "mm.h"
#include "npt.h"
#include "printk.h"
#include "vm.h"

int pager_entry_point(const struct elf_image *elf, uint64_t *entry_pa)
{
	(void)elf, (void)entry_pa;
	TODO();
}

int pager_load_phdr(struct pager *p, struct vm *vm, const struct elf_phdr *ph)
{
	(void)p, (void)vm, (void)ph;
	TODO();
}

int pager_handle_fault(struct pager *p, struct vm *vm, uint64_t gpa)
{
	(void)p, (void)vm, (void)gpa;
	TODO();
}
