/*
 * The read-only file system on the virtio disk (format: keos/FS.md).
 *
 * Mounting reads the superblock and the whole directory into memory once;
 * after that the directory never changes, so fs_open and file_read_at need
 * no lock of their own (blk_read serializes the disk requests).
 */
#include "fs.h"
#include "blk.h"
#include "mm.h"
#include "printk.h"

#define FS_MAGIC	  0x5346454B /* "KEFS" */
#define FS_VERSION	  1
#define FS_BLOCK_SIZE	  4096
#define FS_MAX_FILES	  256
#define FS_NAME_LEN	  56 /* including the terminating NUL */
#define SECTORS_PER_BLOCK (FS_BLOCK_SIZE / SECTOR_SIZE)

struct fs_super {
	uint32_t magic;
	uint32_t version;
	uint32_t block_size;
	uint32_t nfiles;
	uint32_t dir_start;
	uint32_t dir_blocks;
	uint32_t total_blocks;
};

struct fs_dirent {
	char name[FS_NAME_LEN];
	uint32_t start; /* first block */
	uint32_t size;	/* bytes */
};
_Static_assert(sizeof(struct fs_dirent) == 64, "FS.md: a directory entry is 64 bytes");

struct file {
	const struct fs_dirent *ent;
};

static struct fs_super super;
static struct fs_dirent *dir; /* super.nfiles entries; NULL until mounted */

static uint64_t blocks_for(uint64_t bytes)
{
	return (bytes + FS_BLOCK_SIZE - 1) / FS_BLOCK_SIZE;
}

static int read_blocks(uint64_t block, void *buf, size_t nblocks)
{
	return blk_read(block * SECTORS_PER_BLOCK, buf, nblocks * SECTORS_PER_BLOCK);
}

/* Length of a name field, FS_NAME_LEN if it has no terminating NUL. */
static size_t strnlen_name(const char *name)
{
	size_t n = 0;

	while (n < FS_NAME_LEN && name[n] != '\0')
		n++;
	return n;
}

/* The superblock rules of FS.md, each with a message that says what is wrong. */
static int check_super(const struct fs_super *s)
{
	uint64_t disk_blocks = blk_capacity() / SECTORS_PER_BLOCK;

	if (s->magic != FS_MAGIC) {
		printk("fs: bad magic 0x%08x (want 0x%08x): the disk is not a KeOS image; "
		       "rebuild it with tools/mkrootfs\n",
		       s->magic, FS_MAGIC);
		return -1;
	}
	if (s->version != FS_VERSION || s->block_size != FS_BLOCK_SIZE) {
		printk("fs: version %u, block size %u (want version %u, block size %u)\n",
		       s->version, s->block_size, FS_VERSION, FS_BLOCK_SIZE);
		return -1;
	}
	if (s->nfiles > FS_MAX_FILES || s->dir_start != 1 ||
	    s->dir_blocks != blocks_for((uint64_t)s->nfiles * sizeof(struct fs_dirent))) {
		printk("fs: bad directory: %u files in %u blocks at block %u\n", s->nfiles,
		       s->dir_blocks, s->dir_start);
		return -1;
	}
	if (s->total_blocks < 1 + s->dir_blocks || s->total_blocks > disk_blocks) {
		printk("fs: image of %u blocks does not fit a disk of %lu blocks\n",
		       s->total_blocks, disk_blocks);
		return -1;
	}
	return 0;
}

/* The directory-entry rules of FS.md: a proper name, no duplicate, data inside the image. */
static int check_dirent(const struct fs_dirent *e, int i)
{
	uint64_t end = (uint64_t)e->start + blocks_for(e->size);

	if (e->name[0] == '\0' || strnlen_name(e->name) == FS_NAME_LEN) {
		printk("fs: directory entry %d has no valid name\n", i);
		return -1;
	}
	if (e->start < super.dir_start + super.dir_blocks || end > super.total_blocks) {
		printk("fs: file '%s' (blocks [%u, %lu)) lies outside the data area [%u, %u)\n",
		       e->name, e->start, end, super.dir_start + super.dir_blocks,
		       super.total_blocks);
		return -1;
	}
	for (int j = 0; j < i; j++) {
		if (strcmp(dir[j].name, e->name) == 0) {
			printk("fs: file name '%s' appears twice\n", e->name);
			return -1;
		}
	}
	return 0;
}

int fs_init(void)
{
	uint8_t *block;
	struct fs_dirent *entries;

	if (dir)
		return 0;
	if (blk_capacity() < SECTORS_PER_BLOCK) {
		printk("fs: no disk to mount\n");
		return -1;
	}
	block = page_alloc();
	if (!block)
		return -1;
	if (read_blocks(0, block, 1) < 0) {
		page_free(block);
		printk("fs: cannot read the superblock\n");
		return -1;
	}
	memcpy(&super, block, sizeof(super));
	page_free(block);
	if (check_super(&super) < 0)
		return -1;

	/* One spare entry so that even an empty directory is a non-NULL allocation. */
	entries = kzalloc((size_t)super.dir_blocks * FS_BLOCK_SIZE + sizeof(struct fs_dirent));
	if (!entries)
		return -1;
	if (read_blocks(super.dir_start, entries, super.dir_blocks) < 0) {
		printk("fs: cannot read the directory\n");
		kfree(entries);
		return -1;
	}
	dir = entries; /* check_dirent compares with the entries before it */
	for (uint32_t i = 0; i < super.nfiles; i++) {
		if (check_dirent(&entries[i], i) < 0) {
			dir = NULL;
			kfree(entries);
			return -1;
		}
	}
	printk("fs: mounted %u files, %u KiB\n", super.nfiles, super.total_blocks * 4);
	return 0;
}

const char *fs_name_at(size_t i)
{
	return dir && i < super.nfiles ? dir[i].name : NULL;
}

struct file *fs_open(const char *name)
{
	struct file *f;

	if (!dir)
		return NULL;
	for (uint32_t i = 0; i < super.nfiles; i++) {
		if (strcmp(dir[i].name, name) != 0)
			continue;
		f = kmalloc(sizeof(*f));
		if (f)
			f->ent = &dir[i];
		return f;
	}
	return NULL;
}

void fs_close(struct file *f)
{
	kfree(f);
}

uint64_t file_size(struct file *f)
{
	return f->ent->size;
}

/*
 * Whole sectors go straight into buf; a partial sector at either end of the
 * range goes through a sector-sized buffer on the stack.
 */
ssize_t file_read_at(struct file *f, void *buf, size_t len, uint64_t off)
{
	uint64_t first_sector = (uint64_t)f->ent->start * SECTORS_PER_BLOCK;
	uint8_t *dst = buf;
	uint8_t partial[SECTOR_SIZE];
	size_t done = 0;

	if (off >= f->ent->size)
		return 0;
	len = MIN(len, f->ent->size - off);
	while (done < len) {
		uint64_t pos = off + done;
		uint64_t sector = first_sector + pos / SECTOR_SIZE;
		size_t skip = pos % SECTOR_SIZE;
		size_t left = len - done;

		if (skip == 0 && left >= SECTOR_SIZE) {
			size_t n = left / SECTOR_SIZE;

			if (blk_read(sector, dst + done, n) < 0)
				return -1;
			done += n * SECTOR_SIZE;
		} else {
			size_t n = MIN(SECTOR_SIZE - skip, left);

			if (blk_read(sector, partial, 1) < 0)
				return -1;
			memcpy(dst + done, partial + skip, n);
			done += n;
		}
	}
	return len;
}
