/*
 * pager_tests.c: the lazy pager, booting real guests from the disk image:
 * the guest KeOS (guests/keos) and the multi-vCPU stress guest (guests/stress).
 */
#include "guest_boot.h"
#include "lapic.h"
#include "machine.h"
#include "mm.h"
#include "rawguest.h"
#include "smp.h"
#include "test.h"

static struct guest g;
static char err[160];
static char loader_problem[112]; /* the first one check_loaders found, for failure messages */

/* ---- helpers ---- */

/* One problem with the registered loaders: printed, and the first one kept. */
static void loader_problem_found(int *n, const char *fmt, ...)
{
	char msg[sizeof(loader_problem)];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if ((*n)++ == 0)
		memcpy(loader_problem, msg, sizeof(msg));
	if (*n <= 8)
		printk("pager-check: %s\n", msg);
}

/* Does loader l say where segment ph's bytes in its page are (struct page_loader)? */
static bool places_segment(const struct page_loader *l, const struct elf_phdr *ph)
{
	uint64_t first = MAX(l->gpa, ph->p_paddr); /* the segment's first byte in the page */
	return first < l->gpa + PAGE_SIZE && first < ph->p_paddr + ph->p_memsz &&
	       l->page_off == first - l->gpa && l->file_off == ph->p_offset + (first - ph->p_paddr);
}

/* A loader with no file bytes (.bss) has file_off and page_off 0, or its segment's. */
static void check_bss_loader(struct page_loader *l, int *n)
{
	const struct elf_image *elf = &g.pager.elf;
	if (l->file_off == 0 && l->page_off == 0)
		return;
	for (int i = 0; i < elf->nphdrs; i++)
		if (places_segment(l, &elf->phdrs[i]))
			return;
	loader_problem_found(n,
			     "page 0x%lx: loader with file_len 0 has file_off 0x%lx page_off 0x%x: "
			     "neither 0 nor its segment's first byte in the page",
			     l->gpa, l->file_off, l->page_off);
}

/* Loader l against its segment seg: it must read inside the segment's file bytes, and
 * put them where p_paddr says. */
static void check_loader(struct page_loader *l, int seg, int *n)
{
	if (l->file_len == 0) {
		check_bss_loader(l, n);
		return;
	}
	if (seg < 0 || l->file_off + l->file_len >
			   g.pager.elf.phdrs[seg].p_offset + g.pager.elf.phdrs[seg].p_filesz) {
		loader_problem_found(n, "page 0x%lx: loader reads file 0x%lx+0x%x, outside %s",
				     l->gpa, l->file_off, l->file_len,
				     seg < 0 ? "every segment's file bytes" : "its segment");
		return;
	}
	struct elf_phdr *ph = &g.pager.elf.phdrs[seg];
	uint64_t want = ph->p_paddr + (l->file_off - ph->p_offset) - l->gpa;
	if (l->page_off != want)
		loader_problem_found(n,
				     "page 0x%lx: loader for segment %d has page_off 0x%x, "
				     "expected 0x%lx",
				     l->gpa, seg, l->page_off, want);
}

/* Two loaders of one page whose bytes land on each other. */
static void check_overlap(struct page_loader *l, int *n)
{
	for (struct page_loader *o = pager_find_next(l); o; o = pager_find_next(o))
		if (l->file_len && o->file_len && l->page_off < o->page_off + o->file_len &&
		    o->page_off < l->page_off + l->file_len)
			loader_problem_found(n,
					     "page 0x%lx: loaders of segments %d and %d overlap "
					     "(page_off 0x%x+0x%x, 0x%x+0x%x)",
					     l->gpa, pager_loader_segment(&g.pager.elf, l),
					     pager_loader_segment(&g.pager.elf, o), l->page_off,
					     l->file_len, o->page_off, o->file_len);
}

/*
 * A sanity pass over the registered loaders before the guest runs (tests only):
 * pages of a segment without a loader, loaders that read outside their segment or
 * put the bytes at the wrong page_off, loaders of one page that overlap. Each problem
 * is printed; the first one goes into the failure message of a later check.
 */
static void check_loaders(void)
{
	int n = 0;
	struct elf_image *elf = &g.pager.elf;
	loader_problem[0] = '\0';
	for (int i = 0; i < elf->nphdrs; i++)
		for (uint64_t gpa = ALIGN_DOWN(elf->phdrs[i].p_paddr, PAGE_SIZE);
		     gpa < elf->phdrs[i].p_paddr + elf->phdrs[i].p_memsz; gpa += PAGE_SIZE)
			if (!pager_find(&g.pager, gpa))
				loader_problem_found(&n, "page 0x%lx of segment %d has no loader",
						     gpa, i);
	/* Wrong places first: an overlap is usually their consequence. */
	for (int b = 0; b < PAGER_BUCKETS; b++)
		for (struct page_loader *l = g.pager.buckets[b]; l; l = l->next)
			check_loader(l, pager_loader_segment(elf, l), &n);
	for (int b = 0; b < PAGER_BUCKETS; b++)
		for (struct page_loader *l = g.pager.buckets[b]; l; l = l->next)
			check_overlap(l, &n);
	if (n > 8)
		printk("pager-check: ... %d problems in all\n", n);
}

static void create(const char *image, int nvcpus)
{
	kev_require_svm();
	if (guest_create(&g, image, nvcpus, err, sizeof(err)) != 0)
		test_fail(__FILE__, __LINE__, "guest_create(%s): %s", image, err);
	check_loaders();
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

/* How vCPU c ended, in its own words: its exit code, its crash, the VM's error. */
static const char *vcpu_ending(const struct vcpu *c, char *buf, size_t len)
{
	switch (c->verdict) {
	case VCPU_EXITED:
		snprintf(buf, len, "it exited with 0x%lx", c->guest_code);
		break;
	case VCPU_TRIPLE_FAULT:
		snprintf(buf, len, "triple fault on vcpu%d: %s", c->id, c->crash);
		break;
	case VCPU_ERROR:
		/* kev keeps the VM's first error, "vcpuN: what": c's own, or the one before. */
		if (g.vm->error_vcpu == c)
			snprintf(buf, len, "error: %s", strstr(g.vm->error, ": ") + 2);
		else
			snprintf(buf, len, "error (after the VM's first: %s)", g.vm->error);
		break;
	case VCPU_STOPPED: {
		char vm_verdict[120];
		snprintf(buf, len, "stopped by another vCPU; the VM: %s",
			 vm_verdict_string(g.vm, vm_verdict, sizeof(vm_verdict)));
		break;
	}
	default:
		snprintf(buf, len, "it is still running");
	}
	return buf;
}

/* Every vCPU exited with 0. The vCPU whose error ended the VM is reported first, then
 * the others that failed, then the ones they stopped. */
static void expect_all_exited_zero(void)
{
	char v[200];
	int first = g.vm->error_vcpu ? g.vm->error_vcpu->id : -1;
	for (int pass = 0; pass < 3; pass++) {
		for (int i = 0; i < g.vm->nvcpus; i++) {
			struct vcpu *c = &g.vm->vcpus[i];
			if ((c->verdict == VCPU_EXITED && c->guest_code == 0) ||
			    (pass == 0 && i != first) || (pass == 1 && c->verdict == VCPU_STOPPED))
				continue;
			test_fail(__FILE__, __LINE__, "vcpu%d did not exit with 0: %s%s%s", i,
				  vcpu_ending(c, v, sizeof(v)),
				  loader_problem[0] ? "; loader check: " : "", loader_problem);
		}
	}
}

/* ---- tests ---- */

static void expect_no_entry_point(struct elf_image *img, const char *why)
{
	uint64_t pa = 0;
	if (pager_entry_point(img, &pa) == 0)
		test_fail(__FILE__, __LINE__,
			  "pager_entry_point accepted entry 0x%lx (gave 0x%lx), expected -1: %s",
			  img->entry, pa, why);
}

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
	expect_no_entry_point(&img, "one past the end of segment 0 (p_vaddr + p_memsz)");
	img.entry = 0x100000; /* a physical address is not where the code is linked */
	expect_no_entry_point(&img, "a physical address: compare e_entry with p_vaddr");
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
	if (pages == 0)
		test_fail(__FILE__, __LINE__,
			  "no loader registered after guest_create: "
			  "pager_load_phdr must add one per page");
	CHECK_EQ(loaded, 0);
	for (int b = 0; b < PAGER_BUCKETS; b++)
		for (struct page_loader *l = g.pager.buckets[b]; l; l = l->next)
			if (npt_walk(g.vm->npt, l->gpa))
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
	if (g.pager.stats.faults < loaded + g.pager.stats.zero_pages)
		test_fail(__FILE__, __LINE__,
			  "%lu faults, but %lu image and %lu zero pages were loaded: pages were "
			  "loaded without a fault",
			  g.pager.stats.faults, loaded, g.pager.stats.zero_pages);
	/* The guest has a 1 MiB section it never touches: it must never be read. */
	if (pages - loaded < 256)
		test_fail(__FILE__, __LINE__,
			  "%lu of %lu image pages were loaded, expected at least 256 never to be: "
			  "the untouched segment was read",
			  loaded, pages);
	if (g.pager.stats.bytes_read > loaded * PAGE_SIZE)
		test_fail(__FILE__, __LINE__,
			  "%lu bytes read from the image for %lu pages loaded: a loader reads more "
			  "than its page",
			  g.pager.stats.bytes_read, loaded);
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

/* The segment whose file bytes hold guest-physical byte a (-1: none, it must be zero). */
static int segment_of_byte(uint64_t a)
{
	for (int i = 0; i < g.pager.elf.nphdrs; i++) {
		struct elf_phdr *ph = &g.pager.elf.phdrs[i];
		if (a >= ph->p_paddr && a < ph->p_paddr + ph->p_filesz)
			return i;
	}
	return -1;
}

/* The loader that wrote byte off of page gpa last (loaders run in order), or NULL. */
static struct page_loader *writer_of_byte(uint64_t gpa, uint64_t off)
{
	struct page_loader *writer = NULL;
	for (struct page_loader *l = pager_find(&g.pager, gpa); l; l = pager_find_next(l))
		if (off >= l->page_off && off < l->page_off + l->file_len)
			writer = l;
	return writer;
}

/* Fail naming the first differing byte, who should have written it and who did. */
static void byte_differs(int line, uint64_t gpa, const uint8_t *actual, uint64_t off)
{
	while (actual[off % 64] == expect_page[off])
		off++;
	int seg = segment_of_byte(gpa + off);
	char should[48] = "zero (no segment's file bytes)", did[88] = "no loader wrote it";
	if (seg >= 0)
		snprintf(should, sizeof(should), "segment %d's loader", seg);
	struct page_loader *w = writer_of_byte(gpa, off);
	if (w)
		snprintf(did, sizeof(did),
			 "the loader for segment %d (file_off 0x%lx page_off 0x%x file_len 0x%x) "
			 "wrote it",
			 pager_loader_segment(&g.pager.elf, w), w->file_off, w->page_off,
			 w->file_len);
	test_fail(__FILE__, line, "page 0x%lx +0x%lx is 0x%02x, expected 0x%02x from %s; %s", gpa,
		  off, actual[off % 64], expect_page[off], should, did);
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
					byte_differs(__LINE__, gpa, actual, off);
			}
			uint64_t file_end = ph->p_paddr + ph->p_filesz;
			if (file_end > gpa && file_end < gpa + PAGE_SIZE)
				partial++;
			checked++;
		}
	}
	/* The bytes are right; the loaders must also say where each segment's bytes are. */
	if (loader_problem[0])
		test_fail(__FILE__, __LINE__, "loader check: %s", loader_problem);
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

/* Handle a fault on page gpa the way kev does: under npt_lock. */
static int fault(uint64_t gpa)
{
	spin_lock(&g.vm->npt_lock);
	int r = pager_handle_fault(&g.pager, g.vm, gpa);
	spin_unlock(&g.vm->npt_lock);
	return r;
}

#define CHECK_FAULT(gpa, want)                                                                     \
	do {                                                                                       \
		int got_ = fault(gpa), want_ = (want);                                             \
		if (got_ != want_)                                                                 \
			test_fail(__FILE__, __LINE__,                                              \
				  "pager_handle_fault(0x%lx) returned %d (%s), expected %d",       \
				  (uint64_t)(gpa), got_, npt_strerror(got_), want_);               \
	} while (0)

/* A fault that fails leaves no trace: nothing mapped, no page kept, no count moved. */
static void check_failed_fault(int line, uint64_t gpa, size_t free_before,
			       struct pager_stats *stats_before)
{
	if (npt_walk(g.vm->npt, gpa))
		test_fail(__FILE__, line, "page 0x%lx is mapped after pager_handle_fault failed",
			  gpa);
	if (pages_free_count() != free_before)
		test_fail(__FILE__, line,
			  "pager_handle_fault(0x%lx) failed and kept %ld pages: it must free "
			  "the page it allocated",
			  gpa, (long)(free_before - pages_free_count()));
	if (g.pager.stats.image_pages != stats_before->image_pages ||
	    g.pager.stats.zero_pages != stats_before->zero_pages)
		test_fail(__FILE__, line,
			  "pager_handle_fault(0x%lx) failed but counted a page (image_pages "
			  "%lu -> %lu, zero_pages %lu -> %lu)",
			  gpa, stats_before->image_pages, g.pager.stats.image_pages,
			  stats_before->zero_pages, g.pager.stats.zero_pages);
}

/* Fault on gpa while the n-th page allocation fails (n = 0: none): the error, no trace. */
static void fault_fails(int line, uint64_t gpa, unsigned nth_alloc, int want)
{
	size_t free_before = pages_free_count();
	struct pager_stats stats = g.pager.stats;
	mm_fail_nth_alloc(nth_alloc);
	int got = fault(gpa);
	mm_fail_nth_alloc(0);
	if (got != want)
		test_fail(__FILE__, line, "pager_handle_fault(0x%lx) returned %d (%s), expected %s",
			  gpa, got, npt_strerror(got), npt_strerror(want));
	check_failed_fault(line, gpa, free_before, &stats);
}

/* The page is mapped readable, writable and executable, and counted once as what it is. */
static void fault_maps(int line, uint64_t gpa, uint64_t *counter, uint64_t *other)
{
	uint64_t count = *counter, other_count = *other;
	CHECK_FAULT(gpa, 1);
	npte_t *e = npt_walk(g.vm->npt, gpa);
	if (!e || (*e & (NPTE_RW | NPTE_NX)) != NPTE_RW)
		test_fail(__FILE__, line,
			  "page 0x%lx: leaf 0x%lx, expected a mapping with NPT_PERM_ALL", gpa,
			  e ? *e : 0);
	if (*counter != count + 1 || *other != other_count)
		test_fail(__FILE__, line,
			  "page 0x%lx was counted wrongly: image_pages and zero_pages", gpa);
	/* Again: already mapped, so 1 with nothing allocated and nothing counted. */
	size_t free_before = pages_free_count();
	CHECK_FAULT(gpa, 1);
	if (pages_free_count() != free_before || *counter != count + 1)
		test_fail(__FILE__, line,
			  "page 0x%lx was already mapped: pager_handle_fault must return 1 and "
			  "allocate or count nothing",
			  gpa);
}

/*
 * pager_handle_fault's errors, each made to happen: no page (-NPT_ENOMEM), no table for
 * npt_map (its -NPT_ENOMEM), a loader that cannot read (-NPT_EIO). Each leaves nothing
 * behind, and the same page can be faulted in afterwards.
 */
KTEST(pager, fault_errors)
{
	/* RAM pages without loaders, below the image: 0x20000 shares its page table with
	 * the boot information at 0x9000, 0x400000 and 0x600000 need a new one. */
	const uint64_t zero = 0x20000, no_table = 0x400000, bad_loader = 0x600000;
	size_t before = pages_free_count();
	create("keos.elf", 1);
	uint64_t image = ALIGN_DOWN(g.pager.elf.phdrs[0].p_paddr, PAGE_SIZE);
	CHECK(pager_find(&g.pager, zero) == NULL && pager_find(&g.pager, no_table) == NULL);
	CHECK(npt_walk(g.vm->npt, 0x9000) != NULL && npt_walk(g.vm->npt, zero) == NULL);

	fault_fails(__LINE__, zero, 1, -NPT_ENOMEM);	 /* page_alloc fails */
	fault_fails(__LINE__, no_table, 2, -NPT_ENOMEM); /* the page, then its table fails */
	/* A loader whose file bytes are past the end of the file. */
	CHECK_EQ(pager_add_loader(&g.pager, bad_loader, 1UL << 40, 0, 16), 0);
	fault_fails(__LINE__, bad_loader, 0, -NPT_EIO);
	CHECK_EQ(pager_find(&g.pager, bad_loader)->loads, 1);

	/* pager_load_phdr passes pager_add_loader's error on. A segment of 1024 pages needs
	 * 1024 loaders (kmalloc), so the heap must take new pages: the first one fails. */
	struct elf_phdr big = {
	    .p_type = PT_LOAD, .p_paddr = 0x8000000, .p_memsz = 1024 * PAGE_SIZE};
	mm_fail_nth_alloc(1);
	int err = pager_load_phdr(&g.pager, g.vm, &big);
	mm_fail_nth_alloc(0);
	if (err != -NPT_ENOMEM)
		test_fail(__FILE__, __LINE__,
			  "pager_load_phdr returned %d (%s) after pager_add_loader ran out of "
			  "memory, expected its -NPT_ENOMEM",
			  err, npt_strerror(err));

	fault_maps(__LINE__, zero, &g.pager.stats.zero_pages, &g.pager.stats.image_pages);
	fault_maps(__LINE__, no_table, &g.pager.stats.zero_pages, &g.pager.stats.image_pages);
	fault_maps(__LINE__, image, &g.pager.stats.image_pages, &g.pager.stats.zero_pages);
	guest_destroy(&g);
	CHECK_EQ(pages_free_count(), before);
}

/*
 * Rounds of the stress guest, each from a fresh VM, until enough faults found
 * their page already mapped by another vCPU: one round usually gives several
 * hundred, and the rounds after it are for a machine too loaded to overlap the
 * vCPUs. Every round checks its pages were loaded once and nothing leaked.
 */
enum { STRESS_MIN_CONCURRENT = 100, STRESS_MAX_ROUNDS = 5 };

KTEST(pager, stress)
{
	int nvcpus = MAX(ncpu, MACHINE_CPUS); /* stress.S's barriers wait for MACHINE_CPUS */
	uint64_t concurrent = 0, faults = 0;
	int round;
	for (round = 0; round < STRESS_MAX_ROUNDS && concurrent < STRESS_MIN_CONCURRENT; round++) {
		size_t before = pages_free_count();
		create("stress.elf", nvcpus);
		vm_run(g.vm);
		/* The order of the reports: the VM's error if it died, then a page loaded twice,
		 * then the guest's own complaints (lost writes follow from a double load). */
		if (g.vm->error[0])
			expect_all_exited_zero();
		uint64_t pages, loaded, reloaded;
		count_pages(&pages, &loaded, &reloaded);
		if (reloaded)
			test_fail(__FILE__, __LINE__,
				  "round %d: %lu pages were loaded more than once", round,
				  reloaded);
		expect_all_exited_zero();
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
	test_metric("rounds", round);
	test_metric("faults", faults);
	test_metric("concurrent_arrivals", concurrent);
	if (concurrent == 0)
		test_skip("no fault ever found its page already loaded by another vCPU: this "
			  "machine did not produce concurrent faults (multi-threaded TCG needed)");
}
