/*
 * Project 3, part 1: the nested page table.
 *
 * Replace every TODO() below. The full rules are in npt.h; read its top
 * comment first. npt_init, npt_destroy and npt_root_pa are already written
 * (project3/provided/npt_provided.c): read npt_destroy to see how the tables are laid out.
 *
 * Hint: npt_map, npt_walk and npt_unmap all descend the same four levels.
 * Write one static helper that returns the level 0 entry for a gpa, and that
 * allocates the missing tables when asked to, and use it in all three.
 */
#include "npt.h"
#include "mm.h"
#include "printk.h"

/* Is the entry present? (Bit 0.) */
bool npte_present(npte_t e)
{
	(void)e;
	TODO();
}

/*
 * The physical address the entry points to: bits 12..51. Keep the flag bits,
 * NX (bit 63) included, out of it.
 */
uint64_t npte_addr(npte_t e)
{
	(void)e;
	TODO();
}

/*
 * The present leaf entry mapping the page that contains gpa, or NULL.
 * Never allocates. NULL for gpa >= NPT_GPA_LIMIT too.
 */
npte_t *npt_walk(struct npt *npt, uint64_t gpa)
{
	(void)npt;
	(void)gpa;
	TODO();
}

/*
 * Map page (kernel virtual) at gpa with rights perm. Check, in this order:
 * perm (-NPT_EPERM), alignment (-NPT_EALIGN), range (-NPT_ERANGE); then make
 * the missing tables (-NPT_ENOMEM) with entries NPTE_UPPER; then refuse a gpa
 * that is already mapped (-NPT_EEXIST). The leaf is
 *   V2P(page) | P | US | (RW if WRITE) | (NX unless EXEC).
 * On error the page is still the caller's: do not free it.
 */
int npt_map(struct npt *npt, uint64_t gpa, void *page, unsigned perm)
{
	(void)npt;
	(void)gpa;
	(void)page;
	(void)perm;
	TODO();
}

/*
 * Remove the mapping at gpa and return its page (kernel virtual) in *page.
 * Check, in this order: -NPT_EALIGN, -NPT_ERANGE, then -NPT_ENOENT when nothing
 * is mapped there. On an error leave *page alone; never free a table.
 */
int npt_unmap(struct npt *npt, uint64_t gpa, void **page)
{
	(void)npt;
	(void)gpa;
	(void)page;
	TODO();
}

/*
 * The host-physical address of the byte at gpa: keep the page offset.
 * -NPT_ERANGE, or -NPT_ENOENT when the page is not mapped (*hpa left alone).
 */
int npt_gpa2hpa(struct npt *npt, uint64_t gpa, uint64_t *hpa)
{
	(void)npt;
	(void)gpa;
	(void)hpa;
	TODO();
}

/*
 * Walk the guest's own page table (root at guest_cr3, a guest-physical address)
 * to translate gva, reading every guest table through the NPT. Handle PS
 * entries: 1 GiB pages at level 2, 2 MiB pages at level 1.
 * -NPT_ENOENT when a guest entry is not present or the NPT has a hole;
 * -NPT_ERANGE when a guest-physical address on the way is >= NPT_GPA_LIMIT.
 */
int npt_gva2hpa(struct npt *npt, uint64_t guest_cr3, uint64_t gva, uint64_t *hpa)
{
	(void)npt;
	(void)guest_cr3;
	(void)gva;
	(void)hpa;
	TODO();
}
