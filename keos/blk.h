/* The block device (virtio-blk over legacy PCI), read path. */
#pragma once
#include "types.h"

#define SECTOR_SIZE 512

int blk_init(void); /* 0 on success, -1 if no disk was found */
/* Read `count` sectors starting at `sector` into buf. 0 on success, -1 on error. */
int blk_read(uint64_t sector, void *buf, size_t count);
uint64_t blk_capacity(void); /* in sectors */
uint64_t blk_requests(void); /* requests sent to the device so far (the rest were cached) */
