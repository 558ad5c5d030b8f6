/*
 * kmalloc.c: the kernel heap.
 *
 * Small objects come from power-of-two size classes (32 B .. 2 KiB), each with
 * a free list of chunks carved out of whole pages. Bigger requests get their
 * own run of pages. Every block starts with a header saying which it is, so
 * kfree() needs no size. Freed small chunks go back to their class's list.
 */
#include "mm.h"
#include "printk.h"
#include "spinlock.h"

#define HEAP_MAGIC 0x4B48454150UL /* "KHEAP" */
#define MIN_SHIFT  5		  /* 32 bytes */
#define MAX_SHIFT  11		  /* 2 KiB */
#define NCLASSES   (MAX_SHIFT - MIN_SHIFT + 1)
#define BIG_CLASS  0xFF

struct header {
	uint64_t magic;
	uint32_t class;	 /* index into free_lists, or BIG_CLASS */
	uint32_t npages; /* for BIG_CLASS */
};

struct chunk {
	struct chunk *next;
};

static struct chunk *free_lists[NCLASSES];
static struct spinlock heap_lock = SPINLOCK_INIT("heap");

static int class_for(size_t total)
{
	for (int c = 0; c < NCLASSES; c++)
		if (total <= (1UL << (MIN_SHIFT + c)))
			return c;
	return -1;
}

/* Carve a fresh page into chunks of class c. Caller holds heap_lock. */
static bool refill(int c)
{
	uint8_t *page = page_alloc();
	if (!page)
		return false;
	size_t sz = 1UL << (MIN_SHIFT + c);
	for (size_t off = 0; off + sz <= PAGE_SIZE; off += sz) {
		struct chunk *ch = (struct chunk *)(page + off);
		ch->next = free_lists[c];
		free_lists[c] = ch;
	}
	return true;
}

void *kmalloc(size_t size)
{
	size_t total = size + sizeof(struct header);
	int c = class_for(total);
	struct header *h;

	if (c < 0) {
		size_t n = ALIGN_UP(total, PAGE_SIZE) / PAGE_SIZE;
		h = pages_alloc(n);
		if (!h)
			return NULL;
		*h = (struct header){HEAP_MAGIC, BIG_CLASS, n};
		return h + 1;
	}
	spin_lock(&heap_lock);
	if (!free_lists[c] && !refill(c)) {
		spin_unlock(&heap_lock);
		return NULL;
	}
	h = (struct header *)free_lists[c];
	free_lists[c] = free_lists[c]->next;
	spin_unlock(&heap_lock);
	*h = (struct header){HEAP_MAGIC, c, 0};
	return h + 1;
}

void *kzalloc(size_t size)
{
	void *p = kmalloc(size);
	if (p)
		memset(p, 0, size);
	return p;
}

void kfree(void *p)
{
	if (!p)
		return;
	struct header *h = (struct header *)p - 1;
	if (h->magic != HEAP_MAGIC)
		panic("kfree: %p was not returned by kmalloc (or is freed twice)", p);
	h->magic = 0;
	if (h->class == BIG_CLASS) {
		pages_free(h, h->npages);
		return;
	}
	struct chunk *ch = (struct chunk *)h;
	spin_lock(&heap_lock);
	ch->next = free_lists[h->class];
	free_lists[h->class] = ch;
	spin_unlock(&heap_lock);
}
