/*
 * multiboot.c: the boot loader's information, multiboot 1 or 2, as one struct boot_info.
 */
#include "multiboot.h"
#include "mm.h"
#include "printk.h"

static void add_ram(struct boot_info *bi, uint64_t base, uint64_t len, uint32_t type)
{
	if (type != MB_MEMORY_AVAILABLE || len == 0)
		return;
	if (bi->nram == BOOT_MAX_RAM) {
		printk("boot: more than %d RAM ranges: [0x%lx, 0x%lx) ignored\n", BOOT_MAX_RAM,
		       base, base + len);
		return;
	}
	bi->ram[bi->nram].base = base;
	bi->ram[bi->nram].end = base + len;
	bi->nram++;
}

static void copy_cmdline(struct boot_info *bi, const char *s)
{
	strncpy(bi->cmdline, s, sizeof(bi->cmdline) - 1);
	bi->cmdline[sizeof(bi->cmdline) - 1] = '\0';
}

static void read_mb1(uint32_t info_pa, struct boot_info *bi)
{
	const struct mb1_info *info = P2V(info_pa);
	bi->loader = "multiboot1 (direct)";
	if (info->flags & MB1_INFO_CMDLINE)
		copy_cmdline(bi, P2V(info->cmdline));
	if (!(info->flags & MB1_INFO_MMAP))
		return;
	const uint8_t *p = P2V(info->mmap_addr), *end = p + info->mmap_length;
	while (p + sizeof(struct mb1_mmap_entry) <= end) {
		const struct mb1_mmap_entry *e = (const void *)p;
		add_ram(bi, e->base, e->len, e->type);
		p += e->size + sizeof(e->size);
	}
}

static void read_mb2_mmap(const struct mb2_mmap_tag *tag, struct boot_info *bi)
{
	for (uint32_t off = sizeof(*tag); off + tag->entry_size <= tag->size;
	     off += tag->entry_size) {
		const struct mb2_mmap_entry *e = (const void *)((const uint8_t *)tag + off);
		add_ram(bi, e->base, e->len, e->type);
	}
}

static void read_mb2(uint32_t info_pa, struct boot_info *bi)
{
	const uint8_t *info = P2V(info_pa);
	uint32_t total = *(const uint32_t *)info;
	bi->loader = "multiboot2 (GRUB)";
	for (uint32_t off = 8; off + sizeof(struct mb2_tag) <= total;) {
		const struct mb2_tag *tag = (const void *)(info + off);
		if (tag->type == MB2_TAG_END)
			break;
		if (tag->type == MB2_TAG_MMAP)
			read_mb2_mmap((const void *)tag, bi);
		else if (tag->type == MB2_TAG_CMDLINE)
			copy_cmdline(bi, (const char *)(tag + 1));
		off += ALIGN_UP(tag->size, 8);
	}
}

void multiboot_read(uint32_t magic, uint32_t info_pa, struct boot_info *bi)
{
	memset(bi, 0, sizeof(*bi));
	if (magic == MB1_BOOT_MAGIC)
		read_mb1(info_pa, bi);
	else if (magic == MB2_BOOT_MAGIC)
		read_mb2(info_pa, bi);
	else
		panic("kmain: not started by a multiboot loader (magic 0x%x)", magic);
}
