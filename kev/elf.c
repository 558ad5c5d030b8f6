/*
 * elf.c: reading and checking an ELF64 guest image's headers.
 *
 * Everything that a malformed image could use to make the pager read outside
 * the file or write outside guest RAM is refused here, with a reason, so the
 * pager can trust the program headers it is given.
 */
#include "elf.h"
#include "mm.h"
#include "printk.h"

struct elf_ehdr {
	uint8_t e_ident[16];
	uint16_t e_type;
	uint16_t e_machine;
	uint32_t e_version;
	uint64_t e_entry;
	uint64_t e_phoff;
	uint64_t e_shoff;
	uint32_t e_flags;
	uint16_t e_ehsize;
	uint16_t e_phentsize;
	uint16_t e_phnum;
	uint16_t e_shentsize;
	uint16_t e_shnum;
	uint16_t e_shstrndx;
} __packed;

struct elf_shdr {
	uint32_t sh_name, sh_type;
	uint64_t sh_flags, sh_addr, sh_offset, sh_size;
	uint32_t sh_link, sh_info;
	uint64_t sh_addralign, sh_entsize;
} __packed;

struct elf_sym {
	uint32_t st_name;
	uint8_t st_info, st_other;
	uint16_t st_shndx;
	uint64_t st_value, st_size;
} __packed;

#define SHT_SYMTAB 2
#define STT_OBJECT 1
#define STT_FUNC   2

#define ET_EXEC	  2
#define EM_X86_64 62

#define REFUSE(...)                                                                                \
	do {                                                                                       \
		snprintf(err, errlen, __VA_ARGS__);                                                \
		return -1;                                                                         \
	} while (0)

static int check_phdr(const struct elf_phdr *ph, int i, uint64_t file_size, uint64_t mem_size,
		      char *err, size_t errlen)
{
	if (ph->p_filesz > ph->p_memsz)
		REFUSE("segment %d: filesz 0x%lx > memsz 0x%lx", i, ph->p_filesz, ph->p_memsz);
	if (ph->p_offset > file_size || ph->p_filesz > file_size - ph->p_offset)
		REFUSE("segment %d: bytes 0x%lx+0x%lx are past the end of the file (0x%lx)", i,
		       ph->p_offset, ph->p_filesz, file_size);
	if (ph->p_paddr >= mem_size || ph->p_memsz > mem_size - ph->p_paddr)
		REFUSE("segment %d: guest-physical 0x%lx+0x%lx is outside guest RAM (0x%lx)", i,
		       ph->p_paddr, ph->p_memsz, mem_size);
	if (ph->p_vaddr + ph->p_memsz < ph->p_vaddr)
		REFUSE("segment %d: virtual range wraps around", i);
	return 0;
}

int elf_read_headers(struct file *f, uint64_t mem_size, struct elf_image *img, char *err,
		     size_t errlen)
{
	struct elf_ehdr eh;
	memset(img, 0, sizeof(*img));
	img->file = f;
	img->file_size = file_size(f);

	if (file_read_at(f, &eh, sizeof(eh), 0) != sizeof(eh))
		REFUSE("file too short for an ELF header (%lu bytes)", img->file_size);
	img->header_bytes_read += sizeof(eh);
	if (memcmp(eh.e_ident,
		   "\x7f"
		   "ELF",
		   4) != 0)
		REFUSE("not an ELF file (bad magic)");
	if (eh.e_ident[4] != 2 || eh.e_ident[5] != 1)
		REFUSE("not a little-endian ELF64 file");
	if (eh.e_type != ET_EXEC || eh.e_machine != EM_X86_64)
		REFUSE("not an x86-64 executable (type %u, machine %u)", eh.e_type, eh.e_machine);
	if (eh.e_phentsize != sizeof(struct elf_phdr))
		REFUSE("unexpected program header size %u", eh.e_phentsize);
	if (eh.e_phnum == 0 || eh.e_phnum > ELF_MAX_PHDRS)
		REFUSE("%u program headers (1..%d supported)", eh.e_phnum, ELF_MAX_PHDRS);

	size_t len = eh.e_phnum * sizeof(struct elf_phdr);
	if (eh.e_phoff > img->file_size || len > img->file_size - eh.e_phoff)
		REFUSE("program headers are past the end of the file");
	struct elf_phdr all[ELF_MAX_PHDRS];
	if (file_read_at(f, all, len, eh.e_phoff) != (ssize_t)len)
		REFUSE("cannot read the program headers");
	img->header_bytes_read += len;

	/* Keep only the loadable segments: the pager needs nothing else. */
	for (int i = 0; i < eh.e_phnum; i++) {
		if (all[i].p_type != PT_LOAD)
			continue;
		if (check_phdr(&all[i], i, img->file_size, mem_size, err, errlen) != 0)
			return -1;
		img->phdrs[img->nphdrs++] = all[i];
	}
	if (img->nphdrs == 0)
		REFUSE("no loadable segment");
	img->entry = eh.e_entry;
	if (eh.e_shentsize == sizeof(struct elf_shdr)) {
		img->shoff = eh.e_shoff;
		img->shnum = eh.e_shnum;
	}
	return 0;
}

/* Read exactly len bytes at off, inside the file. */
static int read_exact(const struct elf_image *img, void *dst, size_t len, uint64_t off)
{
	if (off > img->file_size || len > img->file_size - off)
		return -1;
	return file_read_at(img->file, dst, len, off) == (ssize_t)len ? 0 : -1;
}

static int read_shdr(const struct elf_image *img, unsigned i, struct elf_shdr *sh)
{
	if (i >= img->shnum)
		return -1;
	return read_exact(img, sh, sizeof(*sh), img->shoff + i * sizeof(*sh));
}

/* The closest symbol at or below addr (code or data, not a file or section name). */
static int nearest_symbol(const struct elf_image *img, const struct elf_shdr *symtab, uint64_t addr,
			  struct elf_sym *best)
{
	struct elf_sym chunk[32];
	uint64_t count = symtab->sh_size / sizeof(struct elf_sym);
	bool found = false;
	for (uint64_t i = 0; i < count; i += ARRAY_SIZE(chunk)) {
		size_t n = MIN(ARRAY_SIZE(chunk), count - i);
		if (read_exact(img, chunk, n * sizeof(chunk[0]),
			       symtab->sh_offset + i * sizeof(chunk[0])) != 0)
			return -1;
		for (size_t j = 0; j < n; j++) {
			struct elf_sym *s = &chunk[j];
			unsigned type = s->st_info & 0xF;
			if (s->st_shndx == 0 || s->st_name == 0 || type > STT_FUNC ||
			    s->st_value > addr || (found && s->st_value <= best->st_value))
				continue;
			*best = *s;
			found = true;
		}
	}
	return found ? 0 : -1;
}

int elf_symbolize(const struct elf_image *img, uint64_t addr, char *buf, size_t len)
{
	struct elf_shdr symtab, strtab;
	struct elf_sym sym;
	unsigned i = 0;
	while (i < img->shnum && (read_shdr(img, i, &symtab) != 0 || symtab.sh_type != SHT_SYMTAB))
		i++;
	if (i == img->shnum || read_shdr(img, symtab.sh_link, &strtab) != 0)
		return -1;
	if (nearest_symbol(img, &symtab, addr, &sym) != 0 || sym.st_name >= strtab.sh_size)
		return -1;
	char name[40] = "";
	size_t n = MIN(sizeof(name) - 1, strtab.sh_size - sym.st_name);
	if (read_exact(img, name, n, strtab.sh_offset + sym.st_name) != 0)
		return -1;
	name[n] = '\0';
	snprintf(buf, len, "%s+0x%lx", name, addr - sym.st_value);
	return 0;
}
