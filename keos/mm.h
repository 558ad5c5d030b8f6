/*
 * Memory: the physical page allocator and the kernel heap.
 *
 * Every physical byte below 4 GiB is mapped at PHYS_BASE (the "direct map"),
 * so a physical address pa is reachable at P2V(pa). The kernel image itself
 * runs at KERN_BASE (the top 2 GiB), loaded at physical 1 MiB.
 */
#pragma once
#include "kstring.h" /* memset, memcpy, ...: what code that uses memory uses with it */
#include "types.h"

#define PAGE_SIZE  4096UL
#define PAGE_SHIFT 12
#define PHYS_BASE  0xFFFF800000000000UL
#define KERN_BASE  0xFFFFFFFF80000000UL

/* Physical <-> kernel virtual, through the direct map. */
#define P2V(pa) ((void *)((uint64_t)(pa) + PHYS_BASE))
uint64_t V2P(const void *va); /* works for direct-map and kernel-image addresses */

struct boot_info;
void mm_init(const struct boot_info *bi);

/* Physical pages. Returned pages are zeroed; NULL when out of memory. */
void *page_alloc(void);
void page_free(void *page);
void *pages_alloc(size_t npages); /* physically contiguous run */
void pages_free(void *first, size_t npages);
size_t pages_free_count(void); /* for leak checks in tests */

/*
 * For tests: the n-th page allocation the calling thread makes from now on
 * (page_alloc, pages_alloc, kmalloc's slab pages) returns NULL, as if memory
 * had run out; the others succeed. n = 0 turns it off: do so before a CHECK
 * can end the test, since a later thread may reuse this one's memory. Unused,
 * it costs one test of a zero word per allocation.
 */
void mm_fail_nth_alloc(unsigned n);

/* Kernel heap for small objects (up to PAGE_SIZE/2); larger requests take whole pages. */
void *kmalloc(size_t size);
void *kzalloc(size_t size);
void kfree(void *p);
