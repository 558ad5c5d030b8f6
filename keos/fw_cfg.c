/*
 * fw_cfg.c: QEMU's fw_cfg through its two I/O ports.
 *
 * `qemu -fw_cfg name=opt/keos/test,string=keos.palloc` creates a named file;
 * the directory at selector 0x19 lists files with big-endian sizes and keys.
 */
#include "fw_cfg.h"
#include "mm.h"
#include "x86.h"

#define FW_CFG_PORT_SEL	 0x510
#define FW_CFG_PORT_DATA 0x511
#define FW_CFG_NB_CPUS	 0x05
#define FW_CFG_FILE_DIR	 0x19

/* A file that fw_cfg_read_file no longer gives out (fw_cfg_hide). */
static char hidden[56];

void fw_cfg_hide(const char *name)
{
	strncpy(hidden, name, sizeof(hidden) - 1);
}

static void read_bytes(void *buf, size_t n)
{
	uint8_t *p = buf;
	for (size_t i = 0; i < n; i++)
		p[i] = inb(FW_CFG_PORT_DATA);
}

static uint32_t be32(uint32_t v)
{
	return __builtin_bswap32(v);
}
static uint16_t be16(uint16_t v)
{
	return __builtin_bswap16(v);
}

int fw_cfg_cpu_count(void)
{
	uint16_t n;
	outw(FW_CFG_PORT_SEL, FW_CFG_NB_CPUS);
	read_bytes(&n, sizeof(n)); /* this one is little-endian */
	return n ? n : 1;
}

int fw_cfg_read_file(const char *name, char *buf, size_t bufsize)
{
	struct {
		uint32_t size;
		uint16_t select;
		uint16_t reserved;
		char name[56];
	} entry;
	uint32_t count;

	if (hidden[0] && strncmp(name, hidden, sizeof(hidden)) == 0)
		return -1;
	outw(FW_CFG_PORT_SEL, FW_CFG_FILE_DIR);
	read_bytes(&count, sizeof(count));
	count = be32(count);
	for (uint32_t i = 0; i < count; i++) {
		read_bytes(&entry, sizeof(entry));
		if (strncmp(entry.name, name, sizeof(entry.name)) != 0)
			continue;
		uint32_t size = be32(entry.size);
		if (bufsize == 0)
			return -1;
		size_t n = MIN(size, bufsize - 1);
		outw(FW_CFG_PORT_SEL, be16(entry.select));
		read_bytes(buf, n);
		buf[n] = '\0';
		return (int)size;
	}
	return -1;
}
