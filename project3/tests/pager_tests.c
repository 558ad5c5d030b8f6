/*
 * pager_tests.c: the lazy pager, booting real guests from the disk image:
 * the guest KeOS (guests/keos) and the multi-vCPU stress guest (guests/stress).
 */
#include "guest_boot.h"
#include "mm.h"
#include "rawguest.h"
#include "test.h"

static struct guest g;
static char err[160];

/* ---- helpers ---- */

static void create(const char *image, int nvcpus)
{
	kev_require_svm();
	if (guest_create(&g, image, nvcpus, err, sizeof(err)) != 0)
		test_fail(__FILE__, __LINE__, "guest_create(%s): %s", image, err);
}

/* Distinct guest pages that have loaders, and how many of them were loaded (and too often). */
static void count_pages(uint64_t *pages, uint64_t *loaded, uint64_t *reloaded)
{
	*pages = *loaded = *reloaded = 0;
	for (int b = 0; b < PAGER_BUCKETS; b++) {
		for (struct page_loader *l = g.pager.buckets[b]; l; l = l->next) {
			if (pager_find(&g.pager, l->gpa) != l)
				continue; /* count each page once, at its first loader */
			(*pages)++;
			if (l->loads > 0)
				(*loaded)++;
			if (l->loads > 1)
				(*reloaded)++;
		}
	}
}

static void expect_all_exited_zero(void)
{
	char v[160];
	for (int i = 0; i < g.vm->nvcpus; i++) {
		struct vcpu *c = &g.vm->vcpus[i];
		if (c->verdict != VCPU_EXITED || c->exit_code != 0)
			test_fail(__FILE__, __LINE__, "vcpu%d did not exit with 0: %s (code 0x%lx)",
				  i, vm_verdict_string(g.vm, v, sizeof(v)), c->exit_code);
	}
}

/* ---- tests ---- */

KTEST(pager, entry_point)
{
	static struct elf_image img;
	uint64_t pa = 0;
	memset(&img, 0, sizeof(img));
	img.nphdrs = 2;
	img.phdrs[0] = (struct elf_phdr){.p_type = PT_LOAD,
					 .p_vaddr = 0xFFFFFFFF80100000UL,
					 .p_paddr = 0x100000,
					 .p_memsz = 0x3000,
					 .p_filesz = 0x3000};
	img.phdrs[1] = (struct elf_phdr){.p_type = PT_LOAD,
					 .p_vaddr = 0xFFFFFFFF80200000UL,
					 .p_paddr = 0x180000,
					 .p_memsz = 0x2000,
					 .p_filesz = 0x100};

	img.entry = 0xFFFFFFFF80100000UL + 0x1234;
	CHECK_EQ(pager_entry_point(&img, &pa), 0);
	CHECK_EQ(pa, 0x101234);
	img.entry = 0xFFFFFFFF80200000UL + 0x1FFF; /* last byte of the second segment (bss) */
	CHECK_EQ(pager_entry_point(&img, &pa), 0);
	CHECK_EQ(pa, 0x181FFF);
	img.entry = 0xFFFFFFFF80100000UL + 0x3000; /* one past the first segment */
	CHECK(pager_entry_point(&img, &pa) != 0);
	img.entry = 0x100000; /* a physical address is not where the code is linked */
	CHECK(pager_entry_point(&img, &pa) != 0);
}

KTEST(pager, boot_keos)
{
	size_t before = pages_free_count();
	create("keos.elf", 1);
	uint64_t t0 = uptime_us();
	vm_run(g.vm);
	uint64_t us = uptime_us() - t0;
	expect_all_exited_zero();
	if (!strstr(g.vm->console, "Hello guest os!\n"))
		test_fail(__FILE__, __LINE__, "the guest did not print \"Hello guest os!\"");
	uint64_t pages, loaded, reloaded;
	count_pages(&pages, &loaded, &reloaded);
	test_metric("boot_us", us);
	test_metric("npf_exits", g.vm->vcpus[0].npf_exits);
	test_metric("image_pages", pages);
	test_metric("pages_loaded", loaded);
	test_metric("zero_pages", g.pager.stats.zero_pages);
	guest_destroy(&g);
	CHECK_EQ(pages_free_count(), before);
}

KTEST(pager, lazy)
{
	size_t before = pages_free_count();
	create("keos.elf", 1);
	/* Only the headers may have been read; no image page is mapped yet. */
	CHECK_EQ(g.pager.stats.bytes_read, 0);
	CHECK_EQ(g.pager.stats.image_pages, 0);
	uint64_t pages, loaded, reloaded;
	count_pages(&pages, &loaded, &reloaded);
	CHECK(pages > 0);
	CHECK_EQ(loaded, 0);
	for (int b = 0; b < PAGER_BUCKETS; b++)
		for (struct page_loader *l = g.pager.buckets[b]; l; l = l->next)
			if (npt_walk(&g.vm->npt, l->gpa))
				test_fail(__FILE__, __LINE__,
					  "image page 0x%lx mapped before the guest ran", l->gpa);

	size_t ready = pages_free_count();
	vm_run(g.vm);
	size_t used = ready - pages_free_count();
	expect_all_exited_zero();
	count_pages(&pages, &loaded, &reloaded);
	test_metric("image_pages", pages);
	test_metric("pages_loaded", loaded);
	test_metric("faults", g.pager.stats.faults);
	test_metric("host_pages_used", used);
	/* Every page that was loaded was loaded because the guest faulted on it, once. */
	CHECK_EQ(reloaded, 0);
	CHECK_EQ(g.pager.stats.image_pages, loaded);
	CHECK(g.pager.stats.faults >= loaded + g.pager.stats.zero_pages);
	/* The guest has a 1 MiB section it never touches: it must never be read. */
	CHECK(pages - loaded >= 256);
	CHECK(g.pager.stats.bytes_read <= loaded * PAGE_SIZE);
	/* Host memory follows what the guest touched (plus NPT tables), not its 256 MiB. */
	uint64_t touched = loaded + g.pager.stats.zero_pages;
	if (used > touched + 64)
		test_fail(__FILE__, __LINE__, "%lu host pages used for %lu guest pages touched",
			  used, touched);
	guest_destroy(&g);
	CHECK_EQ(pages_free_count(), before);
}

/*
 * Fault in every image page from the host, then compare each with what the
 * ELF file says it must hold — computed here from the program headers, not
 * from the loaders: file bytes where a segment has them, zero everywhere else.
 */
static uint8_t expect_page[PAGE_SIZE];

static void expected_content(uint64_t gpa)
{
	memset(expect_page, 0, PAGE_SIZE);
	for (int i = 0; i < g.pager.elf.nphdrs; i++) {
		struct elf_phdr *ph = &g.pager.elf.phdrs[i];
		uint64_t lo = MAX(gpa, ph->p_paddr);
		uint64_t hi = MIN(gpa + PAGE_SIZE, ph->p_paddr + ph->p_filesz);
		if (lo >= hi)
			continue;
		ssize_t n = file_read_at(g.pager.elf.file, expect_page + (lo - gpa), hi - lo,
					 ph->p_offset + (lo - ph->p_paddr));
		CHECK_EQ(n, hi - lo);
	}
}

KTEST(pager, partial_and_bss)
{
	size_t before = pages_free_count();
	create("keos.elf", 1);
	uint64_t checked = 0, partial = 0;
	for (int i = 0; i < g.pager.elf.nphdrs; i++) {
		struct elf_phdr *ph = &g.pager.elf.phdrs[i];
		uint64_t first = ALIGN_DOWN(ph->p_paddr, PAGE_SIZE);
		for (uint64_t gpa = first; gpa < ph->p_paddr + ph->p_memsz; gpa += PAGE_SIZE) {
			uint8_t actual[64];
			/* vm_read_gpa faults the page in through the pager, as the guest would. */
			expected_content(gpa);
			for (uint64_t off = 0; off < PAGE_SIZE; off += sizeof(actual)) {
				CHECK_EQ(vm_read_gpa(g.vm, gpa + off, actual, sizeof(actual)), 0);
				if (memcmp(actual, expect_page + off, sizeof(actual)) != 0)
					test_fail(
					    __FILE__, __LINE__,
					    "guest page 0x%lx differs from the ELF file near "
					    "+0x%lx "
					    "(segment %d: offset 0x%lx filesz 0x%lx memsz 0x%lx)",
					    gpa, off, i, ph->p_offset, ph->p_filesz, ph->p_memsz);
			}
			uint64_t file_end = ph->p_paddr + ph->p_filesz;
			if (file_end > gpa && file_end < gpa + PAGE_SIZE)
				partial++;
			checked++;
		}
	}
	test_metric("pages_checked", checked);
	test_metric("partial_pages", partial);
	CHECK(partial >= 1); /* the guest image has a segment whose file part ends mid-page */
	guest_destroy(&g);

	/* And the guest's own view: its checksums and its zeroed bss (exit code 0). */
	create("keos.elf", 1);
	vm_run(g.vm);
	expect_all_exited_zero();
	guest_destroy(&g);
	CHECK_EQ(pages_free_count(), before);
}

KTEST(pager, stress)
{
	enum { ROUNDS = 5 };
	int nvcpus = ncpu >= 4 ? ncpu : 4;
	uint64_t concurrent = 0, faults = 0;
	for (int round = 0; round < ROUNDS; round++) {
		size_t before = pages_free_count();
		create("stress.elf", nvcpus);
		vm_run(g.vm);
		expect_all_exited_zero();
		uint64_t pages, loaded, reloaded;
		count_pages(&pages, &loaded, &reloaded);
		if (reloaded)
			test_fail(__FILE__, __LINE__,
				  "round %d: %lu pages were loaded more than once", round,
				  reloaded);
		CHECK_EQ(g.pager.stats.image_pages, loaded);
		concurrent += g.pager.stats.already_mapped;
		faults += g.pager.stats.faults;
		printk(
		    "pager.stress round %d: %lu faults, %lu pages loaded of %lu, %lu concurrent\n",
		    round, g.pager.stats.faults, loaded, pages, g.pager.stats.already_mapped);
		guest_destroy(&g);
		size_t after = pages_free_count();
		if (after != before)
			test_fail(__FILE__, __LINE__, "round %d leaked %ld pages", round,
				  (long)(before - after));
	}
	test_metric("vcpus", nvcpus);
	test_metric("faults", faults);
	test_metric("concurrent_arrivals", concurrent);
	if (concurrent == 0)
		test_skip("no fault ever found its page already loaded by another vCPU: this "
			  "machine did not produce concurrent faults (multi-threaded TCG needed)");
}
