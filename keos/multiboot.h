/*
 * multiboot.h: the two boot protocols KeOS accepts, in one place for C and assembly.
 *
 *   multiboot2  GRUB from the ISO (make iso, BOOT=iso): header tags, tagged info.
 *   multiboot1  QEMU's -kernel (the direct boot, the default): QEMU refuses a 64-bit
 *               ELF, but loads the file's bytes where the header's address fields say
 *               (flag bit 16, the "a.out kludge") and jumps to entry_addr.
 *
 * Both enter boot.S's start32 in 32-bit protected mode, paging off, with the loader's
 * magic in EAX and the physical address of its information in EBX. multiboot.c turns
 * either into one struct boot_info, so the rest of the kernel sees the same facts.
 * KeV's guest boot (project3/provided/guest_boot.c) builds multiboot2 information for its guests.
 */
#pragma once

#define MB1_HEADER_MAGIC     0x1BADB002
#define MB1_HEADER_MEMINFO   (1 << 1)  /* ask for the memory map */
#define MB1_HEADER_ADDRESSES (1 << 16) /* the a.out kludge: load by the address fields */
#define MB1_HEADER_FLAGS     (MB1_HEADER_MEMINFO | MB1_HEADER_ADDRESSES)
#define MB1_BOOT_MAGIC	     0x2BADB002 /* in EAX at entry */
#define MB1_INFO_CMDLINE     (1 << 2)	/* mb1_info.flags: cmdline is valid */
#define MB1_INFO_MMAP	     (1 << 6)	/* mb1_info.flags: mmap_length/addr are valid */

#define MB2_HEADER_MAGIC     0xE85250D6
#define MB2_ARCH_I386	     0
#define MB2_HEADER_TAG_END   0
#define MB2_HEADER_TAG_ENTRY 3
#define MB2_BOOT_MAGIC	     0x36d76289 /* in EAX at entry */
#define MB2_TAG_END	     0
#define MB2_TAG_CMDLINE	     1
#define MB2_TAG_MMAP	     6

#define MB_MEMORY_AVAILABLE 1 /* memory map entry type, in both versions */

#ifdef __ASSEMBLER__
/* clang-format off */
/* A multiboot2 header from label `start` to label `end`: this fixed part, then its tags. */
.macro mb2_header_fields start, end
	.long MB2_HEADER_MAGIC
	.long MB2_ARCH_I386
	.long \end - \start
	.long -(MB2_HEADER_MAGIC + MB2_ARCH_I386 + (\end - \start))
.endm

/* The tag that ends a multiboot2 header's tag list. */
.macro mb2_header_end_tag
	.align 8
	.short MB2_HEADER_TAG_END, 0
	.long 8
.endm
/* clang-format on */
#else
#include "types.h"

/* ---- multiboot 1 ---- */

struct mb1_info {
	uint32_t flags;
	uint32_t mem_lower, mem_upper;
	uint32_t boot_device;
	uint32_t cmdline;
	uint32_t mods_count, mods_addr;
	uint32_t syms[4];
	uint32_t mmap_length, mmap_addr;
} __packed;

/* `size` counts the bytes after itself: the next entry is at +size+4. */
struct mb1_mmap_entry {
	uint32_t size;
	uint64_t base, len;
	uint32_t type;
} __packed;

/* ---- multiboot 2 ---- */

struct mb2_tag {
	uint32_t type, size;
};

struct mb2_mmap_tag {
	uint32_t type, size;
	uint32_t entry_size, entry_version;
	/* struct mb2_mmap_entry entries[]; each entry_size bytes */
};

struct mb2_mmap_entry {
	uint64_t base, len;
	uint32_t type, reserved;
};

/* ---- what the kernel keeps, whichever loader started it ---- */

#define BOOT_MAX_RAM	 16
#define BOOT_CMDLINE_MAX 128

struct boot_info {
	const char *loader; /* "multiboot1 (direct)" or "multiboot2 (GRUB)" */
	int nram;
	struct {
		uint64_t base, end;
	} ram[BOOT_MAX_RAM]; /* available RAM, as the loader's memory map says */
	char cmdline[BOOT_CMDLINE_MAX];
};

/*
 * Copies what the loader left at physical info_pa into *bi (so that no page of it
 * needs to stay reserved). Panics when magic is neither loader's.
 */
void multiboot_read(uint32_t magic, uint32_t info_pa, struct boot_info *bi);
#endif
