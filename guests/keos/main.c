/*
 * main.c: the guest KeOS, the kernel KeV's lazy pager boots page by page.
 *
 * It boots like the host kernel (keos/boot.S takes it from 32-bit protected
 * mode to kmain in 64-bit long mode), then checks that it was loaded right:
 *   1. started as a multiboot2 kernel, with a memory map it can read;
 *   2. .text, .rodata and .data hold exactly the ELF file's bytes (sums that
 *      tools/elfsum computed at build time, one per 4 KiB, see checksums.h);
 *   3. .bss reads as zeros, including the tail of .data's last page.
 * Every failed check is printed with the page it concerns; the guest then
 * exits (HC_EXIT) with the code of the first check that failed, or prints
 * "Hello guest os!" and exits with 0. The codes are in hypercall.h.
 *
 * It never reads its .untouched segment (blobs.S): the grader checks that the
 * pager never loaded it.
 */
#include "checksums.h"
#include "hypercall.h"
#include "mm.h"
#include "multiboot.h"
#include "printk.h"

#define MB2_MAX_INFO_SIZE 0x10000 /* a sanity bound: ours is a few hundred bytes */

#define UNTOUCHED_WORD 0xBADC0FFE /* every word of .untouched (blobs.S) */

/* Filled in the ELF file by tools/elfsum (checksums.c holds the zeros it replaces). */
extern const struct csum_table image_sums;

/* Section bounds, from guests/keos/linker.ld. */
extern const char text_start[], text_end[], rodata_start[], rodata_end[];
extern const char data_start[], data_end[], bss_start[], bss_end[];
extern const char untouched_start[], untouched_end[];

static uint64_t gpa(const void *p)
{
	return (uint64_t)p - KERN_BASE;
}

/* Sum and print the available regions of a memory-map tag; returns the bytes. */
static uint64_t mmap_ram(const struct mb2_mmap_tag *t, int *nregions)
{
	uint64_t ram = 0;
	if (t->entry_size < sizeof(struct mb2_mmap_entry))
		return 0;
	for (uint32_t off = sizeof(*t); off + t->entry_size <= t->size; off += t->entry_size) {
		const struct mb2_mmap_entry *e = (const void *)((const char *)t + off);
		if (e->type != MB_MEMORY_AVAILABLE)
			continue;
		printk("keos-guest: RAM [0x%lx, 0x%lx)\n", e->base, e->base + e->len);
		ram += e->len;
		(*nregions)++;
	}
	return ram;
}

/* The RAM the multiboot2 memory map describes, in bytes; 0 if there is none. */
static uint64_t multiboot_ram(uint32_t mbi_pa)
{
	if (mbi_pa == 0 || mbi_pa % 8 != 0) {
		printk("keos-guest: multiboot2 info at 0x%x is not 8-byte aligned\n", mbi_pa);
		return 0;
	}
	const char *mbi = P2V(mbi_pa);
	uint32_t total = *(const uint32_t *)mbi;
	if (total < 16 || total > MB2_MAX_INFO_SIZE) {
		printk("keos-guest: multiboot2 info at 0x%x claims %u bytes\n", mbi_pa, total);
		return 0;
	}

	uint64_t ram = 0;
	int nregions = 0;
	uint32_t off = 8; /* after total_size and reserved */
	while (off + sizeof(struct mb2_tag) <= total) {
		const struct mb2_tag *tag = (const void *)(mbi + off);
		if (tag->type == MB2_TAG_END)
			break;
		if (tag->size < sizeof(*tag) || off + tag->size > total) {
			printk("keos-guest: multiboot2 tag %u at +%u has a bad size %u\n",
			       tag->type, off, tag->size);
			return 0;
		}
		if (tag->type == MB2_TAG_MMAP)
			ram += mmap_ram((const void *)tag, &nregions);
		off = ALIGN_UP(off + tag->size, 8);
	}
	if (ram == 0)
		printk("keos-guest: the multiboot2 info has no available RAM in a memory map\n");
	else
		printk("keos-guest: RAM %lu KiB in %d regions\n", ram / 1024, nregions);
	return ram;
}

/* Compare one section with its sums, naming each 4 KiB piece that differs. */
static bool check_section(enum csum_section s, const char *name, const char *start, const char *end)
{
	const struct csum_section_sums *sums = &image_sums.sec[s];
	uint64_t size = end - start;
	if (sums->addr != (uint64_t)start || sums->size != size) {
		printk("keos-guest: %s is %lu bytes at %p, but the sums are for %lu at 0x%lx\n",
		       name, size, start, sums->size, sums->addr);
		return false;
	}
	bool ok = true;
	for (uint64_t off = 0; off < size; off += CSUM_CHUNK) {
		uint64_t n = MIN(size - off, (uint64_t)CSUM_CHUNK);
		uint64_t sum = csum_bytes((const uint8_t *)start + off, n);
		if (sum != sums->chunk[off / CSUM_CHUNK]) {
			printk("keos-guest: %s differs from the ELF file in [0x%lx, 0x%lx) "
			       "(guest-physical)\n",
			       name, gpa(start + off), gpa(start + off + n));
			ok = false;
		}
	}
	return ok;
}

/* .bss must read as zeros; name every page that does not. */
static bool check_bss(void)
{
	bool ok = true;
	const uint64_t *p = (const uint64_t *)bss_start, *end = (const uint64_t *)bss_end;
	for (; p < end; p++) {
		if (*p == 0)
			continue;
		printk("keos-guest: .bss is not zero at 0x%lx (guest-physical): 0x%lx%s\n", gpa(p),
		       *p, (uint32_t)*p == UNTOUCHED_WORD ? " (bytes of the next segment)" : "");
		ok = false;
		/* Go on with the next page: one line per bad page is enough. */
		p = (const uint64_t *)ALIGN_UP((uint64_t)(p + 1), PAGE_SIZE) - 1;
	}
	return ok;
}

static __noreturn void fail(enum guest_exit_code code)
{
	printk("keos-guest: FAILED (exit code %d)\n", code);
	guest_exit(code);
}

void kmain(uint32_t magic, uint32_t mbi_pa)
{
	printk("keos-guest: booted at 0x%lx\n", gpa(text_start));
	if (magic != MB2_BOOT_MAGIC) {
		printk("keos-guest: EAX was 0x%x at entry, not the multiboot2 magic 0x%x\n", magic,
		       MB2_BOOT_MAGIC);
		fail(GUEST_BAD_MAGIC);
	}
	if (multiboot_ram(mbi_pa) == 0)
		fail(GUEST_BAD_MBI);

	printk("keos-guest: text=%lu rodata=%lu data=%lu bss=%lu bytes\n", text_end - text_start,
	       rodata_end - rodata_start, data_end - data_start, bss_end - bss_start);
	printk("keos-guest: never reads [0x%lx, 0x%lx) (guest-physical)\n", gpa(untouched_start),
	       gpa(untouched_end));

	if (image_sums.magic != CSUM_MAGIC) {
		printk("keos-guest: no checksum table: was the image patched by tools/elfsum?\n");
		fail(GUEST_BAD_TABLE);
	}
	/* Run every check, so that the log shows all that is wrong; exit with the first. */
	enum guest_exit_code code = GUEST_OK;
	if (!check_section(CSUM_TEXT, ".text", text_start, text_end))
		code = GUEST_BAD_TEXT;
	if (!check_section(CSUM_RODATA, ".rodata", rodata_start, rodata_end) && !code)
		code = GUEST_BAD_RODATA;
	if (!check_section(CSUM_DATA, ".data", data_start, data_end) && !code)
		code = GUEST_BAD_DATA;
	if (!check_bss() && !code)
		code = GUEST_BAD_BSS;
	if (code != GUEST_OK)
		fail(code);

	printk("keos-guest: all checks passed\n");
	printk("Hello guest os!\n");
	guest_exit(GUEST_OK);
}
