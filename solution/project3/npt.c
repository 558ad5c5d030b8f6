/*
 * Project 3, part 1: the nested page table. REFERENCE SOLUTION.
 * The interface and its rules are in project3/npt.h.
 */
#include "npt.h"
#include "mm.h"

bool npte_present(npte_t e)
{
	return (e & NPTE_P) != 0;
}

uint64_t npte_addr(npte_t e)
{
	return e & NPTE_ADDR_MASK;
}

/* The table an upper-level entry points to, as a kernel pointer. */
static npte_t *next_table(npte_t e)
{
	return P2V(npte_addr(e));
}

/*
 * The level 0 entry for gpa, present or not. Missing tables are allocated when
 * create is set; otherwise (or when page_alloc fails) a missing table gives NULL.
 */
static npte_t *walk(struct npt *npt, uint64_t gpa, bool create)
{
	npte_t *table = npt->pml4;

	for (int level = NPT_LEVELS - 1; level > 0; level--) {
		npte_t *e = &table[NPT_INDEX(level, gpa)];
		if (!npte_present(*e)) {
			if (!create)
				return NULL;
			void *page = page_alloc();
			if (page == NULL)
				return NULL;
			*e = V2P(page) | NPTE_UPPER;
		}
		table = next_table(*e);
	}
	return &table[NPT_INDEX(0, gpa)];
}

/* The leaf bits for perm. READ is implied by P: the NPT has no read bit. */
static npte_t leaf_flags(unsigned perm)
{
	npte_t flags = NPTE_P | NPTE_US;

	if (perm & NPT_PERM_WRITE)
		flags |= NPTE_RW;
	if (!(perm & NPT_PERM_EXEC))
		flags |= NPTE_NX;
	return flags;
}

npte_t *npt_walk(struct npt *npt, uint64_t gpa)
{
	if (gpa >= NPT_GPA_LIMIT)
		return NULL;
	npte_t *e = walk(npt, gpa, false);
	if (e == NULL || !npte_present(*e))
		return NULL;
	return e;
}

int npt_map(struct npt *npt, uint64_t gpa, void *page, unsigned perm)
{
	if (!(perm & NPT_PERM_READ) || (perm & ~NPT_PERM_ALL))
		return -NPT_EPERM;
	if (gpa % PAGE_SIZE != 0)
		return -NPT_EALIGN;
	if (gpa >= NPT_GPA_LIMIT)
		return -NPT_ERANGE;
	npte_t *e = walk(npt, gpa, true);
	if (e == NULL)
		return -NPT_ENOMEM;
	if (npte_present(*e))
		return -NPT_EEXIST;
	*e = V2P(page) | leaf_flags(perm);
	return 0;
}

int npt_unmap(struct npt *npt, uint64_t gpa, void **page)
{
	if (gpa % PAGE_SIZE != 0)
		return -NPT_EALIGN;
	if (gpa >= NPT_GPA_LIMIT)
		return -NPT_ERANGE;
	npte_t *e = npt_walk(npt, gpa);
	if (e == NULL)
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
	if (e == NULL)
		return -NPT_ENOENT;
	*hpa = npte_addr(*e) | (gpa % PAGE_SIZE);
	return 0;
}

/* Read the 8-byte guest entry at guest-physical address gpa, through the NPT. */
static int read_guest_entry(struct npt *npt, uint64_t gpa, npte_t *e)
{
	uint64_t hpa;
	int err = npt_gpa2hpa(npt, gpa, &hpa);

	if (err)
		return err;
	*e = *(npte_t *)P2V(hpa);
	return 0;
}

int npt_gva2hpa(struct npt *npt, uint64_t guest_cr3, uint64_t gva, uint64_t *hpa)
{
	uint64_t table = npte_addr(guest_cr3);

	for (int level = NPT_LEVELS - 1; level >= 0; level--) {
		npte_t e;
		int err = read_guest_entry(npt, table + 8 * NPT_INDEX(level, gva), &e);
		if (err)
			return err;
		if (!npte_present(e))
			return -NPT_ENOENT;
		/* A PS entry at level 2 or 1 (or any level 0 entry) maps the page itself. */
		bool is_page = level == 0 || ((level == 1 || level == 2) && (e & NPTE_PS));
		if (is_page) {
			uint64_t size = NPT_LEVEL_SIZE(level);
			uint64_t gpa = (npte_addr(e) & ~(size - 1)) | (gva & (size - 1));
			return npt_gpa2hpa(npt, gpa, hpa);
		}
		table = npte_addr(e);
	}
	return -NPT_ENOENT; /* not reached: level 0 always maps a page */
}
