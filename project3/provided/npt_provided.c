/*
 * The parts of the nested page table that are not student work: creating and
 * destroying a table, and the root address for the VMCB. This file decodes
 * entries with the masks from npt.h itself, so it works before project3/npt.c
 * is written.
 */
#include "mm.h"
#include "npt.h"
#include "printk.h"

int npt_init(struct npt *npt)
{
	npt->pml4 = page_alloc();
	if (npt->pml4 == NULL)
		return -NPT_ENOMEM;
	return 0;
}

/* Free the table at level and everything below it; level 0 entries map pages. */
static void free_table(npte_t *table, int level)
{
	for (int i = 0; i < NPT_ENTRIES; i++) {
		npte_t e = table[i];
		if (!(e & NPTE_P))
			continue;
		void *next = P2V(e & NPTE_ADDR_MASK);
		if (level == 0) {
			page_free(next);
			continue;
		}
		/* This NPT maps 4 KiB pages only; a PS entry would be freed as a table. */
		if (e & NPTE_PS)
			panic("npt_destroy: level %d entry %d has PS set: 0x%lx", level, i, e);
		free_table(next, level - 1);
	}
	page_free(table);
}

void npt_destroy(struct npt *npt)
{
	if (npt->pml4 == NULL)
		return;
	free_table(npt->pml4, NPT_LEVELS - 1);
	npt->pml4 = NULL;
}

uint64_t npt_root_pa(struct npt *npt)
{
	return V2P(npt->pml4);
}

const char *npt_strerror(int err)
{
	/* Each name with its minus sign: a positive code skips it. */
	static const char *const names[] = {
	    [0] = "-0",
	    [NPT_EALIGN] = "-NPT_EALIGN (not page-aligned)",
	    [NPT_ERANGE] = "-NPT_ERANGE (at or above 2^48)",
	    [NPT_EPERM] = "-NPT_EPERM (bad permission)",
	    [NPT_EEXIST] = "-NPT_EEXIST (already mapped)",
	    [NPT_ENOENT] = "-NPT_ENOENT (not mapped)",
	    [NPT_ENOMEM] = "-NPT_ENOMEM (out of memory)",
	    [NPT_EIO] = "-NPT_EIO (reading the guest image failed)",
	};
	unsigned code = err < 0 ? -(unsigned)err : (unsigned)err;
	if (code >= ARRAY_SIZE(names))
		return err < 0 ? "a negative value that is no npt_error"
			       : "a value that is no npt_error";
	return err < 0 ? names[code] : names[code] + 1;
}
