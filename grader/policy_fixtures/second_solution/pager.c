/*
 * Project 3, part 3, a second solution (grader/policy_fixtures/README.md).
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
		if (ph->p_type != PT_LOAD || elf->entry < ph->p_vaddr ||
		    elf->entry - ph->p_vaddr >= ph->p_memsz)
			continue;
		*entry_pa = ph->p_paddr + (elf->entry - ph->p_vaddr);
		return 0;
	}
	return -1;
}

int pager_load_phdr(struct pager *p, struct vm *vm, const struct elf_phdr *ph)
{
	(void)vm;
	uint64_t file_first = ph->p_paddr, file_end = ph->p_paddr + ph->p_filesz;
	uint64_t last = ALIGN_UP(ph->p_paddr + ph->p_memsz, PAGE_SIZE);

	for (uint64_t page = ALIGN_DOWN(ph->p_paddr, PAGE_SIZE); page < last; page += PAGE_SIZE) {
		uint64_t from = MAX(page, file_first), to = MIN(page + PAGE_SIZE, file_end);
		uint64_t file_off = 0;
		uint32_t page_off = 0, len = 0;
		if (from < to) {
			file_off = ph->p_offset + (from - file_first);
			page_off = from - page;
			len = to - from;
		}
		int r = pager_add_loader(p, page, file_off, page_off, len);
		if (r < 0)
			return r;
	}
	return 0;
}

int pager_handle_fault(struct pager *p, struct vm *vm, uint64_t gpa)
{
	if (npt_walk(vm->npt, gpa))
		return 1; /* another vCPU mapped it first */
	void *page = page_alloc();
	if (!page)
		return -NPT_ENOMEM;
	bool from_image = false;
	for (struct page_loader *l = pager_find(p, gpa); l; l = pager_find_next(l)) {
		int r = pager_run_loader(p, l, page);
		if (r < 0) {
			page_free(page);
			return r;
		}
		from_image = true;
	}
	int r = npt_map(vm->npt, gpa, page, NPT_PERM_ALL);
	if (r < 0) {
		page_free(page);
		return r;
	}
	if (from_image)
		p->stats.image_pages++;
	else
		p->stats.zero_pages++;
	return 1;
}
