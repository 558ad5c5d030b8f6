/*
 * checksums.h: the guest KeOS's self-check table.
 *
 * Shared by the guest (which checks itself against it at run time) and by
 * tools/elfsum.c (which fills it in the linked ELF file at build time), so it
 * needs nothing but <stdint.h> and <stddef.h>.
 *
 * There is one sum per 4 KiB chunk of each checked section, not one per
 * section, so that a mismatch names the guest page the lazy pager got wrong.
 */
#pragma once
#include <stddef.h>
#include <stdint.h>

#define CSUM_MAGIC	0x4B56454D53554D43ULL /* set by elfsum; 0 means "never patched" */
#define CSUM_CHUNK	4096
#define CSUM_MAX_CHUNKS 64 /* each checked section is at most 256 KiB */

enum csum_section { CSUM_TEXT, CSUM_RODATA, CSUM_DATA, CSUM_NSECTIONS };

struct csum_section_sums {
	uint64_t addr; /* link (virtual) address of the section, as elfsum saw it */
	uint64_t size; /* its size in bytes */
	uint64_t chunk[CSUM_MAX_CHUNKS];
};

struct csum_table {
	uint64_t magic;
	struct csum_section_sums sec[CSUM_NSECTIONS];
};

/* FNV-1a, 64-bit: cheap, and a changed, moved or missing byte changes it. */
static inline uint64_t csum_bytes(const uint8_t *p, size_t n)
{
	uint64_t h = 0xCBF29CE484222325ULL;
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001B3ULL;
	}
	return h;
}
