/*
 * Project 3, part 3: the lazy pager.
 *
 * The guest kernel is an ELF file on the disk. An eager loader would copy
 * every segment into guest memory before the guest runs. The lazy pager
 * copies nothing up front: it only writes down, for every page of every
 * loadable segment, where that page's bytes come from (a "page loader").
 * The guest then starts with an empty nested page table; each first touch of
 * a page is a nested page fault (#NPF; Intel: EPT violation), and only then
 * is that one page read from the file and mapped. Pages the guest never
 * touches are never read.
 *
 * Flow:
 *   guest_create()              (provided, project3/provided/guest_boot.c)
 *     elf_read_headers()        (provided: headers only, checked)
 *     pager_entry_point()       <- you
 *     pager_load_phdr() x N     <- you: register loaders, read NOTHING
 *   vm_run(): the guest touches a page -> #NPF exit -> kev takes vm->npt_lock
 *     -> pager_fault() (provided: statistics) -> pager_handle_fault() <- you
 *
 * Several vCPUs may fault on the same page at once. kev serializes the
 * calls with a lock, but the second vCPU still arrives after the first one
 * has mapped the page: your handler MUST treat "already mapped" as done.
 */
#pragma once
#include "elf.h"
#include "npt.h"
#include "spinlock.h"
#include "types.h"

struct vm;

/*
 * Where the bytes of one guest page come from: one segment's part of the page.
 * page_off is where the segment's first byte in this page lies (0 on every page
 * but the segment's first), file_off is that byte's file offset (p_offset plus
 * its distance from p_paddr), and the first file_len bytes from there come from
 * the file. A loader with file_len 0 (a page of .bss only) copies nothing: its
 * file_off and page_off are then either both 0 or, by the same rules, the
 * segment's place in the page (nothing reads them; pager_print_loaders shows them).
 */
struct page_loader {
	uint64_t gpa;		  /* the guest-physical page (page-aligned) */
	uint64_t file_off;	  /* file offset of the segment's first byte in the page */
	uint32_t page_off;	  /* where in the page that byte goes */
	uint32_t file_len;	  /* bytes to copy from the file; the rest of the page stays zero */
	uint32_t loads;		  /* how often it was run (the tests expect at most 1) */
	struct page_loader *next; /* hash chain: use pager_find / pager_find_next */
};

#define PAGER_BUCKETS 1024

struct pager_stats {
	uint64_t faults;	 /* calls of the fault handler */
	uint64_t already_mapped; /* ... for a page another vCPU had mapped meanwhile */
	uint64_t image_pages;	 /* image pages loaded (loaders run) */
	uint64_t zero_pages;	 /* RAM pages outside the image, handed out zeroed */
	uint64_t bytes_read;	 /* image bytes read from the disk */
};

struct pager {
	struct elf_image elf;
	struct page_loader *buckets[PAGER_BUCKETS];
	uint64_t nloaders;
	struct pager_stats stats;
};

/* ---- Provided (project3/provided/pager_provided.c) ---- */

void pager_init(struct pager *p);
void pager_destroy(struct pager *p); /* frees the loaders (not guest pages: the NPT owns them) */
/* Register a loader. 0, or -NPT_ENOMEM. */
int pager_add_loader(struct pager *p, uint64_t gpa, uint64_t file_off, uint32_t page_off,
		     uint32_t file_len);
/* The first loader for page gpa, or NULL; then the next one for the same page, or NULL. */
struct page_loader *pager_find(struct pager *p, uint64_t gpa);
struct page_loader *pager_find_next(struct page_loader *l);
/* Run loader l into page (kernel virtual): read its file bytes to page + page_off.
 * Counts the run in l->loads. 0, or -NPT_EIO if the file could not be read. */
int pager_run_loader(struct pager *p, struct page_loader *l, void *page);
/* For messages: the segment (index in elf->phdrs) whose file bytes loader l reads, else
 * the one whose pages hold l->gpa; -1 if none. And the loaders of page gpa, printed. */
int pager_loader_segment(const struct elf_image *elf, const struct page_loader *l);
void pager_print_loaders(struct pager *p, uint64_t gpa, const char *prefix);
/* kev's fault handler (vm_set_fault_handler): statistics, then pager_handle_fault. */
int pager_fault(struct vm *vm, uint64_t gpa, void *pager);

/* ---- Student work (project3/pager.c) ---- */

/*
 * The guest-physical address where the guest starts. e_entry (elf->entry) is
 * a VIRTUAL address (our guest kernel is linked in the higher half); the CPU
 * starts with paging off, so translate it with the loadable segment that
 * contains it: paddr + (entry - vaddr). 0, or -1 if no segment contains it.
 */
int pager_entry_point(const struct elf_image *elf, uint64_t *entry_pa);

/*
 * Register (with pager_add_loader) one loader for every guest-physical page
 * the segment ph covers, [p_paddr, p_paddr + p_memsz), rounded out to whole
 * pages. For each page, work out which of its bytes come from the file
 * (the segment's first p_filesz bytes, starting at file offset p_offset) and
 * where they go in the page (struct page_loader says how, file_len 0 included);
 * the rest of the page is zero: the bss tail, and the part of the first/last
 * page outside the segment.
 * Do not read the file and do not map anything: that is the fault handler's job.
 * 0, or a negative error from pager_add_loader.
 */
int pager_load_phdr(struct pager *p, struct vm *vm, const struct elf_phdr *ph);

/*
 * Handle a nested page fault at the guest-physical page gpa (page-aligned,
 * inside guest RAM), called with vm->npt_lock held:
 *  - if gpa is already mapped in vm->npt (another vCPU got here first),
 *    there is nothing to do: return 1;
 *  - otherwise get a zeroed page (page_alloc), run every loader registered
 *    for gpa into it (none: the page is ordinary RAM and stays zero), and map
 *    it with npt_map, readable, writable and executable;
 *  - update p->stats.image_pages (page had loaders) or p->stats.zero_pages.
 * Returns 1 when the page is mapped. Otherwise it returns the negative error
 * of the step that failed, frees the page it allocated and maps nothing:
 *   -NPT_ENOMEM page_alloc found no page
 *   -NPT_EIO    a loader failed (pager_run_loader's error)
 *   npt_map's error (-NPT_ENOMEM: no memory for a table)
 * Never leak a page, whatever fails. The statistics count only successes.
 */
int pager_handle_fault(struct pager *p, struct vm *vm, uint64_t gpa);
