/*
 * Tests for the nested page table (project3/npt.c).
 *
 * Ports of KeV's ept tests (simple, complicate, check_huge_translation) plus
 * checks specific to AMD's NPT. The same file runs in the kernel and as a host
 * program (grader/host/), so it uses only mm.h, npt.h and test.h.
 *
 * Every test ends with npt_destroy() and checks that pages_free_count() is
 * back where it started: nothing leaked, nothing freed twice.
 */
#include "mm.h"
#include "npt.h"
#include "test.h"

/* The leaf bits npt.h defines; the others (accessed, dirty, caching) are free. */
#define LEAF_BITS  (NPTE_P | NPTE_RW | NPTE_US | NPTE_PS | NPTE_NX | NPTE_ADDR_MASK)
#define UPPER_BITS (NPTE_P | NPTE_RW | NPTE_US | NPTE_PS | NPTE_NX)

/* Guest page-table entry bits, for building guest tables in tests. */
#define G_P	   NPTE_P
#define G_RW	   NPTE_RW
#define G_PS	   NPTE_PS
#define G_PAT_HUGE (1UL << 12) /* PAT bit of a 2 MiB / 1 GiB entry */

/* Check that an npt_* call returned want, naming both codes when not. */
#define CHECK_ERR(expr, want)                                                                      \
	do {                                                                                       \
		int got_ = (expr), want_ = (want);                                                 \
		if (got_ != want_)                                                                 \
			test_fail(__FILE__, __LINE__, "%s returned %d (%s), expected %s", #expr,   \
				  got_, npt_strerror(got_), npt_strerror(want_));                  \
	} while (0)

static const unsigned valid_perms[] = {
    NPT_PERM_READ,
    NPT_PERM_READ | NPT_PERM_WRITE,
    NPT_PERM_READ | NPT_PERM_EXEC,
    NPT_PERM_READ | NPT_PERM_WRITE | NPT_PERM_EXEC,
};

static void *must_alloc(void)
{
	void *page = page_alloc();
	CHECK(page != NULL);
	return page;
}

/* npt_walk must find nothing at gpa: name the entry it returned instead, and why. */
#define CHECK_NOT_MAPPED(npt, gpa, why)                                                            \
	do {                                                                                       \
		npte_t *e_ = npt_walk((npt), (gpa));                                               \
		if (e_ != NULL)                                                                    \
			test_fail(__FILE__, __LINE__,                                              \
				  "npt_walk(0x%lx) returned an entry (0x%lx), expected NULL: %s",  \
				  (uint64_t)(gpa), *e_, (why));                                    \
	} while (0)

/* What *page and *hpa hold before a call that must fail and leave them alone. */
#define UNTOUCHED_PAGE ((void *)0x5a5a5000UL)
#define UNTOUCHED_HPA  0x1badUL

/* An npt_unmap that failed must leave *page alone. */
#define CHECK_PAGE_UNTOUCHED(got)                                                                  \
	do {                                                                                       \
		if ((got) != UNTOUCHED_PAGE)                                                       \
			test_fail(__FILE__, __LINE__,                                              \
				  "a failed npt_unmap set *page to %p: it must stay as it was",    \
				  (got));                                                          \
	} while (0)

/* Write to a page the test owns: under AddressSanitizer this catches a page
 * the NPT freed behind the caller's back. */
static void touch(void *page)
{
	((volatile uint8_t *)page)[PAGE_SIZE - 1] = 0x5a;
}

static npte_t expected_leaf(void *page, unsigned perm)
{
	npte_t e = V2P(page) | NPTE_P | NPTE_US;

	if (perm & NPT_PERM_WRITE)
		e |= NPTE_RW;
	if (!(perm & NPT_PERM_EXEC))
		e |= NPTE_NX;
	return e;
}

static void check_leaf(uint64_t gpa, npte_t *e, void *page, unsigned perm)
{
	if (e == NULL)
		test_fail(__FILE__, __LINE__, "npt_walk(0x%lx) = NULL after npt_map", gpa);
	if ((*e & LEAF_BITS) != expected_leaf(page, perm))
		test_fail(__FILE__, __LINE__, "leaf for gpa 0x%lx perm %u is 0x%lx, expected 0x%lx",
			  gpa, perm, *e & LEAF_BITS, expected_leaf(page, perm));
	CHECK_EQ(npte_addr(*e), V2P(page));
	CHECK(npte_present(*e));
}

/* KeV's check_insert_one: map a fresh page, walk to it, check the leaf. */
static void *check_insert_one(struct npt *npt, uint64_t gpa, unsigned perm)
{
	void *page = must_alloc();

	CHECK_ERR(npt_map(npt, gpa, page, perm), 0);
	check_leaf(gpa, npt_walk(npt, gpa), page, perm);
	return page;
}

/* KeV's check_remove_one: unmap, get the same page back, walk finds nothing. Nothing is
 * freed: the page is the caller's again, and the tables stay. */
static void check_remove_one(struct npt *npt, uint64_t gpa, void *want)
{
	void *page = NULL;
	size_t free_before = pages_free_count();

	CHECK_ERR(npt_unmap(npt, gpa, &page), 0);
	CHECK_EQ(page, want);
	if (pages_free_count() != free_before)
		test_fail(__FILE__, __LINE__,
			  "npt_unmap(0x%lx) freed %ld pages: the page goes back to the caller and "
			  "table pages stay, even when empty",
			  gpa, (long)(pages_free_count() - free_before));
	CHECK_NOT_MAPPED(npt, gpa, "npt_unmap succeeded, so the leaf must be gone");
	page_free(page);
}

/*
 * Mapping over an existing mapping fails with -NPT_EEXIST and changes nothing:
 * the old leaf stays, no page is allocated or freed, the new page is still ours.
 */
static void check_map_eexist(struct npt *npt, uint64_t gpa)
{
	npte_t *e = npt_walk(npt, gpa);
	CHECK(e != NULL);
	npte_t old = *e;
	void *page = must_alloc();
	size_t free_before = pages_free_count();

	CHECK_ERR(npt_map(npt, gpa, page, NPT_PERM_ALL), -NPT_EEXIST);
	CHECK_EQ(pages_free_count(), free_before);
	CHECK_EQ(npt_walk(npt, gpa), e);
	CHECK_EQ(*e, old);
	touch(page);
	page_free(page);
}

/*
 * A map that fails must leave the page with the caller and the table as it was
 * (an unaligned gpa may lie in a page that is mapped: that mapping stays).
 */
static void check_map_fails(struct npt *npt, uint64_t gpa, unsigned perm, int want)
{
	void *page = must_alloc();
	npte_t *e = npt_walk(npt, gpa);
	npte_t old = e ? *e : 0;
	size_t free_before = pages_free_count();

	CHECK_ERR(npt_map(npt, gpa, page, perm), want);
	CHECK_EQ(pages_free_count(), free_before);
	CHECK_EQ(npt_walk(npt, gpa), e);
	if (e != NULL)
		CHECK_EQ(*e, old);
	touch(page);
	page_free(page);
}

static void check_no_leak(size_t free_at_start)
{
	size_t now = pages_free_count();
	if (now != free_at_start)
		test_fail(__FILE__, __LINE__,
			  "%lu pages free at the end, %lu at the start"
			  " (fewer: a leak; more: a page freed twice)",
			  now, free_at_start);
}

/* Five gpas that differ at each level: KeV's complicate, cut to 48 bits. */
static void five_gpas(uint64_t gpas[5])
{
	for (int i = 0; i < 5; i++) {
		gpas[i] = 0x0000FFFFFFFFF000UL;
		if (i > 0)
			gpas[i] ^= 1UL << (PAGE_SHIFT + 9 * (i - 1));
	}
	/* 0xfffffffff000 0xffffffffe000 0xffffffdff000 0xffffbffff000 0xff7ffffff000 */
}

KTEST(npt, simple)
{
	size_t free_at_start = pages_free_count();
	struct npt npt;
	void *page, *got = NULL;

	CHECK_ERR(npt_init(&npt), 0);
	page = must_alloc();
	CHECK_ERR(npt_map(&npt, 0x1234000, page, NPT_PERM_READ), 0);
	/* Present is bit 0, whatever the other bits say. */
	CHECK(npte_present(NPTE_P));
	CHECK(!npte_present(0x1234000 | NPTE_RW | NPTE_US | NPTE_PS | NPTE_NX));
	check_map_eexist(&npt, 0x1234000);
	check_map_fails(&npt, 0x1234123, NPT_PERM_READ, -NPT_EALIGN);
	got = UNTOUCHED_PAGE;
	CHECK_ERR(npt_unmap(&npt, 0x1235000, &got), -NPT_ENOENT);
	CHECK_PAGE_UNTOUCHED(got);
	CHECK_ERR(npt_unmap(&npt, 0x1234000, &got), 0);
	CHECK_EQ(got, page);
	page_free(got);
	npt_destroy(&npt);
	check_no_leak(free_at_start);
}

KTEST(npt, complicate)
{
	size_t free_at_start = pages_free_count();
	struct npt npt;
	uint64_t gpas[5];
	void *pages[5];

	CHECK_ERR(npt_init(&npt), 0);
	/* Every valid permission set, mapped and unmapped at one address. */
	for (size_t i = 0; i < ARRAY_SIZE(valid_perms); i++) {
		void *page = check_insert_one(&npt, 0x1234000, valid_perms[i]);
		check_remove_one(&npt, 0x1234000, page);
	}

	five_gpas(gpas);
	for (int i = 0; i < 5; i++) {
		pages[i] = check_insert_one(&npt, gpas[i], NPT_PERM_READ | NPT_PERM_EXEC);
		/* A new mapping must not make an earlier one disappear. */
		if (i > 0 && npt_walk(&npt, gpas[i - 1]) == NULL)
			test_fail(__FILE__, __LINE__,
				  "mapping gpa 0x%lx made the mapping of gpa 0x%lx disappear "
				  "(npt_walk returns NULL): a table replaced instead of reused?",
				  gpas[i], gpas[i - 1]);
	}
	/* None lost and none overwritten: each gpa still leads to its own page. */
	for (int i = 0; i < 5; i++)
		check_leaf(gpas[i], npt_walk(&npt, gpas[i]), pages[i],
			   NPT_PERM_READ | NPT_PERM_EXEC);
	check_map_eexist(&npt, gpas[3]);
	for (int i = 1; i < 5; i++) {
		check_remove_one(&npt, gpas[i], pages[i]);
		/* Removing one must not remove the first. */
		check_leaf(gpas[0], npt_walk(&npt, gpas[0]), pages[0],
			   NPT_PERM_READ | NPT_PERM_EXEC);
	}
	check_remove_one(&npt, gpas[0], pages[0]);
	npt_destroy(&npt);
	check_no_leak(free_at_start);
}

/* The lowest and highest present slots of a table (-1: none), and how many are present:
 * where the entry a wrong index put went. */
static int present_slots(const npte_t *table, int *last)
{
	int first = -1, count = 0;
	for (int i = 0; i < NPT_ENTRIES; i++) {
		if (!(table[i] & NPTE_P))
			continue;
		if (first < 0)
			first = i;
		*last = i;
		count++;
	}
	return count ? first : -1;
}

/* Walk the NPT by hand from its root: upper levels P|RW|US, no NX, no PS. */
static npte_t *walk_by_hand(struct npt *npt, uint64_t gpa)
{
	npte_t *table = P2V(npt_root_pa(npt));

	for (int level = NPT_LEVELS - 1; level > 0; level--) {
		int slot = NPT_INDEX(level, gpa), last = -1;
		npte_t e = table[slot];
		int first = present_slots(table, &last);
		if (!(e & NPTE_P) && first >= 0)
			test_fail(__FILE__, __LINE__,
				  "gpa 0x%lx: level %d slot %d (NPT_INDEX) is empty, but the table"
				  " has entries in slots %d..%d: check your level %d index",
				  gpa, level, slot, first, last, level);
		if ((e & UPPER_BITS) != NPTE_UPPER)
			test_fail(__FILE__, __LINE__,
				  "gpa 0x%lx: level %d slot %d entry has flags"
				  " 0x%lx, expected P|RW|US (0x%lx) with NX and PS clear",
				  gpa, level, slot, e & UPPER_BITS, NPTE_UPPER);
		table = P2V(e & NPTE_ADDR_MASK);
	}
	return &table[NPT_INDEX(0, gpa)];
}

KTEST(npt, upper_levels)
{
	size_t free_at_start = pages_free_count();
	struct npt npt;
	uint64_t gpas[5];
	void *pages[5];

	CHECK_ERR(npt_init(&npt), 0);
	CHECK_EQ(npt_root_pa(&npt), V2P(npt.pml4));
	five_gpas(gpas);
	/* Read-only, no-execute leaves: the upper levels must stay permissive anyway. */
	for (int i = 0; i < 5; i++)
		pages[i] = check_insert_one(&npt, gpas[i], NPT_PERM_READ);
	for (int i = 0; i < 5; i++) {
		npte_t *leaf = walk_by_hand(&npt, gpas[i]);
		CHECK_EQ(leaf, npt_walk(&npt, gpas[i]));
		check_leaf(gpas[i], leaf, pages[i], NPT_PERM_READ);
	}
	npt_destroy(&npt);
	check_no_leak(free_at_start);
}

KTEST(npt, errors)
{
	size_t free_at_start = pages_free_count();
	static const unsigned bad_perms[] = {
	    0,
	    NPT_PERM_WRITE,
	    NPT_PERM_EXEC,
	    NPT_PERM_WRITE | NPT_PERM_EXEC,
	    1 << 3,
	    NPT_PERM_READ | (1 << 3),
	    NPT_PERM_ALL | (1 << 8),
	};
	struct npt npt;
	void *page, *got;
	uint64_t hpa;

	CHECK_ERR(npt_init(&npt), 0);
	/* An empty table: nothing to find, nothing to unmap; looking allocates nothing. */
	size_t free_empty = pages_free_count();
	CHECK_NOT_MAPPED(&npt, 0x1234000, "the table is empty");
	CHECK_EQ(pages_free_count(), free_empty);
	CHECK_ERR(npt_unmap(&npt, 0x1234000, &got), -NPT_ENOENT);
	CHECK_ERR(npt_gpa2hpa(&npt, 0x1234000, &hpa), -NPT_ENOENT);

	for (size_t i = 0; i < ARRAY_SIZE(bad_perms); i++)
		check_map_fails(&npt, 0x1234000, bad_perms[i], -NPT_EPERM);
	check_map_fails(&npt, 0x1234123, NPT_PERM_READ, -NPT_EALIGN);
	check_map_fails(&npt, 0x1234800, NPT_PERM_READ, -NPT_EALIGN);
	check_map_fails(&npt, 0x1234001, NPT_PERM_ALL, -NPT_EALIGN);
	check_map_fails(&npt, NPT_GPA_LIMIT, NPT_PERM_READ, -NPT_ERANGE);
	check_map_fails(&npt, NPT_GPA_LIMIT | 0x1234000, NPT_PERM_READ, -NPT_ERANGE);
	check_map_fails(&npt, 0xFFFFFFFFFFFFF000UL, NPT_PERM_READ, -NPT_ERANGE);
	/* Several errors at once: the first in npt.h's order wins. */
	check_map_fails(&npt, 0x1234123, 0, -NPT_EPERM);
	check_map_fails(&npt, NPT_GPA_LIMIT, NPT_PERM_WRITE, -NPT_EPERM);
	check_map_fails(&npt, NPT_GPA_LIMIT | 0x123, NPT_PERM_READ, -NPT_EALIGN);

	page = check_insert_one(&npt, 0x1234000, NPT_PERM_READ | NPT_PERM_WRITE);
	check_map_eexist(&npt, 0x1234000);
	/* Above 2^48 the indices repeat: that must not reach the mapping at 0x1234000. */
	CHECK_NOT_MAPPED(&npt, NPT_GPA_LIMIT | 0x1234000,
			 "a gpa at or above 2^48 must not reach the mapping of its low 48 bits");
	CHECK_ERR(npt_gpa2hpa(&npt, NPT_GPA_LIMIT | 0x1234000, &hpa), -NPT_ERANGE);
	check_map_fails(&npt, NPT_GPA_LIMIT | 0x1234000, NPT_PERM_READ, -NPT_ERANGE);

	/* The tables exist now, but the neighbouring leaf is still empty. */
	got = UNTOUCHED_PAGE;
	hpa = UNTOUCHED_HPA;
	CHECK_NOT_MAPPED(&npt, 0x1235000, "only its neighbour 0x1234000 is mapped");
	CHECK_ERR(npt_unmap(&npt, 0x1235000, &got), -NPT_ENOENT);
	CHECK_PAGE_UNTOUCHED(got);
	CHECK_ERR(npt_gpa2hpa(&npt, 0x1235000, &hpa), -NPT_ENOENT);
	CHECK_EQ(hpa, UNTOUCHED_HPA);
	CHECK_ERR(npt_gpa2hpa(&npt, NPT_GPA_LIMIT | 0x1234000, &hpa), -NPT_ERANGE);
	CHECK_EQ(hpa, UNTOUCHED_HPA);
	/* npt_unmap's order: EALIGN, then ERANGE, then ENOENT. */
	CHECK_ERR(npt_unmap(&npt, 0x1234800, &got), -NPT_EALIGN);
	CHECK_ERR(npt_unmap(&npt, NPT_GPA_LIMIT | 0x1234800, &got), -NPT_EALIGN);
	CHECK_ERR(npt_unmap(&npt, NPT_GPA_LIMIT | 0x1235000, &got), -NPT_ERANGE);
	CHECK_PAGE_UNTOUCHED(got);

	/* None of the failures above touched the mapping. */
	check_leaf(0x1234000, npt_walk(&npt, 0x1234000), page, NPT_PERM_READ | NPT_PERM_WRITE);
	check_remove_one(&npt, 0x1234000, page);
	CHECK_ERR(npt_unmap(&npt, 0x1234000, &got), -NPT_ENOENT);
	npt_destroy(&npt);
	check_no_leak(free_at_start);
}

KTEST(npt, gpa2hpa_offset)
{
	static const uint64_t gpas[] = {0x0, 0x1000, 0x7FFFF000, 0xFFFFFFFFF000UL};
	static const uint64_t offsets[] = {0, 1, 0x7FF, 0xFF8, 0xFFF};
	size_t free_at_start = pages_free_count();
	struct npt npt;
	void *pages[ARRAY_SIZE(gpas)];
	uint64_t hpa;

	CHECK_ERR(npt_init(&npt), 0);
	for (size_t i = 0; i < ARRAY_SIZE(gpas); i++)
		pages[i] = check_insert_one(&npt, gpas[i], NPT_PERM_ALL);
	for (size_t i = 0; i < ARRAY_SIZE(gpas); i++) {
		for (size_t j = 0; j < ARRAY_SIZE(offsets); j++) {
			uint64_t gpa = gpas[i] + offsets[j];
			hpa = 0;
			CHECK_ERR(npt_gpa2hpa(&npt, gpa, &hpa), 0);
			if (hpa != V2P(pages[i]) + offsets[j])
				test_fail(__FILE__, __LINE__,
					  "gpa2hpa(0x%lx) = 0x%lx, expected 0x%lx", gpa, hpa,
					  V2P(pages[i]) + offsets[j]);
			/* The same byte, seen from both sides. */
			*(volatile uint8_t *)P2V(hpa) = (uint8_t)(i * 16 + j + 1);
			CHECK_EQ(((uint8_t *)pages[i])[offsets[j]], i * 16 + j + 1);
		}
	}
	CHECK_ERR(npt_gpa2hpa(&npt, 0x2000, &hpa), -NPT_ENOENT);
	CHECK_ERR(npt_gpa2hpa(&npt, 0x7FFFEFFF, &hpa), -NPT_ENOENT);
	npt_destroy(&npt);
	check_no_leak(free_at_start);
}

/* Map a fresh page at gpa as a guest page table and return it for filling in. */
static npte_t *guest_table(struct npt *npt, uint64_t gpa)
{
	npte_t *table = must_alloc();

	CHECK_ERR(npt_map(npt, gpa, table, NPT_PERM_READ | NPT_PERM_WRITE), 0);
	return table;
}

static void check_gva(struct npt *npt, uint64_t cr3, uint64_t gva, uint64_t want)
{
	uint64_t hpa = 0;
	int err = npt_gva2hpa(npt, cr3, gva, &hpa);

	if (err != 0)
		test_fail(__FILE__, __LINE__, "gva2hpa(cr3 0x%lx, gva 0x%lx) failed: %s", cr3, gva,
			  npt_strerror(err));
	if (hpa != want)
		test_fail(__FILE__, __LINE__,
			  "gva2hpa(cr3 0x%lx, gva 0x%lx) = 0x%lx, expected 0x%lx", cr3, gva, hpa,
			  want);
}

static void check_gva_error(struct npt *npt, uint64_t cr3, uint64_t gva, int want)
{
	uint64_t hpa = UNTOUCHED_HPA;
	int err = npt_gva2hpa(npt, cr3, gva, &hpa);

	if (err != want)
		test_fail(__FILE__, __LINE__,
			  "gva2hpa(cr3 0x%lx, gva 0x%lx) returned %d (%s), expected %s", cr3, gva,
			  err, npt_strerror(err), npt_strerror(want));
	CHECK_EQ(hpa, UNTOUCHED_HPA);
}

static void check_gva_fails(struct npt *npt, uint64_t cr3, uint64_t gva)
{
	check_gva_error(npt, cr3, gva, -NPT_ENOENT);
}

KTEST(npt, gva2hpa_4k)
{
	/* A kernel-style address: PML4 index 511, PDPT 510, PD 0, PT 5.. */
	const uint64_t gva = 0xFFFFFFFF80005000UL;
	size_t free_at_start = pages_free_count();
	struct npt npt;
	void *data[4];

	CHECK_ERR(npt_init(&npt), 0);
	npte_t *pml4 = guest_table(&npt, 0x10000);
	npte_t *pdpt = guest_table(&npt, 0x11000);
	npte_t *pd = guest_table(&npt, 0x12000);
	npte_t *pt = guest_table(&npt, 0x13000);
	pml4[511] = 0x11000 | G_P | G_RW;
	pdpt[510] = 0x12000 | G_P | G_RW;
	pd[0] = 0x13000 | G_P | G_RW;
	/* Pages 5..8 go to gpas in reverse order; extra flags (US, A, D, G, NX) must
	 * not leak into the address. */
	for (int i = 0; i < 4; i++) {
		uint64_t gpa = 0x800000 + (uint64_t)(3 - i) * PAGE_SIZE;
		data[i] = check_insert_one(&npt, gpa, NPT_PERM_ALL);
		pt[5 + i] = gpa | G_P | G_RW | NPTE_US | (1UL << 5) | (1UL << 6) | (1UL << 8);
		if (i % 2)
			pt[5 + i] |= NPTE_NX;
	}
	pt[9] = 0x900000 | G_P | G_RW; /* a gpa the NPT does not map */
	/* A missing entry is 0: with gpa 0 mapped, only P tells it from a page there. */
	check_insert_one(&npt, 0, NPT_PERM_ALL);
	/* Guest entries hold 52-bit addresses: past NPT_GPA_LIMIT is -NPT_ERANGE. */
	pt[10] = (NPT_GPA_LIMIT | 0x5000) | G_P | G_RW; /* a page */
	pd[2] = (1UL << 50) | G_P | G_RW;		/* a table */
	pd[3] = (1UL << 49) | G_P | G_RW | G_PS;	/* a 2 MiB page */

	for (int i = 0; i < 4; i++) {
		uint64_t page_gva = gva + (uint64_t)i * PAGE_SIZE;
		check_gva(&npt, 0x10000, page_gva, V2P(data[i]));
		check_gva(&npt, 0x10000, page_gva + 0x123, V2P(data[i]) + 0x123);
		check_gva(&npt, 0x10000, page_gva + 0xFFF, V2P(data[i]) + 0xFFF);
	}
	/* CR3 flag bits (PWT, PCD) are not part of the root's address. */
	check_gva(&npt, 0x10000 | 0x18, gva + 0x42, V2P(data[0]) + 0x42);

	check_gva_fails(&npt, 0x10000, 0x1000);		      /* PML4 entry 0 not present */
	check_gva_fails(&npt, 0x10000, 0xFFFFFFFF40005000UL); /* PDPT entry 509 */
	check_gva_fails(&npt, 0x10000, 0xFFFFFFFF80200000UL); /* PD entry 1 */
	check_gva_fails(&npt, 0x10000, gva - PAGE_SIZE);      /* PT entry 4 */
	check_gva_fails(&npt, 0x10000, gva + 4 * PAGE_SIZE);  /* NPT hole at 0x900000 */
	check_gva_fails(&npt, 0x20000, gva);		      /* guest root not in the NPT */
	check_gva_error(&npt, 0x10000, gva + 5 * PAGE_SIZE, -NPT_ERANGE);
	check_gva_error(&npt, 0x10000, 0xFFFFFFFF80400000UL, -NPT_ERANGE);
	check_gva_error(&npt, 0x10000, 0xFFFFFFFF80600123UL, -NPT_ERANGE);
	check_gva_error(&npt, NPT_GPA_LIMIT | 0x10000, gva, -NPT_ERANGE); /* the root */

	npt_destroy(&npt);
	check_no_leak(free_at_start);
}

/*
 * KeV's check_huge_translation: a guest table whose PD entry 1 maps a 2 MiB
 * page (gva 0x200000..0x400000 -> gpa 0x200000..0x400000), built in
 * guest-physical memory reached through the NPT; 512 NPT pages back it.
 */
KTEST(npt, check_huge_translation)
{
	size_t free_at_start = pages_free_count();
	struct npt npt;
	const uint64_t cr3 = 0x1000;

	CHECK_ERR(npt_init(&npt), 0);
	npte_t *pml4 = guest_table(&npt, 0x1000);
	npte_t *pdpt = guest_table(&npt, 0x2000);
	npte_t *pd = guest_table(&npt, 0x3000);
	pml4[0] = 0x2000 | G_P | G_RW;
	pdpt[0] = 0x3000 | G_P | G_RW;
	pd[1] = 0x200000 | G_P | G_RW | G_PS;

	void **pages = must_alloc(); /* 512 pointers: one page, not kernel stack */
	for (int i = 0; i < 512; i++) {
		pages[i] = must_alloc();
		CHECK_ERR(npt_map(&npt, 0x200000 + (uint64_t)i * PAGE_SIZE, pages[i], NPT_PERM_ALL),
			  0);
	}
	for (int i = 0; i < 512; i++) {
		uint64_t gva = 0x200000 + (uint64_t)i * PAGE_SIZE;
		check_gva(&npt, cr3, gva, V2P(pages[i]));
		uint64_t offset = (uint64_t)i * 8 + 1; /* a different byte in each page */
		check_gva(&npt, cr3, gva + offset, V2P(pages[i]) + offset);
	}
	check_map_eexist(&npt, 0x200000);
	check_gva_fails(&npt, cr3, 0x400000); /* PD entry 2 is not present */
	check_gva_fails(&npt, cr3, 0x1FF000); /* PD entry 0 neither */
	page_free(pages);
	npt_destroy(&npt);
	check_no_leak(free_at_start);
}

/* In a 2 MiB guest entry bit 12 is PAT, not address. */
KTEST(npt, gva2hpa_huge_pat)
{
	static const uint64_t offsets[] = {0x0, 0x1000, 0x1FF000};
	size_t free_at_start = pages_free_count();
	struct npt npt;
	void *pages[ARRAY_SIZE(offsets)];

	CHECK_ERR(npt_init(&npt), 0);
	npte_t *pml4 = guest_table(&npt, 0x1000);
	npte_t *pdpt = guest_table(&npt, 0x2000);
	npte_t *pd = guest_table(&npt, 0x3000);
	pml4[0] = 0x2000 | G_P | G_RW;
	pdpt[0] = 0x3000 | G_P | G_RW;
	/* gva 0x600000..0x800000 -> gpa 0x200000..0x400000, PAT set */
	pd[3] = 0x200000 | G_P | G_RW | G_PS | G_PAT_HUGE;
	for (size_t i = 0; i < ARRAY_SIZE(offsets); i++)
		pages[i] = check_insert_one(&npt, 0x200000 + offsets[i], NPT_PERM_ALL);
	for (size_t i = 0; i < ARRAY_SIZE(offsets); i++)
		check_gva(&npt, 0x1000, 0x600000 + offsets[i] + 0x10, V2P(pages[i]) + 0x10);
	npt_destroy(&npt);
	check_no_leak(free_at_start);
}

/* A 1 GiB guest page: PDPT entry 3 maps gva 3..4 GiB to gpa 1..2 GiB. */
KTEST(npt, gva2hpa_1g)
{
	static const uint64_t offsets[] = {0x0, 0x12345000, 0x3FFFF000};
	size_t free_at_start = pages_free_count();
	struct npt npt;
	void *pages[ARRAY_SIZE(offsets)];

	CHECK_ERR(npt_init(&npt), 0);
	npte_t *pml4 = guest_table(&npt, 0x1000);
	npte_t *pdpt = guest_table(&npt, 0x2000);
	pml4[0] = 0x2000 | G_P | G_RW;
	pdpt[3] = 0x40000000 | G_P | G_RW | G_PS | G_PAT_HUGE;
	for (size_t i = 0; i < ARRAY_SIZE(offsets); i++)
		pages[i] = check_insert_one(&npt, 0x40000000 + offsets[i], NPT_PERM_ALL);
	for (size_t i = 0; i < ARRAY_SIZE(offsets); i++)
		check_gva(&npt, 0x1000, 0xC0000000 + offsets[i] + 0x678, V2P(pages[i]) + 0x678);
	check_gva_fails(&npt, 0x1000, 0xC0000000 + 0x1000); /* gpa 0x40001000: NPT hole */
	check_gva_fails(&npt, 0x1000, 0x80000000);	    /* PDPT entry 2 */
	npt_destroy(&npt);
	check_no_leak(free_at_start);
}

/*
 * npt_map allocates exactly the tables that are missing, and npt_destroy frees
 * all of them and every page still mapped.
 */
KTEST(npt, destroy_frees_all)
{
	const int n = 64;
	size_t free_at_start = pages_free_count();
	struct npt npt;

	CHECK_ERR(npt_init(&npt), 0);
	npt_destroy(&npt);
	check_no_leak(free_at_start);

	CHECK_ERR(npt_init(&npt), 0);
	size_t free_after_init = pages_free_count();
	for (int i = 0; i < n; i++) {
		/* Mapping i differs from the others at every level: three new tables. */
		uint64_t gpa = ((uint64_t)i << 39) | ((uint64_t)i << 30) | ((uint64_t)i << 21) |
			       ((uint64_t)i << 12);
		for (int j = 0; j < 2; j++) {
			void *page = must_alloc();
			CHECK_ERR(npt_map(&npt, gpa + (uint64_t)j * PAGE_SIZE, page,
					  valid_perms[(i + j) % ARRAY_SIZE(valid_perms)]),
				  0);
		}
	}
	size_t used = free_after_init - pages_free_count();
	if (used != (size_t)(n * 3 + n * 2))
		test_fail(__FILE__, __LINE__,
			  "%lu pages in use after %d maps, expected %d tables"
			  " + %d pages",
			  used, 2 * n, 3 * n, 2 * n);
	/* Give one page back by unmapping; destroy frees the rest. */
	void *got;
	CHECK_ERR(npt_unmap(&npt, 0x1000, &got), 0);
	page_free(got);
	npt_destroy(&npt);
	CHECK(npt.pml4 == NULL);
	check_no_leak(free_at_start);
}

/*
 * Out of memory: npt_map fails with -NPT_ENOMEM while tables cannot be made,
 * the page stays with the caller, and it succeeds once three pages (PDPT, PD,
 * PT) can be had again, whether the failed calls kept their tables or not.
 * Try k makes the allocator fail at the (k+1)-th page, as if k pages were
 * left: the first try gets none.
 */
KTEST(npt, map_enomem)
{
	size_t free_at_start = pages_free_count();
	struct npt npt;
	int results[4];
	bool mapped_while_failing = false, freed_caller_page = false;
	int tries = 0;

	CHECK_ERR(npt_init(&npt), 0);
	void *page = must_alloc();
	for (;;) {
		size_t free_before = pages_free_count();
		mm_fail_nth_alloc(tries + 1);
		results[tries] = npt_map(&npt, 0x1234000, page, NPT_PERM_READ);
		mm_fail_nth_alloc(0);
		tries++;
		if (results[tries - 1] == 0 || tries == 4)
			break;
		mapped_while_failing |= npt_walk(&npt, 0x1234000) != NULL;
		/* Tables may be kept (fewer free pages) but the caller's page is not freed. */
		freed_caller_page |= pages_free_count() > free_before;
		touch(page);
	}

	CHECK(!freed_caller_page);
	CHECK(!mapped_while_failing);
	for (int i = 0; i < tries - 1; i++)
		CHECK_ERR(results[i], -NPT_ENOMEM);
	/* With no page to be had the first try must fail; three pages are enough. */
	CHECK(tries > 1);
	CHECK_ERR(results[tries - 1], 0);
	check_leaf(0x1234000, npt_walk(&npt, 0x1234000), page, NPT_PERM_READ);
	check_remove_one(&npt, 0x1234000, page);
	npt_destroy(&npt);
	check_no_leak(free_at_start);
}
