/*
 * Host stand-in for keos/mm.h, so kernel code that only needs pages runs as
 * an ordinary Linux program under AddressSanitizer. grader/host comes first
 * on the include path, so "mm.h" means this file in the host build.
 *
 * Pages come from aligned_alloc and are counted against a fixed pool, so
 * pages_free_count() works for leak checks and page_alloc() can run dry.
 *
 * "Physical" addresses are the virtual ones with bit 46 flipped. The kernel's
 * direct map is not the identity either: storing a pointer where a physical
 * address belongs (or the reverse) must crash here too, not pass by luck.
 */
#pragma once
#include "types.h"
#include <string.h>

#define PAGE_SIZE 4096UL
#define PAGE_SHIFT 12
#define HOST_PHYS_FLIP (1UL << 46)
#define HOST_PAGE_POOL 8192 /* pages in the pool: 32 MiB */

#define P2V(pa) ((void *)((uint64_t)(pa) ^ HOST_PHYS_FLIP))
static inline uint64_t V2P(const void *va)
{
	return (uint64_t)va ^ HOST_PHYS_FLIP;
}

/* Returned pages are zeroed; NULL when the pool is used up. */
void *page_alloc(void);
void page_free(void *page);
size_t pages_free_count(void);
void mm_fail_nth_alloc(unsigned n); /* as in keos/mm.h; page_alloc only (kmalloc is malloc) */

void *kmalloc(size_t size);
void *kzalloc(size_t size);
void kfree(void *p);
