/*
 * blobs.S: the parts of the guest image that exist only to test the pager.
 *
 * data_blob (.data): 2 pages and 1000 bytes of non-zero bytes. .data ends
 *   with it, in the middle of a page whose rest is .bss: that page must get
 *   the file's bytes up to p_filesz and zeros after them.
 * bss_blob (.bss): 3 pages and 200 bytes that must read as zeros, so .bss
 *   covers whole pages that have no file bytes at all.
 * untouched (its own PT_LOAD segment): 1 MiB the guest never reads. A lazy
 *   pager loads none of it; an eager loader copies it all. Every word is
 *   UNTOUCHED_WORD so that, should those bytes show up in .bss (a pager that
 *   copied file bytes past p_filesz), the guest can say where they came from.
 */
#define DATA_BLOB_BYTES (2 * 4096 + 1000)
#define BSS_BLOB_BYTES (3 * 4096 + 200)
#define UNTOUCHED_BYTES (1024 * 1024)
#define UNTOUCHED_WORD 0xBADC0FFE

	.section .data
	.globl data_blob
	.align 8
data_blob:
	.set i, 0
	.rept DATA_BLOB_BYTES / 4
	/* words that vary with their index, and not one zero byte */
	.long ((i * 2654435761) & 0xFEFEFEFE) | 0x01010101
	.set i, i + 1
	.endr

	.section .bss
	.globl bss_blob
	.align 8
bss_blob:
	.space BSS_BLOB_BYTES

	.section .untouched, "a"
	.globl untouched_blob
untouched_blob:
	.fill UNTOUCHED_BYTES / 4, 4, UNTOUCHED_WORD
