/*
 * elf.h: the parts of an ELF64 executable the lazy pager needs, read and
 * checked before the guest runs. Only the headers are read here: the
 * segments' bytes are read later, page by page, when the guest touches them.
 */
#pragma once
#include "fs.h"
#include "types.h"

#define PT_LOAD	      1
#define ELF_MAX_PHDRS 16

struct elf_phdr {
	uint32_t p_type;
	uint32_t p_flags;
	uint64_t p_offset; /* where the segment's bytes start in the file */
	uint64_t p_vaddr;  /* where the guest's code believes it runs */
	uint64_t p_paddr;  /* where it is loaded in guest-physical memory */
	uint64_t p_filesz; /* bytes that come from the file ... */
	uint64_t p_memsz;  /* ... the rest, up to memsz, is zero (bss) */
	uint64_t p_align;
} __packed;

struct elf_image {
	struct file *file;
	uint64_t file_size;
	uint64_t entry; /* e_entry: a virtual address */
	int nphdrs;
	struct elf_phdr phdrs[ELF_MAX_PHDRS];
	uint64_t header_bytes_read;
	uint64_t shoff; /* section headers, for elf_symbolize (0: none) */
	uint16_t shnum;
};

/*
 * Read and check the ELF and program headers of f for a guest with mem_size
 * bytes of RAM. 0, or -1 with the reason in err (e.g. "not an ELF file").
 */
int elf_read_headers(struct file *f, uint64_t mem_size, struct elf_image *img, char *err,
		     size_t errlen);

/*
 * The symbol of the image's symbol table (.symtab) that contains the virtual
 * address addr, as "name+0xoff" in buf, read from the file now (for crash
 * reports: the guest's own names, not the host's). 0, or -1 if none.
 */
int elf_symbolize(const struct elf_image *img, uint64_t addr, char *buf, size_t len);
