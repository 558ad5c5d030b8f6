/*
 * Project 3, part 3: the lazy pager — REFERENCE SOLUTION (not for students).
 */
#include "pager.h"
#include "mm.h"
#include "npt.h"
#include "printk.h"
#include "vm.h"

int pager_entry_point(const struct elf_image *elf, uint64_t *entry_pa)
{
	for (int i = 0; i < elf->nphdrs; i++) {
		const struct elf_phdr *ph = &elf->phdrs[i];
		if (elf->entry >= ph->p_vaddr && elf->entry - ph->p_vaddr < ph->p_memsz) {
			*entry_pa = ph->p_paddr + (elf->entry - ph->p_vaddr);
			return 0;
		}
	}
	return -1;
}

int pager_load_phdr(struct pager *p, struct vm *vm, const struct elf_phdr *ph)
{
	(void)vm;
	uint64_t start = ph->p_paddr;
	uint64_t end = ph->p_paddr + ph->p_memsz;
	uint64_t file_end = ph->p_paddr + ph->p_filesz; /* past this: bss */

	for (uint64_t page = ALIGN_DOWN(start, PAGE_SIZE); page < end; page += PAGE_SIZE) {
		uint64_t lo = MAX(page, start);		       /* first segment byte in the page */
		uint64_t hi = MIN(page + PAGE_SIZE, file_end); /* end of its file bytes */
		uint32_t len = hi > lo ? hi - lo : 0;
		int err = pager_add_loader(p, page, ph->p_offset + (lo - start), lo - page, len);
		if (err)
			return err;
	}
	return 0;
}

int pager_handle_fault(struct pager *p, struct vm *vm, uint64_t gpa)
{
	/* Another vCPU may have loaded it while we waited for the lock. */
	if (npt_walk(vm->npt, gpa))
		return 1;

	void *page = page_alloc();
	if (!page)
		return -NPT_ENOMEM;
	struct page_loader *l = pager_find(p, gpa);
	bool from_image = l != NULL;
	int err = 0;
	for (; l && !err; l = pager_find_next(l))
		err = pager_run_loader(p, l, page);
	if (!err)
		err = npt_map(vm->npt, gpa, page, NPT_PERM_ALL);
	if (err) {
		page_free(page);
		return err;
	}
	if (from_image)
		p->stats.image_pages++;
	else
		p->stats.zero_pages++;
	return 1;
}
