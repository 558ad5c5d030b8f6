/*
 * Project 3, part 1, a second solution (grader/policy_fixtures/README.md).
 */
#include "npt.h"
#include "mm.h"
#include "printk.h"

#define PAGE_OFFSET_MASK (PAGE_SIZE - 1)

bool npte_present(npte_t e)
{
	return (e & NPTE_P) != 0;
}

uint64_t npte_addr(npte_t e)
{
	return e & NPTE_ADDR_MASK;
}

/* The level 0 slot for gpa. Missing tables: NULL, or made when `err` is given (then
 * NULL with *err = -NPT_ENOMEM when a page cannot be had). */
static npte_t *leaf_slot(struct npt *npt, uint64_t gpa, int *err)
{
	npte_t *table = npt->pml4;
	for (int level = NPT_LEVELS - 1; level > 0; level--) {
		npte_t *e = &table[NPT_INDEX(level, gpa)];
		if (!npte_present(*e)) {
			if (!err)
				return NULL;
			void *fresh = page_alloc();
			if (!fresh) {
				*err = -NPT_ENOMEM;
				return NULL;
			}
			*e = V2P(fresh) | NPTE_UPPER;
		}
		table = P2V(npte_addr(*e));
	}
	return &table[NPT_INDEX(0, gpa)];
}

npte_t *npt_walk(struct npt *npt, uint64_t gpa)
{
	if (gpa >= NPT_GPA_LIMIT)
		return NULL;
	npte_t *e = leaf_slot(npt, gpa, NULL);
	return e && npte_present(*e) ? e : NULL;
}

int npt_map(struct npt *npt, uint64_t gpa, void *page, unsigned perm)
{
	if (!(perm & NPT_PERM_READ) || (perm & ~NPT_PERM_ALL))
		return -NPT_EPERM;
	if (gpa & PAGE_OFFSET_MASK)
		return -NPT_EALIGN;
	if (gpa >= NPT_GPA_LIMIT)
		return -NPT_ERANGE;
	int err = 0;
	npte_t *e = leaf_slot(npt, gpa, &err);
	if (!e)
		return err;
	if (npte_present(*e))
		return -NPT_EEXIST;
	npte_t leaf = V2P(page) | NPTE_P | NPTE_US;
	if (perm & NPT_PERM_WRITE)
		leaf |= NPTE_RW;
	if (!(perm & NPT_PERM_EXEC))
		leaf |= NPTE_NX;
	*e = leaf;
	return 0;
}

int npt_unmap(struct npt *npt, uint64_t gpa, void **page)
{
	if (gpa & PAGE_OFFSET_MASK)
		return -NPT_EALIGN;
	if (gpa >= NPT_GPA_LIMIT)
		return -NPT_ERANGE;
	npte_t *e = npt_walk(npt, gpa);
	if (!e)
		return -NPT_ENOENT;
	*page = P2V(npte_addr(*e));
	*e = 0;
	return 0;
}

int npt_gpa2hpa(struct npt *npt, uint64_t gpa, uint64_t *hpa)
{
	if (gpa >= NPT_GPA_LIMIT)
		return -NPT_ERANGE;
	npte_t *e = npt_walk(npt, gpa);
	if (!e)
		return -NPT_ENOENT;
	*hpa = npte_addr(*e) | (gpa & PAGE_OFFSET_MASK);
	return 0;
}

int npt_gva2hpa(struct npt *npt, uint64_t guest_cr3, uint64_t gva, uint64_t *hpa)
{
	uint64_t table_gpa = guest_cr3 & NPTE_ADDR_MASK;
	for (int level = NPT_LEVELS - 1; level >= 0; level--) {
		uint64_t table_hpa;
		int r = npt_gpa2hpa(npt, table_gpa, &table_hpa);
		if (r < 0)
			return r;
		npte_t e = ((npte_t *)P2V(table_hpa))[NPT_INDEX(level, gva)];
		if (!npte_present(e))
			return -NPT_ENOENT;
		bool huge = (level == 1 || level == 2) && (e & NPTE_PS);
		if (level == 0 || huge) {
			uint64_t span = NPT_LEVEL_SIZE(level);
			uint64_t gpa = (npte_addr(e) & ~(span - 1)) | (gva & (span - 1));
			return npt_gpa2hpa(npt, gpa, hpa);
		}
		table_gpa = npte_addr(e);
	}
	return -NPT_ENOENT;
}
