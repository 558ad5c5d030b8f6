/*
 * kmalloc.c: the kernel heap.
 *
 * Small objects come from power-of-two size classes (32 B .. 1 KiB). Each
 * class carves whole pages ("slabs") into chunks and keeps its free chunks in
 * a doubly linked list. A slab counts the chunks it has handed out; when the
 * last one comes back, its chunks leave the list and the page goes back to
 * the page allocator. So the heap holds no page it does not use, and a test
 * can compare pages_free_count() before and after to prove nothing leaked.
 * Bigger requests get their own run of pages. Every block starts with a
 * header saying which it is, so kfree() needs no size.
 */
#include "mm.h"
#include "printk.h"
#include "spinlock.h"

#define HEAP_MAGIC 0x4B48454150UL /* "KHEAP" */
#define MIN_SHIFT  5		  /* 32 bytes */
#define MAX_SHIFT  10		  /* 1 KiB */
#define NCLASSES   (MAX_SHIFT - MIN_SHIFT + 1)
#define BIG_CLASS  0xFF

struct header {
	uint64_t magic;
	uint32_t class;	 /* index into free_lists, or BIG_CLASS */
	uint32_t npages; /* for BIG_CLASS */
};

/* At the start of every slab page; the chunks follow it. */
struct slab {
	uint32_t class;
	uint32_t in_use; /* chunks handed out */
	uint64_t pad;	 /* keeps chunks 16-byte aligned */
};

struct chunk {
	struct chunk *next, *prev;
};

static struct chunk free_lists[NCLASSES]; /* list heads: circular, next/prev */
static struct spinlock heap_lock = SPINLOCK_INIT("heap");

static int class_for(size_t total)
{
	for (int c = 0; c < NCLASSES; c++)
		if (total <= (1UL << (MIN_SHIFT + c)))
			return c;
	return -1;
}

static size_t chunk_size(int c)
{
	return 1UL << (MIN_SHIFT + c);
}
static struct slab *slab_of(void *p)
{
	return (struct slab *)ALIGN_DOWN((uint64_t)p, PAGE_SIZE);
}

static void list_push(struct chunk *head, struct chunk *ch)
{
	if (!head->next)
		head->next = head->prev = head; /* first use of this class */
	ch->next = head->next;
	ch->prev = head;
	head->next->prev = ch;
	head->next = ch;
}

static void list_remove(struct chunk *ch)
{
	ch->prev->next = ch->next;
	ch->next->prev = ch->prev;
}

static bool list_empty(struct chunk *head)
{
	return !head->next || head->next == head;
}

/* The chunks of a slab page, in order: for (ch = first; ch; ch = next) */
static struct chunk *slab_chunk(struct slab *s, size_t i)
{
	size_t off = sizeof(struct slab) + i * chunk_size(s->class);
	if (off + chunk_size(s->class) > PAGE_SIZE)
		return NULL;
	return (struct chunk *)((uint8_t *)s + off);
}

/* Carve a fresh page into chunks of class c. Caller holds heap_lock. */
static bool refill(int c)
{
	struct slab *s = page_alloc();
	if (!s)
		return false;
	s->class = c;
	for (size_t i = 0; slab_chunk(s, i); i++)
		list_push(&free_lists[c], slab_chunk(s, i));
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
	if (list_empty(&free_lists[c]) && !refill(c)) {
		spin_unlock(&heap_lock);
		return NULL;
	}
	struct chunk *ch = free_lists[c].next;
	list_remove(ch);
	slab_of(ch)->in_use++;
	spin_unlock(&heap_lock);
	h = (struct header *)ch;
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
	struct slab *s = slab_of(h);
	spin_lock(&heap_lock);
	list_push(&free_lists[s->class], (struct chunk *)h);
	if (--s->in_use == 0) {
		/* Every chunk of the page is free: take them off the list, return the page. */
		for (size_t i = 0; slab_chunk(s, i); i++)
			list_remove(slab_chunk(s, i));
		page_free(s);
	}
	spin_unlock(&heap_lock);
}
