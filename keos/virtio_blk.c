/*
 * virtio-blk, legacy ("virtio 0.9.5") interface over PCI I/O ports: the read path.
 *
 * QEMU runs the disk as `-device virtio-blk-pci,disable-modern=on`, so the device
 * is PCI 1af4:1001 and all its registers sit in the I/O ports of BAR0. The driver
 * and the device share one queue in memory (a "vring"): the driver writes
 * descriptors (physical address + length of a buffer) and puts the first
 * descriptor of a request into the available ring; the device does the request
 * and puts it into the used ring. We keep one request in flight at a time and
 * poll the used ring, so no interrupts are needed.
 *
 * The disk is read-only (QEMU's readonly=on), so what was read once stays true:
 * reads go through a small cache of 64 KiB chunks. A lazy pager asks for one
 * 4 KiB page per fault; under emulation a request costs about a millisecond, which
 * a memcpy from the cache does not (pager.stress: 16 times fewer requests).
 */
#include "blk.h"
#include "mm.h"
#include "pci.h"
#include "printk.h"
#include "spinlock.h"
#include "x86.h"

#define VIRTIO_VENDOR		 0x1af4
#define VIRTIO_BLK_LEGACY_DEVICE 0x1001
#define VIRTIO_BLK_IOBASE	 0xc000 /* BAR0's ports if the firmware assigned none */

/* Legacy register block, as offsets from BAR0 (MSI-X off: device config at 0x14). */
#define VIRTIO_DEVICE_FEATURES 0x00 /* 32 bits, read-only */
#define VIRTIO_DRIVER_FEATURES 0x04 /* 32 bits */
#define VIRTIO_QUEUE_PFN       0x08 /* 32 bits: physical address of the vring >> 12 */
#define VIRTIO_QUEUE_SIZE      0x0C /* 16 bits, read-only: entries in the selected queue */
#define VIRTIO_QUEUE_SELECT    0x0E /* 16 bits */
#define VIRTIO_QUEUE_NOTIFY    0x10 /* 16 bits: write a queue number to kick it */
#define VIRTIO_DEVICE_STATUS   0x12 /* 8 bits; writing 0 resets the device */
#define VIRTIO_ISR_STATUS      0x13 /* 8 bits */
#define VIRTIO_BLK_CAPACITY    0x14 /* 64 bits: disk size in 512-byte sectors */

/* Device status bits: the driver reports its progress through initialization. */
#define STATUS_ACKNOWLEDGE 1 /* we saw the device */
#define STATUS_DRIVER	   2 /* we know how to drive it */
#define STATUS_DRIVER_OK   4 /* ready: the device may start using the queue */
#define STATUS_FAILED	   128

/* The vring. The legacy layout is fixed: descriptors, then avail, then used on the next page. */
struct vring_desc {
	uint64_t addr; /* physical */
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};
#define VRING_DESC_F_NEXT  1 /* the request continues in desc[next] */
#define VRING_DESC_F_WRITE 2 /* the device writes this buffer (else it reads it) */

struct vring_avail {
	uint16_t flags;
	uint16_t idx;	 /* where the driver will put the next entry (free-running) */
	uint16_t ring[]; /* queue_size entries, then a used_event word we do not use */
};
#define VRING_AVAIL_F_NO_INTERRUPT 1

struct vring_used_elem {
	uint32_t id;  /* head descriptor of the finished request */
	uint32_t len; /* bytes the device wrote */
};

struct vring_used {
	uint16_t flags;
	uint16_t idx; /* where the device will put the next entry (free-running) */
	struct vring_used_elem ring[];
};

/* A block request: header (device reads), data, status byte (device writes). */
struct virtio_blk_req_header {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
};
#define VIRTIO_BLK_T_IN 0 /* read */
#define VIRTIO_BLK_S_OK 0

/*
 * Data moves through the cache's chunks, each a private, physically contiguous
 * buffer, so callers may pass any kernel virtual memory (heap, stack, direct map)
 * without caring where its pages are physically. A request reads a whole chunk
 * (CHUNK_SECTORS-aligned, 64 KiB), which keeps the number of (slow, trapping)
 * queue notifications low; CACHE_CHUNKS of them cover the 512 KiB a stress round
 * of the pager works on, and the least recently used one is read over.
 */
#define CHUNK_PAGES   16
#define CHUNK_SECTORS (CHUNK_PAGES * PAGE_SIZE / SECTOR_SIZE)
#define CACHE_CHUNKS  8
#define NO_CHUNK      UINT64_MAX

struct chunk {
	uint64_t first;	  /* its first sector (a multiple of CHUNK_SECTORS), or NO_CHUNK */
	uint64_t used_at; /* disk.clock when last read from: the oldest is replaced */
	uint8_t *data;	  /* CHUNK_PAGES pages, physically contiguous */
};

/* Polls without an answer before we give up on the device (each is a pause). */
#define POLL_LIMIT (1UL << 32)

static struct {
	struct spinlock lock; /* one request at a time: it guards everything below */
	bool ready;
	uint16_t iobase;
	uint64_t capacity; /* sectors */
	uint16_t queue_size;
	struct vring_desc *desc;
	struct vring_avail *avail;
	volatile struct vring_used *used;
	uint16_t last_used;		      /* used->idx we have consumed up to */
	struct virtio_blk_req_header *header; /* header and status share one page */
	volatile uint8_t *status;
	struct chunk cache[CACHE_CHUNKS];
	uint64_t clock;	   /* counts blk_read's chunk lookups */
	uint64_t requests; /* sent to the device: what the cache saves */
} disk = {.lock = SPINLOCK_INIT("virtio-blk")};

/* Bytes of descriptors and avail ring (with its trailing used_event word). */
static size_t vring_first_part(uint16_t qsize)
{
	return sizeof(struct vring_desc) * qsize + sizeof(uint16_t) * (3 + qsize);
}

/* The used ring (with its trailing avail_event word) starts on the next page. */
static size_t vring_bytes(uint16_t qsize)
{
	size_t used = sizeof(uint16_t) * 3 + sizeof(struct vring_used_elem) * qsize;

	return ALIGN_UP(vring_first_part(qsize), PAGE_SIZE) + ALIGN_UP(used, PAGE_SIZE);
}

/* Queue 0 (the only queue of virtio-blk): allocate the vring and tell the device. */
static int setup_queue(void)
{
	size_t npages;
	uint8_t *ring;

	outw(disk.iobase + VIRTIO_QUEUE_SELECT, 0);
	disk.queue_size = inw(disk.iobase + VIRTIO_QUEUE_SIZE);
	if (disk.queue_size < 3) {
		printk("virtio-blk: queue 0 has %u entries, need 3\n", disk.queue_size);
		return -1;
	}
	npages = vring_bytes(disk.queue_size) / PAGE_SIZE;
	ring = pages_alloc(npages); /* zeroed */
	disk.header = page_alloc();
	bool chunks = true;
	for (int i = 0; i < CACHE_CHUNKS; i++) {
		disk.cache[i] = (struct chunk){.first = NO_CHUNK, .data = pages_alloc(CHUNK_PAGES)};
		chunks = chunks && disk.cache[i].data;
	}
	if (!ring || !disk.header || !chunks) {
		printk("virtio-blk: out of memory for the queue\n");
		return -1;
	}
	disk.desc = (struct vring_desc *)ring;
	disk.avail = (struct vring_avail *)(ring + sizeof(struct vring_desc) * disk.queue_size);
	disk.used =
	    (struct vring_used *)(ring + ALIGN_UP(vring_first_part(disk.queue_size), PAGE_SIZE));
	disk.status = (uint8_t *)disk.header + sizeof(*disk.header);
	/* We poll; ask the device not to interrupt us. */
	disk.avail->flags = VRING_AVAIL_F_NO_INTERRUPT;

	/*
	 * Every request uses the same three-descriptor chain (0 -> 1 -> 2), since
	 * only one is ever in flight; the data buffer (a chunk) and length change per
	 * request.
	 */
	disk.desc[0] =
	    (struct vring_desc){V2P(disk.header), sizeof(*disk.header), VRING_DESC_F_NEXT, 1};
	disk.desc[1] = (struct vring_desc){0, 0, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 2};
	disk.desc[2] =
	    (struct vring_desc){V2P((const void *)disk.status), 1, VRING_DESC_F_WRITE, 0};

	outl(disk.iobase + VIRTIO_QUEUE_PFN, (uint32_t)(V2P(ring) >> PAGE_SHIFT));
	return 0;
}

int blk_init(void)
{
	struct pci_dev dev;
	uint8_t status;

	if (disk.ready)
		return 0;
	if (!pci_find(VIRTIO_VENDOR, VIRTIO_BLK_LEGACY_DEVICE, &dev)) {
		printk("virtio-blk: no legacy virtio-blk device (PCI %04x:%04x) found\n",
		       VIRTIO_VENDOR, VIRTIO_BLK_LEGACY_DEVICE);
		return -1;
	}
	disk.iobase = pci_io_base(&dev, PCI_BAR0, VIRTIO_BLK_IOBASE);
	if (disk.iobase == 0) {
		printk("virtio-blk: BAR0 is not I/O space (run QEMU with disable-modern=on)\n");
		return -1;
	}
	pci_enable(&dev, PCI_COMMAND_IO | PCI_COMMAND_MASTER);

	/* The legacy initialization sequence (virtio 0.9.5, "Device Initialization"). */
	outb(disk.iobase + VIRTIO_DEVICE_STATUS, 0); /* reset */
	status = STATUS_ACKNOWLEDGE;
	outb(disk.iobase + VIRTIO_DEVICE_STATUS, status);
	status |= STATUS_DRIVER;
	outb(disk.iobase + VIRTIO_DEVICE_STATUS, status);
	/* Plain 512-byte-sector reads need no optional feature: accept none. */
	(void)inl(disk.iobase + VIRTIO_DEVICE_FEATURES);
	outl(disk.iobase + VIRTIO_DRIVER_FEATURES, 0);
	if (setup_queue() < 0) {
		outb(disk.iobase + VIRTIO_DEVICE_STATUS, status | STATUS_FAILED);
		return -1;
	}
	disk.capacity = inl(disk.iobase + VIRTIO_BLK_CAPACITY) |
			((uint64_t)inl(disk.iobase + VIRTIO_BLK_CAPACITY + 4) << 32);
	outb(disk.iobase + VIRTIO_DEVICE_STATUS, status | STATUS_DRIVER_OK);
	disk.ready = true;
	printk("virtio-blk: PCI %02x:%02x.%x, I/O port 0x%x, %lu sectors (%lu KiB), queue %u\n",
	       dev.bus, dev.slot, dev.func, disk.iobase, disk.capacity, disk.capacity / 2,
	       disk.queue_size);
	return 0;
}

uint64_t blk_capacity(void)
{
	return disk.ready ? disk.capacity : 0;
}

/* One request: `count` sectors from `sector` into `buf` (physically contiguous).
 * Caller holds the lock. */
static int read_request(uint64_t sector, size_t count, void *buf)
{
	uint16_t slot;

	disk.header->type = VIRTIO_BLK_T_IN;
	disk.header->reserved = 0;
	disk.header->sector = sector;
	disk.desc[1].addr = V2P(buf);
	disk.desc[1].len = count * SECTOR_SIZE;
	disk.requests++;
	*disk.status = 0xff; /* the device overwrites it; 0xff would mean it never did */

	/* Publish the request: the ring entry must be visible before the index moves. */
	slot = disk.avail->idx % disk.queue_size;
	disk.avail->ring[slot] = 0;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	disk.avail->idx++;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	outw(disk.iobase + VIRTIO_QUEUE_NOTIFY, 0);

	for (uint64_t n = 0; disk.used->idx == disk.last_used; n++) {
		if (n == POLL_LIMIT) {
			printk("virtio-blk: no answer for sector %lu\n", sector);
			return -1;
		}
		pause();
	}
	/* The device wrote the data and the status before it moved used->idx. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	disk.last_used++;
	/* Reading the ISR register acknowledges (lowers) any interrupt the device raised. */
	(void)inb(disk.iobase + VIRTIO_ISR_STATUS);
	if (*disk.status != VIRTIO_BLK_S_OK) {
		printk("virtio-blk: read of sector %lu failed, status %u\n", sector, *disk.status);
		return -1;
	}
	return 0;
}

/* The cached chunk starting at sector `first`, read from the disk over the least
 * recently used one if it is not cached; NULL if the disk failed. Caller holds the lock. */
static struct chunk *chunk_get(uint64_t first)
{
	struct chunk *oldest = &disk.cache[0];
	for (int i = 0; i < CACHE_CHUNKS; i++) {
		struct chunk *c = &disk.cache[i];
		if (c->first == first) {
			c->used_at = ++disk.clock;
			return c;
		}
		if (c->used_at < oldest->used_at)
			oldest = c;
	}
	oldest->first = NO_CHUNK; /* until the read succeeded */
	if (read_request(first, MIN(CHUNK_SECTORS, disk.capacity - first), oldest->data) < 0)
		return NULL;
	oldest->first = first;
	oldest->used_at = ++disk.clock;
	return oldest;
}

int blk_read(uint64_t sector, void *buf, size_t count)
{
	uint8_t *dst = buf;
	int ret = 0;

	if (!disk.ready || sector > disk.capacity || count > disk.capacity - sector)
		return -1;
	while (count > 0 && ret == 0) {
		uint64_t first = ALIGN_DOWN(sector, CHUNK_SECTORS);
		size_t n = MIN(count, first + CHUNK_SECTORS - sector);

		spin_lock(&disk.lock); /* a chunk at a time: the next reader waits less */
		struct chunk *c = chunk_get(first);
		if (c)
			memcpy(dst, c->data + (sector - first) * SECTOR_SIZE, n * SECTOR_SIZE);
		else
			ret = -1;
		spin_unlock(&disk.lock);
		sector += n;
		dst += n * SECTOR_SIZE;
		count -= n;
	}
	return ret;
}

uint64_t blk_requests(void)
{
	return disk.requests;
}
