/*
 * mkbadelf.c: write damaged copies of a good guest ELF, one flaw each, so the
 * tests can check that kev refuses every one with a clear reason.
 *
 *   mkbadelf GOOD.elf OUTDIR
 *
 * writes OUTDIR/bad-<flaw>.elf for each flaw below.
 */
#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned char *image;
static long image_size;

static void load(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f || fseek(f, 0, SEEK_END) != 0 ||
	    (image_size = ftell(f)) < (long)sizeof(Elf64_Ehdr)) {
		fprintf(stderr, "mkbadelf: cannot read %s\n", path);
		exit(1);
	}
	rewind(f);
	image = malloc(image_size);
	if (!image || fread(image, 1, image_size, f) != (size_t)image_size) {
		fprintf(stderr, "mkbadelf: cannot read %s\n", path);
		exit(1);
	}
	fclose(f);
}

static Elf64_Ehdr *ehdr(unsigned char *copy)
{
	return (Elf64_Ehdr *)copy;
}

/* The first PT_LOAD program header of copy. */
static Elf64_Phdr *first_load(unsigned char *copy)
{
	Elf64_Ehdr *eh = ehdr(copy);
	for (int i = 0; i < eh->e_phnum; i++) {
		Elf64_Phdr *ph = (Elf64_Phdr *)(copy + eh->e_phoff) + i;
		if (ph->p_type == PT_LOAD)
			return ph;
	}
	fprintf(stderr, "mkbadelf: the good image has no PT_LOAD\n");
	exit(1);
}

static void emit(const char *dir, const char *flaw, unsigned char *copy, long size)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/bad-%s.elf", dir, flaw);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(copy, 1, size, f) != (size_t)size || fclose(f) != 0) {
		fprintf(stderr, "mkbadelf: cannot write %s\n", path);
		exit(1);
	}
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: mkbadelf GOOD.elf OUTDIR\n");
		return 2;
	}
	load(argv[1]);
	unsigned char *c = malloc(image_size);
	if (!c)
		return 1;
#define FRESH() memcpy(c, image, image_size)

	FRESH();
	c[1] = 'X';
	emit(argv[2], "magic", c, image_size);

	FRESH();
	emit(argv[2], "truncated", c, 40); /* cut inside the ELF header */

	FRESH();
	ehdr(c)->e_phoff = image_size - 8; /* program headers run past the end */
	emit(argv[2], "phoff", c, image_size);

	FRESH();
	first_load(c)->p_offset = image_size; /* segment bytes past the end of the file */
	emit(argv[2], "offset", c, image_size);

	FRESH();
	first_load(c)->p_filesz = first_load(c)->p_memsz + 1;
	emit(argv[2], "filesz", c, image_size);

	FRESH();
	first_load(c)->p_paddr = 0x7fff0000000UL; /* far outside 256 MiB of guest RAM */
	emit(argv[2], "paddr", c, image_size);

	FRESH();
	ehdr(c)->e_machine = EM_386;
	emit(argv[2], "machine", c, image_size);
	return 0;
}
