/*
 * Tests of the virtio-blk driver and the read-only file system.
 *
 * The disk is built by tools/mkrootfs from rootfs/ plus big.bin, a file of
 * splitmix64 output (seed 1, see rootfs/README.md) that spans many pages. The
 * kernel recomputes big.bin's bytes itself, and prints the CRC-32 of every file
 * so the grader can compare it with zlib.crc32() of the files it packed.
 */
#include "../blk.h"
#include "../fs.h"
#include "../mm.h"
#include "../test.h"
#include "../thread.h"
#include "lapic.h"
#include "smp.h"

#define BIG_FILE "big.bin"
#define BIG_SEED 1

/* CRC-32 as zlib computes it: reflected polynomial 0xEDB88320, all-ones start and end. */
static uint32_t crc32(const uint8_t *p, size_t n)
{
	uint32_t crc = 0xffffffff;

	while (n--) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xEDB88320 & -(crc & 1));
	}
	return ~crc;
}

/* Byte `off` of big.bin: splitmix64 is counter-based, so any byte can be computed directly. */
static uint8_t big_byte(uint64_t off)
{
	uint64_t z = BIG_SEED + (off / 8 + 1) * 0x9E3779B97F4A7C15ull;

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	z ^= z >> 31;
	return (uint8_t)(z >> (8 * (off % 8)));
}

/* Offset of the first byte of buf that differs from big.bin at off, or -1 if none. */
static int64_t big_mismatch(const uint8_t *buf, size_t len, uint64_t off)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i] != big_byte(off + i))
			return (int64_t)(off + i);
	return -1;
}

static struct file *open_at(const char *name, const char *file, int line)
{
	struct file *f = fs_open(name);

	if (!f)
		test_fail(file, line, "fs_open(\"%s\") returned NULL (is the disk mounted?)", name);
	return f;
}
#define OPEN(name) open_at((name), __FILE__, __LINE__)

/* The whole file in a fresh buffer (at least 1 byte, so empty files work too). */
static uint8_t *read_whole(struct file *f, const char *name)
{
	uint64_t size = file_size(f);
	uint8_t *buf = kmalloc(size + 1);
	ssize_t got;

	CHECK(buf != NULL);
	got = file_read_at(f, buf, size, 0);
	if (got != (ssize_t)size)
		test_fail(__FILE__, __LINE__, "%s: whole read returned %ld of %lu bytes", name, got,
			  size);
	return buf;
}

/* A small deterministic PRNG for offsets and lengths (xorshift64). */
static uint64_t next_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

KTEST(keos, fs_blk_sectors)
{
	uint8_t *a = kmalloc(2 * PAGE_SIZE), *b = kmalloc(2 * PAGE_SIZE);
	uint64_t cap = blk_capacity();

	CHECK(a != NULL && b != NULL);
	CHECK(cap >= 8);
	test_metric("capacity_sectors", cap);
	/* Sector 0 starts with the superblock magic, the bytes "KEFS". */
	CHECK_EQ(blk_read(0, a, 1), 0);
	CHECK(memcmp(a, "KEFS", 4) == 0);
	/* A multi-sector read agrees with single-sector reads, at an unaligned buffer. */
	CHECK_EQ(blk_read(0, a + 100, 8), 0);
	for (int s = 0; s < 8; s++) {
		CHECK_EQ(blk_read(s, b, 1), 0);
		CHECK(memcmp(a + 100 + s * SECTOR_SIZE, b, SECTOR_SIZE) == 0);
	}
	/* The last sector is readable; nothing past it is. */
	CHECK_EQ(blk_read(cap - 1, a, 1), 0);
	CHECK_EQ(blk_read(cap, a, 1), -1);
	CHECK_EQ(blk_read(cap - 1, a, 2), -1);
	CHECK_EQ(blk_read(UINT64_MAX, a, 1), -1);
	kfree(a);
	kfree(b);
}

/*
 * virtio_blk.c's read cache: a read of a cached chunk sends no request, chunks pushed
 * out by newer ones are read again and read the same, and a read across a chunk
 * boundary agrees with its two halves. (That the bytes are the disk's is
 * fs_read_pieces' and the host's check, test_fs.py.)
 */
KTEST(keos, fs_blk_cache)
{
	enum { CHUNK = 128, SPAN = 12 }; /* sectors in a 64 KiB chunk; more chunks than cached */
	uint8_t *first = kmalloc(SPAN * SECTOR_SIZE), *again = kmalloc(SPAN * SECTOR_SIZE);
	uint8_t *whole = kmalloc(4 * SECTOR_SIZE), *halves = kmalloc(4 * SECTOR_SIZE);

	CHECK(first && again && whole && halves);
	CHECK(blk_capacity() >= (SPAN + 1) * CHUNK);
	for (int i = 0; i < SPAN; i++)
		CHECK_EQ(blk_read(i * CHUNK + i, first + i * SECTOR_SIZE, 1), 0);
	uint64_t sent = blk_requests();
	CHECK_EQ(blk_read((SPAN - 1) * CHUNK, whole, 4), 0); /* the newest chunk: cached */
	CHECK_EQ(blk_requests(), sent);
	for (int i = 0; i < SPAN; i++)
		CHECK_EQ(blk_read(i * CHUNK + i, again + i * SECTOR_SIZE, 1), 0);
	CHECK(blk_requests() > sent); /* the oldest chunks had been replaced */
	CHECK(memcmp(first, again, SPAN * SECTOR_SIZE) == 0);

	CHECK_EQ(blk_read(CHUNK - 2, whole, 4), 0);
	CHECK_EQ(blk_read(CHUNK - 2, halves, 2), 0);
	CHECK_EQ(blk_read(CHUNK, halves + 2 * SECTOR_SIZE, 2), 0);
	CHECK(memcmp(whole, halves, 4 * SECTOR_SIZE) == 0);
	test_metric("requests", blk_requests());
	kfree(first);
	kfree(again);
	kfree(whole);
	kfree(halves);
}

KTEST(keos, fs_open_missing)
{
	char longname[200];

	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	CHECK(fs_open("no-such-file") == NULL);
	CHECK(fs_open("") == NULL);
	CHECK(fs_open(longname) == NULL);
	/* Only whole names match: not a prefix, not an extension of a name. */
	fs_close(OPEN("hello.txt"));
	CHECK(fs_open("hello") == NULL);
	CHECK(fs_open("hello.txt.") == NULL);
	CHECK(fs_open("/hello.txt") == NULL);
}

/* Read every file whole, print its CRC-32, and check a read never writes past the data. */
KTEST(keos, fs_crc32)
{
	const char *name;
	size_t i;

	for (i = 0; (name = fs_name_at(i)) != NULL; i++) {
		struct file *f = OPEN(name);
		uint64_t size = file_size(f);
		uint8_t *buf = kmalloc(size + 64);
		char key[80];

		CHECK(buf != NULL);
		memset(buf, 0xA5, size + 64);
		/* Ask for 64 bytes more than there are: the read is short, the tail untouched. */
		CHECK_EQ(file_read_at(f, buf, size + 64, 0), size);
		for (int k = 0; k < 64; k++)
			CHECK_EQ(buf[size + k], 0xA5);
		snprintf(key, sizeof(key), "crc32:%s", name);
		test_metric(key, crc32(buf, size));
		kfree(buf);
		fs_close(f);
	}
	test_metric("files", i);
	CHECK(i >= 2);
}

/* Odd-sized pieces at odd offsets must agree with the whole read, for every file. */
KTEST(keos, fs_read_pieces)
{
	static const size_t pieces[] = {1, 3, 511, 512, 513, 4095, 4096, 4097, 10000, 77};
	const char *name;

	CHECK(fs_name_at(0) != NULL);
	for (size_t i = 0; (name = fs_name_at(i)) != NULL; i++) {
		struct file *f = OPEN(name);
		uint64_t size = file_size(f), off = 0, seed = 0x9E37 + i;
		uint8_t *whole = read_whole(f, name);
		uint8_t *piece = kmalloc(10000 + 1);

		CHECK(piece != NULL);
		/* Sequential pieces of varying sizes that tile the file. */
		for (int k = 0; off < size; k++) {
			size_t want = MIN(pieces[k % ARRAY_SIZE(pieces)], size - off);

			CHECK_EQ(file_read_at(f, piece, want, off), want);
			if (memcmp(piece, whole + off, want) != 0)
				test_fail(__FILE__, __LINE__, "%s: %lu bytes at %lu differ", name,
					  want, off);
			off += want;
		}
		/* Random offsets and lengths, some running past the end. */
		for (int k = 0; k < 100 && size > 0; k++) {
			uint64_t at = next_rand(&seed) % size;
			size_t len = next_rand(&seed) % 10001;
			size_t expect = MIN(len, size - at);

			CHECK_EQ(file_read_at(f, piece, len, at), expect);
			if (memcmp(piece, whole + at, expect) != 0)
				test_fail(__FILE__, __LINE__, "%s: %lu bytes at %lu differ", name,
					  expect, at);
		}
		kfree(piece);
		kfree(whole);
		fs_close(f);
	}
}

KTEST(keos, fs_read_past_eof)
{
	struct file *f = OPEN(BIG_FILE);
	uint64_t size = file_size(f);
	uint8_t buf[100];

	CHECK(size > 10);
	CHECK_EQ(file_read_at(f, buf, 100, size - 10), 10);
	CHECK(big_mismatch(buf, 10, size - 10) < 0);
	CHECK_EQ(file_read_at(f, buf, 100, size), 0);
	CHECK_EQ(file_read_at(f, buf, 100, size + 1), 0);
	CHECK_EQ(file_read_at(f, buf, 100, size + 5 * PAGE_SIZE), 0);
	CHECK_EQ(file_read_at(f, buf, 100, UINT64_MAX), 0);
	CHECK_EQ(file_read_at(f, buf, 0, 0), 0);
	fs_close(f);
}

/* Every byte of the many-page file, checked against the generator; reports throughput. */
KTEST(keos, fs_big_file)
{
	struct file *f = OPEN(BIG_FILE);
	uint64_t size = file_size(f), t0, us;
	uint8_t *buf;
	int64_t bad;

	if (size < 64 * PAGE_SIZE)
		test_fail(__FILE__, __LINE__, "%s is %lu bytes; want at least 64 pages", BIG_FILE,
			  size);
	t0 = uptime_us();
	buf = read_whole(f, BIG_FILE);
	us = uptime_us() - t0;
	bad = big_mismatch(buf, size, 0);
	if (bad >= 0)
		test_fail(__FILE__, __LINE__, "%s: byte %ld is 0x%02x, want 0x%02x", BIG_FILE, bad,
			  buf[bad], big_byte(bad));
	test_metric("big_bytes", size);
	test_metric("big_read_us", us);
	/* Page by page, as a pager would read it: the same bytes. */
	for (uint64_t off = 0; off < size; off += PAGE_SIZE) {
		size_t want = MIN(PAGE_SIZE, size - off);

		CHECK_EQ(file_read_at(f, buf, PAGE_SIZE, off), want);
		bad = big_mismatch(buf, want, off);
		if (bad >= 0)
			test_fail(__FILE__, __LINE__, "page at %lu: byte %ld differs", off, bad);
	}
	kfree(buf);
	fs_close(f);
}

/*
 * Readers on every CPU at once: the driver must keep their requests apart.
 * `overlaps` counts reads that started while another reader's read was under
 * way, to show the test really exercised concurrency. Each reader makes READS
 * reads, and more (up to MAX_READS) while no overlap has been seen: on a loaded
 * host QEMU's vCPU threads may take turns, and cached reads are quick (one run
 * of the ten make checks run on 2026-11-26 saw none in 40 reads each).
 */
enum { READS = 40, MAX_READS = 2000 };
struct reader {
	int id;
	struct file *f;
};
static int readers_active;
static int overlaps;

static void reader_thread(void *arg)
{
	struct reader *r = arg;
	uint64_t size = file_size(r->f), seed = 12345 + r->id;
	uint8_t *buf = kmalloc(9000);
	int errors = 0;

	if (!buf)
		thread_exit(1000);
	for (int k = 0;
	     k < READS || (k < MAX_READS && !__atomic_load_n(&overlaps, __ATOMIC_SEQ_CST)); k++) {
		uint64_t at = next_rand(&seed) % size;
		size_t len = 1 + next_rand(&seed) % 9000;
		size_t expect = MIN(len, size - at);
		ssize_t got;

		if (__atomic_fetch_add(&readers_active, 1, __ATOMIC_SEQ_CST) > 0)
			__atomic_fetch_add(&overlaps, 1, __ATOMIC_SEQ_CST);
		got = file_read_at(r->f, buf, len, at);
		__atomic_fetch_sub(&readers_active, 1, __ATOMIC_SEQ_CST);
		if (got != (ssize_t)expect || big_mismatch(buf, expect, at) >= 0)
			errors++;
	}
	kfree(buf);
	thread_exit(errors);
}

KTEST(keos, fs_concurrent_reads)
{
	enum { READERS = 8 };
	struct reader readers[READERS];
	struct thread *threads[READERS];
	struct file *f = OPEN(BIG_FILE);
	int errors = 0;

	overlaps = 0;
	for (int i = 0; i < READERS; i++) {
		readers[i] = (struct reader){i, f};
		threads[i] = thread_create("fs-reader", reader_thread, &readers[i], i % ncpu);
		CHECK(threads[i] != NULL);
	}
	for (int i = 0; i < READERS; i++)
		errors += thread_join(threads[i]);
	test_metric("cpus", ncpu);
	test_metric("overlapping_reads", overlaps);
	CHECK_EQ(errors, 0);
	fs_close(f);
}

/* Opening and closing must not leak memory. */
KTEST(keos, fs_open_close_no_leak)
{
	size_t before;

	fs_close(OPEN(BIG_FILE)); /* let the heap take the page it needs */
	before = pages_free_count();
	for (int i = 0; i < 1000; i++)
		fs_close(OPEN(BIG_FILE));
	CHECK_EQ(pages_free_count(), before);
}
