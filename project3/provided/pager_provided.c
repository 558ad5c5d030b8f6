/*
 * pager_provided.c: the lazy pager's bookkeeping, given to students: the
 * table of page loaders, reading the image, and the statistics the tests use.
 */
#include "mm.h"
#include "pager.h"
#include "printk.h"
#include "vm.h"

static unsigned bucket_of(uint64_t gpa)
{
	return (gpa >> PAGE_SHIFT) % PAGER_BUCKETS;
}

void pager_init(struct pager *p)
{
	memset(p, 0, sizeof(*p));
}

void pager_destroy(struct pager *p)
{
	for (int b = 0; b < PAGER_BUCKETS; b++) {
		struct page_loader *l = p->buckets[b];
		while (l) {
			struct page_loader *next = l->next;
			kfree(l);
			l = next;
		}
		p->buckets[b] = NULL;
	}
	if (p->elf.file)
		fs_close(p->elf.file);
	p->elf.file = NULL;
}

int pager_add_loader(struct pager *p, uint64_t gpa, uint64_t file_off, uint32_t page_off,
		     uint32_t file_len)
{
	if (gpa % PAGE_SIZE || page_off + (uint64_t)file_len > PAGE_SIZE)
		panic("pager_add_loader: gpa 0x%lx page_off %u file_len %u do not fit one page",
		      gpa, page_off, file_len);
	struct page_loader *l = kzalloc(sizeof(*l));
	if (!l)
		return -NPT_ENOMEM;
	*l = (struct page_loader){
	    .gpa = gpa, .file_off = file_off, .page_off = page_off, .file_len = file_len};
	/* Append, so loaders of one page run in the order they were added. */
	struct page_loader **tail = &p->buckets[bucket_of(gpa)];
	while (*tail)
		tail = &(*tail)->next;
	*tail = l;
	p->nloaders++;
	return 0;
}

struct page_loader *pager_find(struct pager *p, uint64_t gpa)
{
	struct page_loader *l = p->buckets[bucket_of(gpa)];
	while (l && l->gpa != gpa)
		l = l->next;
	return l;
}

struct page_loader *pager_find_next(struct page_loader *l)
{
	uint64_t gpa = l->gpa;
	for (l = l->next; l && l->gpa != gpa; l = l->next)
		;
	return l;
}

int pager_run_loader(struct pager *p, struct page_loader *l, void *page)
{
	l->loads++;
	if (l->file_len == 0)
		return 0;
	ssize_t n =
	    file_read_at(p->elf.file, (uint8_t *)page + l->page_off, l->file_len, l->file_off);
	if (n != (ssize_t)l->file_len) {
		printk("pager: reading %u bytes at file offset 0x%lx failed\n", l->file_len,
		       l->file_off);
		return -NPT_EIO;
	}
	p->stats.bytes_read += n;
	return 0;
}

int pager_loader_segment(const struct elf_image *elf, const struct page_loader *l)
{
	for (int i = 0; l->file_len > 0 && i < elf->nphdrs; i++) {
		const struct elf_phdr *ph = &elf->phdrs[i];
		if (l->file_off >= ph->p_offset && l->file_off < ph->p_offset + ph->p_filesz)
			return i;
	}
	for (int i = 0; i < elf->nphdrs; i++) {
		const struct elf_phdr *ph = &elf->phdrs[i];
		if (l->gpa + PAGE_SIZE > ph->p_paddr && l->gpa < ph->p_paddr + ph->p_memsz)
			return i;
	}
	return -1;
}

void pager_print_loaders(struct pager *p, uint64_t gpa, const char *prefix)
{
	struct page_loader *l = pager_find(p, gpa);
	if (!l)
		printk("%spage 0x%lx has no loader: it is zero-filled RAM\n", prefix, gpa);
	for (; l; l = pager_find_next(l))
		printk("%spage 0x%lx loader: segment %d, file_off 0x%lx, file_len 0x%x, page_off "
		       "0x%x, run %u times\n",
		       prefix, gpa, pager_loader_segment(&p->elf, l), l->file_off, l->file_len,
		       l->page_off, l->loads);
}

/* What one call did, for the fault map: told from how the statistics moved. */
static enum fault_outcome fault_outcome(const struct pager_stats *before,
					const struct pager_stats *after, int r)
{
	return r != 1						 ? FAULT_ERROR
	       : after->already_mapped != before->already_mapped ? FAULT_RACED
	       : after->image_pages != before->image_pages	 ? FAULT_LOADED
	       : after->zero_pages != before->zero_pages	 ? FAULT_ZERO
								 : FAULT_MAPPED;
}

int pager_fault(struct vm *vm, uint64_t gpa, void *arg)
{
	struct pager *p = arg;
	struct pager_stats before = p->stats;
	p->stats.faults++;
	/* Counted here, before the student's handler, which must cope with it too. */
	if (npt_walk(vm->npt, gpa))
		p->stats.already_mapped++;
	int r = pager_handle_fault(p, vm, gpa);
	faultlog_add(vm, gpa, fault_outcome(&before, &p->stats, r));
	return r;
}
