/*
 * kernel.c: the composition root. KeOS boots and calls layers_init(); here
 * the kernel decides what sits on it: KeV, with Project 3's nested page table
 * as the one kev asks for guest memory (kev/guest_mem.h's npt_ops).
 */
#include "guest_mem.h"
#include "layers.h"
#include "mm.h"
#include "npt.h"
#include "svm.h"

static struct npt *p3_npt_create(void)
{
	struct npt *npt = kzalloc(sizeof(*npt));
	if (npt && npt_init(npt) != 0) {
		kfree(npt);
		return NULL;
	}
	return npt;
}

static void p3_npt_destroy(struct npt *npt)
{
	npt_destroy(npt);
	kfree(npt);
}

/* Guest RAM: readable, writable and executable, as a real machine's. */
static int p3_npt_map(struct npt *npt, uint64_t gpa, void *page)
{
	return npt_map(npt, gpa, page, NPT_PERM_ALL);
}

static const struct npt_ops project3_npt = {
    .create = p3_npt_create,
    .destroy = p3_npt_destroy,
    .root_pa = npt_root_pa,
    .map = p3_npt_map,
    .gpa2hpa = npt_gpa2hpa,
    .gva2hpa = npt_gva2hpa,
    .strerror = npt_strerror,
};

void layers_init(void)
{
	kev_set_npt_ops(&project3_npt);
	kev_init();
}
