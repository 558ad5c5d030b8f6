/*
 * A read-only file system on the virtio disk; the on-disk format is described
 * in keos/FS.md and written by tools/mkrootfs.
 */
#pragma once
#include "types.h"

struct file;

int fs_init(void);			/* mount the disk; 0 on success */
struct file *fs_open(const char *name); /* NULL if there is no such file */
const char *fs_name_at(size_t i);	/* name of the i-th file; NULL past the last */
void fs_close(struct file *f);
uint64_t file_size(struct file *f);
/* Read up to len bytes at offset off; returns bytes read (0 at/after EOF), -1 on I/O error. */
ssize_t file_read_at(struct file *f, void *buf, size_t len, uint64_t off);
