/*
 * elfsum: fill the guest KeOS's .checksums section (guests/keos/checksums.h)
 * with sums of its .text, .rodata and .data sections, computed from the
 * linked ELF file itself, and write them back into that file.
 *
 *   elfsum FILE.elf
 *
 * The guest recomputes the same sums from memory at run time: if the lazy
 * pager put a wrong byte anywhere in those sections, a sum differs and the
 * guest names the page. Prints one line per section for the build log.
 */
#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../guests/keos/checksums.h"

static const char *const section_names[CSUM_NSECTIONS] = {".text", ".rodata", ".data"};

static const char *path;

static void die(const char *msg)
{
	fprintf(stderr, "elfsum: %s: %s\n", path, msg);
	exit(1);
}

static unsigned char *read_file(size_t *size)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		die(strerror(errno));
	if (fseek(f, 0, SEEK_END) != 0)
		die(strerror(errno));
	long n = ftell(f);
	if (n < 0 || fseek(f, 0, SEEK_SET) != 0)
		die("cannot find the file size");
	unsigned char *buf = malloc(n);
	if (!buf || fread(buf, 1, n, f) != (size_t)n)
		die("cannot read the file");
	fclose(f);
	*size = n;
	return buf;
}

/* The section header called name; dies if it is missing or not loaded file data. */
static const Elf64_Shdr *find_section(const unsigned char *img, size_t size, const char *name)
{
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)img;
	const Elf64_Shdr *sh = (const Elf64_Shdr *)(img + eh->e_shoff);
	const Elf64_Shdr *strtab = &sh[eh->e_shstrndx];
	if (strtab->sh_offset + strtab->sh_size > size)
		die("section name table outside the file");

	for (int i = 0; i < eh->e_shnum; i++) {
		if (sh[i].sh_name >= strtab->sh_size)
			die("bad section name offset");
		const char *n = (const char *)img + strtab->sh_offset + sh[i].sh_name;
		if (strcmp(n, name) != 0)
			continue;
		if (sh[i].sh_type != SHT_PROGBITS || !(sh[i].sh_flags & SHF_ALLOC))
			die("a checked section is not loaded file data (SHT_PROGBITS, SHF_ALLOC)");
		if (sh[i].sh_offset + sh[i].sh_size > size)
			die("a section runs past the end of the file");
		return &sh[i];
	}
	fprintf(stderr, "elfsum: %s: no %s section\n", path, name);
	exit(1);
}

static void check_header(const unsigned char *img, size_t size)
{
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)img;
	if (size < sizeof(*eh) || memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0)
		die("not an ELF file");
	if (eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_ident[EI_DATA] != ELFDATA2LSB ||
	    eh->e_machine != EM_X86_64)
		die("not a little-endian x86-64 ELF64 file");
	if (eh->e_shoff == 0 || eh->e_shentsize != sizeof(Elf64_Shdr) ||
	    eh->e_shoff + (size_t)eh->e_shnum * sizeof(Elf64_Shdr) > size ||
	    eh->e_shstrndx >= eh->e_shnum)
		die("bad section header table");
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: elfsum FILE.elf\n");
		return 2;
	}
	path = argv[1];
	size_t size;
	unsigned char *img = read_file(&size);
	check_header(img, size);

	const Elf64_Shdr *table_sh = find_section(img, size, ".checksums");
	if (table_sh->sh_size != sizeof(struct csum_table))
		die(".checksums is not the size of struct csum_table: rebuild the guest");

	struct csum_table table = {.magic = CSUM_MAGIC};
	for (int s = 0; s < CSUM_NSECTIONS; s++) {
		const Elf64_Shdr *sh = find_section(img, size, section_names[s]);
		size_t nchunks = (sh->sh_size + CSUM_CHUNK - 1) / CSUM_CHUNK;
		if (nchunks > CSUM_MAX_CHUNKS)
			die("a checked section is larger than CSUM_MAX_CHUNKS * CSUM_CHUNK");
		table.sec[s].addr = sh->sh_addr;
		table.sec[s].size = sh->sh_size;
		for (size_t c = 0; c < nchunks; c++) {
			size_t off = c * CSUM_CHUNK;
			size_t n = sh->sh_size - off < CSUM_CHUNK ? sh->sh_size - off : CSUM_CHUNK;
			table.sec[s].chunk[c] = csum_bytes(img + sh->sh_offset + off, n);
		}
		printf("elfsum: %-7s at 0x%lx: %lu bytes, %zu sums\n", section_names[s],
		       (unsigned long)sh->sh_addr, (unsigned long)sh->sh_size, nchunks);
	}

	FILE *f = fopen(path, "r+b");
	if (!f || fseek(f, table_sh->sh_offset, SEEK_SET) != 0 ||
	    fwrite(&table, sizeof(table), 1, f) != 1 || fclose(f) != 0)
		die("cannot write the table back");
	free(img);
	return 0;
}
