/*
 * mm.c: the physical page allocator.
 *
 * One bit per physical page below 4 GiB (1 = free). The boot loader's memory map
 * says which RAM exists; everything below 1 MiB (real-mode data, the AP boot
 * trampoline) and the kernel image itself are never handed out. A bitmap makes
 * contiguous runs easy, and the free counter lets tests prove nothing leaked.
 */
#include "mm.h"
#include "multiboot.h"
#include "printk.h"
#include "spinlock.h"
#include "thread.h"

#define MAX_PHYS (4UL << 30)
#define NPAGES	 (MAX_PHYS / PAGE_SIZE)

static uint64_t free_map[NPAGES / 64];
static size_t nfree;
static size_t search_hint; /* page number where the next search starts */
static struct spinlock mm_lock = SPINLOCK_INIT("mm");
extern char kernel_end[];

uint64_t V2P(const void *va)
{
	uint64_t a = (uint64_t)va;
	if (a >= KERN_BASE)
		return a - KERN_BASE;
	if (a >= PHYS_BASE)
		return a - PHYS_BASE;
	panic("V2P: %p is not a kernel address", va);
}

static bool page_is_free(size_t pn)
{
	return free_map[pn / 64] & (1UL << (pn % 64));
}
static void mark_free(size_t pn)
{
	free_map[pn / 64] |= 1UL << (pn % 64);
}
static void mark_used(size_t pn)
{
	free_map[pn / 64] &= ~(1UL << (pn % 64));
}

/* ---- the boot loader's memory map ---- */

static void add_free_range(uint64_t start, uint64_t end)
{
	start = ALIGN_UP(start, PAGE_SIZE);
	end = ALIGN_DOWN(MIN(end, MAX_PHYS), PAGE_SIZE);
	uint64_t reserved_end = ALIGN_UP(V2P(kernel_end), PAGE_SIZE);
	for (uint64_t pa = start; pa < end; pa += PAGE_SIZE) {
		if (pa < reserved_end)
			continue; /* low memory and the kernel image */
		mark_free(pa / PAGE_SIZE);
		nfree++;
	}
}

/* bi is a copy (multiboot.c): the loader's own pages may be handed out. */
void mm_init(const struct boot_info *bi)
{
	uint64_t ram = 0;
	for (int i = 0; i < bi->nram; i++) {
		ram += bi->ram[i].end - bi->ram[i].base;
		add_free_range(bi->ram[i].base, bi->ram[i].end);
	}
	if (nfree == 0)
		panic("mm_init: the boot loader's memory map has no usable RAM");
	printk("mm: %lu MiB RAM, %lu pages free\n", ram >> 20, nfree);
}

/* ---- allocation ---- */

/* mm_fail_nth_alloc: allocations left before the one that fails (0: off), and whose. */
static unsigned fail_countdown;
static struct thread *fail_thread;

void mm_fail_nth_alloc(unsigned n)
{
	spin_lock(&mm_lock);
	fail_countdown = n;
	fail_thread = n ? thread_current() : NULL;
	spin_unlock(&mm_lock);
}

/* Is this the allocation a test asked to fail? Caller holds mm_lock. */
static bool injected_failure(void)
{
	if (__builtin_expect(fail_countdown == 0, 1) || thread_current() != fail_thread)
		return false;
	return --fail_countdown == 0;
}

/* Find n free pages in a row, starting the search at the hint. Caller holds mm_lock. */
static int64_t find_run(size_t n)
{
	for (int pass = 0; pass < 2; pass++) {
		size_t run = 0;
		size_t from = pass == 0 ? search_hint : 0;
		size_t to = pass == 0 ? NPAGES : search_hint + n;
		for (size_t pn = from; pn < MIN(to, NPAGES); pn++) {
			if (run == 0 && (pn % 64) == 0 && free_map[pn / 64] == 0) {
				pn += 63; /* skip a whole used word */
				continue;
			}
			run = page_is_free(pn) ? run + 1 : 0;
			if (run == n)
				return pn + 1 - n;
		}
	}
	return -1;
}

void *pages_alloc(size_t n)
{
	spin_lock(&mm_lock);
	int64_t first = n && !injected_failure() ? find_run(n) : -1;
	if (first < 0) {
		spin_unlock(&mm_lock);
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		mark_used(first + i);
	nfree -= n;
	search_hint = first + n;
	spin_unlock(&mm_lock);

	void *va = P2V(first * PAGE_SIZE);
	memset(va, 0, n * PAGE_SIZE);
	return va;
}

void pages_free(void *va, size_t n)
{
	uint64_t pa = V2P(va);
	if (pa % PAGE_SIZE)
		panic("pages_free: %p is not page aligned", va);
	spin_lock(&mm_lock);
	for (size_t i = 0; i < n; i++) {
		size_t pn = pa / PAGE_SIZE + i;
		if (page_is_free(pn))
			panic("pages_free: double free of physical page 0x%lx", pn * PAGE_SIZE);
		mark_free(pn);
	}
	nfree += n;
	spin_unlock(&mm_lock);
}

void *page_alloc(void)
{
	return pages_alloc(1);
}
void page_free(void *va)
{
	pages_free(va, 1);
}

size_t pages_free_count(void)
{
	return __atomic_load_n(&nfree, __ATOMIC_RELAXED);
}
