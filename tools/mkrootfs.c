/*
 * mkrootfs: pack host files into a KeOS file-system image (format: keos/FS.md).
 *
 *   mkrootfs OUT.img FILE|DIR...     each FILE is stored under its base name;
 *                                    a DIR contributes its regular files
 *                                    (not dot-files, not subdirectories), sorted
 *   mkrootfs --gen OUT SIZE SEED     write SIZE pseudo-random bytes (splitmix64
 *                                    stream from SEED, see rootfs/README.md)
 *
 * Everything is checked before the image is written, and the image is written
 * to OUT.tmp and renamed into place, so a failed run never leaves a
 * half-written OUT behind.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BLOCK_SIZE   4096
#define FS_MAGIC     0x5346454Bu /* "KEFS" */
#define FS_VERSION   1
#define FS_MAX_FILES 256
#define FS_NAME_LEN  56 /* including the terminating NUL */
#define DIRENT_SIZE  64
#define SUPER_SIZE   64

struct input {
	char *path;		/* host path to read from */
	char name[FS_NAME_LEN]; /* name inside the image */
	uint64_t size;
	uint32_t start; /* first block, filled in by layout() */
};

static struct input inputs[FS_MAX_FILES];
static int ninputs;
static char tmp_path[4096];

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "mkrootfs: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (tmp_path[0])
		unlink(tmp_path);
	exit(1);
}

static uint64_t blocks_for(uint64_t bytes)
{
	return (bytes + BLOCK_SIZE - 1) / BLOCK_SIZE;
}

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

/* Record one regular file; reject what the format cannot hold. */
static void add_file(const char *path, const struct stat *st)
{
	const char *name = base_name(path);
	struct input *in;

	if (name[0] == '\0')
		die("%s: no file name", path);
	if (strlen(name) >= FS_NAME_LEN)
		die("%s: name '%s' is %zu bytes; at most %d fit", path, name, strlen(name),
		    FS_NAME_LEN - 1);
	if ((uint64_t)st->st_size > UINT32_MAX)
		die("%s: %lld bytes is too large (files are limited to 4 GiB - 1)", path,
		    (long long)st->st_size);
	for (int i = 0; i < ninputs; i++)
		if (strcmp(inputs[i].name, name) == 0)
			die("duplicate name '%s' (from %s and %s)", name, inputs[i].path, path);
	if (ninputs == FS_MAX_FILES)
		die("too many files: at most %d fit in an image", FS_MAX_FILES);

	in = &inputs[ninputs++];
	in->path = strdup(path);
	if (!in->path)
		die("out of memory");
	strcpy(in->name, name);
	in->size = (uint64_t)st->st_size;
}

static int compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A directory argument: its regular files, sorted, so images are reproducible. */
static void add_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **names = NULL;
	size_t n = 0, cap = 0;

	if (!d)
		die("%s: %s", dir, strerror(errno));
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			names = realloc(names, cap * sizeof(*names));
			if (!names)
				die("out of memory");
		}
		names[n] = strdup(e->d_name);
		if (!names[n++])
			die("out of memory");
	}
	closedir(d);
	qsort(names, n, sizeof(*names), compare_names);

	for (size_t i = 0; i < n; i++) {
		char path[4096];
		struct stat st;

		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, names[i]) >= sizeof(path))
			die("%s/%s: path too long", dir, names[i]);
		if (stat(path, &st) < 0)
			die("%s: %s", path, strerror(errno));
		if (S_ISREG(st.st_mode))
			add_file(path, &st);
		free(names[i]);
	}
	free(names);
}

static void add_arg(const char *arg)
{
	struct stat st;

	if (stat(arg, &st) < 0)
		die("%s: %s", arg, strerror(errno));
	if (S_ISDIR(st.st_mode))
		add_dir(arg);
	else if (S_ISREG(st.st_mode))
		add_file(arg, &st);
	else
		die("%s: not a regular file or directory", arg);
}

static uint32_t dir_blocks(void)
{
	return (uint32_t)blocks_for((uint64_t)ninputs * DIRENT_SIZE);
}

/* Give each file its first block; return the image size in blocks. */
static uint32_t layout(void)
{
	uint64_t next = 1 + dir_blocks();

	for (int i = 0; i < ninputs; i++) {
		inputs[i].start = (uint32_t)next;
		next += blocks_for(inputs[i].size);
		if (next > UINT32_MAX)
			die("image too large: more than 2^32 blocks");
	}
	return (uint32_t)next;
}

static void put32(unsigned char *p, uint32_t v)
{
	p[0] = v;
	p[1] = v >> 8;
	p[2] = v >> 16;
	p[3] = v >> 24;
}

static void write_all(FILE *out, const void *buf, size_t n)
{
	if (fwrite(buf, 1, n, out) != n)
		die("%s: write failed: %s", tmp_path, strerror(errno));
}

static void write_header(FILE *out, uint32_t total_blocks)
{
	unsigned char block[BLOCK_SIZE];
	uint32_t nblocks = dir_blocks();
	unsigned char *dir = calloc(nblocks ? nblocks : 1, BLOCK_SIZE);

	if (!dir)
		die("out of memory");
	memset(block, 0, sizeof(block));
	put32(block + 0, FS_MAGIC);
	put32(block + 4, FS_VERSION);
	put32(block + 8, BLOCK_SIZE);
	put32(block + 12, (uint32_t)ninputs);
	put32(block + 16, 1);
	put32(block + 20, nblocks);
	put32(block + 24, total_blocks);
	write_all(out, block, sizeof(block));

	for (int i = 0; i < ninputs; i++) {
		unsigned char *e = dir + i * DIRENT_SIZE;

		memcpy(e, inputs[i].name, strlen(inputs[i].name));
		put32(e + 56, inputs[i].start);
		put32(e + 60, (uint32_t)inputs[i].size);
	}
	write_all(out, dir, (size_t)nblocks * BLOCK_SIZE);
	free(dir);
}

/* Copy one file and zero-pad it to a block boundary. */
static void write_file(FILE *out, const struct input *in)
{
	unsigned char buf[BLOCK_SIZE];
	FILE *f = fopen(in->path, "rb");
	uint64_t done = 0;
	size_t n;

	if (!f)
		die("%s: %s", in->path, strerror(errno));
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
		done += n;
		if (done > in->size)
			break;
		if (n < sizeof(buf))
			memset(buf + n, 0, sizeof(buf) - n);
		write_all(out, buf, (size_t)blocks_for(n) * BLOCK_SIZE);
	}
	if (ferror(f))
		die("%s: read failed: %s", in->path, strerror(errno));
	fclose(f);
	if (done != in->size)
		die("%s: size changed while packing (%llu bytes, expected %llu)", in->path,
		    (unsigned long long)done, (unsigned long long)in->size);
}

/* OUT.tmp, renamed over OUT by commit_tmp() once complete; die() unlinks it before. */
static FILE *create_tmp(const char *out_path)
{
	FILE *out;

	if ((size_t)snprintf(tmp_path, sizeof(tmp_path), "%s.tmp", out_path) >= sizeof(tmp_path))
		die("%s: path too long", out_path);
	out = fopen(tmp_path, "wb");
	if (!out) {
		int err = errno;

		tmp_path[0] = '\0'; /* not ours: do not unlink it */
		die("%s.tmp: %s", out_path, strerror(err));
	}
	return out;
}

static void commit_tmp(FILE *out, const char *out_path)
{
	if (fflush(out) != 0 || fsync(fileno(out)) != 0 || fclose(out) != 0)
		die("%s: write failed: %s", tmp_path, strerror(errno));
	if (rename(tmp_path, out_path) < 0)
		die("rename %s -> %s: %s", tmp_path, out_path, strerror(errno));
	tmp_path[0] = '\0';
}

static void pack(const char *out_path)
{
	uint32_t total = layout();
	FILE *out = create_tmp(out_path);

	write_header(out, total);
	for (int i = 0; i < ninputs; i++)
		write_file(out, &inputs[i]);
	commit_tmp(out, out_path);
}

/* splitmix64: a tiny, well-known generator; the kernel test regenerates the same stream. */
static uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static uint64_t parse_u64(const char *what, const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *end || s[0] == '-')
		die("bad %s '%s'", what, s);
	return v;
}

/* --gen OUT SIZE SEED: little-endian 64-bit words of splitmix64(SEED), cut at SIZE. */
static void generate(const char *out_path, const char *size_arg, const char *seed_arg)
{
	uint64_t size = parse_u64("size", size_arg);
	uint64_t state = parse_u64("seed", seed_arg);
	FILE *out = create_tmp(out_path);

	for (uint64_t done = 0; done < size; done += 8) {
		uint64_t v = splitmix64(&state);
		unsigned char word[8];

		for (int i = 0; i < 8; i++)
			word[i] = (unsigned char)(v >> (8 * i));
		write_all(out, word, size - done < 8 ? size - done : 8);
	}
	commit_tmp(out, out_path);
}

static void usage(void)
{
	fprintf(stderr, "usage: mkrootfs OUT.img FILE|DIR...\n"
			"       mkrootfs --gen OUT SIZE SEED\n");
	exit(2);
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "--gen") == 0) {
		if (argc != 5)
			usage();
		generate(argv[2], argv[3], argv[4]);
		return 0;
	}
	if (argc < 2 || argv[1][0] == '-')
		usage();
	for (int i = 2; i < argc; i++)
		add_arg(argv[i]);
	pack(argv[1]);
	return 0;
}
