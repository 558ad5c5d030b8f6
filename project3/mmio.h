/*
 * Project 3, part 2: an MMIO device — the printer.
 *
 * A device register is not memory: when the guest stores to the printer's
 * guest-physical addresses, nothing is mapped there, so the CPU exits with a
 * nested page fault. kev sees that the address belongs to a registered MMIO
 * region, decodes the guest's instruction (kev/insn.c: which register, how
 * wide) and calls the device's access function. The device is yours.
 *
 * Registers, 8 bytes each, at MMIO_PRINTER_BASE:
 *   +0x00 BUF      guest-PHYSICAL address of the text (a device sees physical
 *                  memory, like DMA: a guest using paging must translate)
 *   +0x08 LEN      its length in bytes
 *   +0x10 DOORBELL writing any value prints LEN bytes at BUF on the console
 *                  (through vcpu_console_write, which adds the "guest| " prefix)
 * Reads of BUF and LEN return what was written; reads of DOORBELL return 0.
 * Accesses that are not exactly 8 bytes wide, or do not start at a register
 * (an 8-byte access at offset 0x04, say), are ignored: a write changes nothing,
 * a read returns 0, and printer->ignored counts them.
 * A doorbell prints exactly LEN bytes, read from guest-physical BUF on, and
 * printer->printed counts it. It is refused when LEN is 0 (nothing to print),
 * when the buffer is not entirely inside guest RAM (mind overflow in BUF+LEN),
 * or when LEN > MMIO_PRINT_MAX: nothing is printed, no memory is read,
 * printer->refused counts it, and the guest goes on running.
 * A buffer inside guest RAM that cannot be read (vm_read_gpa fails: the page
 * could not be had) is a hypervisor failure, not the guest's: print nothing
 * and return a negative value, which ends the VM with an error.
 */
#pragma once
#include "types.h"

#define MMIO_PRINTER_BASE 0xcafe0000UL
#define MMIO_PRINTER_SIZE 0x18
#define MMIO_PRINT_MAX	  4096

struct vcpu;

struct mmio_printer {
	uint64_t buf, len; /* the registers */
	uint64_t printed;  /* doorbells that printed */
	uint64_t refused;  /* doorbells refused (bad buffer) */
	uint64_t ignored;  /* accesses ignored (bad size or offset) */
};

/*
 * kev's MMIO callback: the guest accesses `size` bytes at gpa (inside the
 * printer's region). For a write, *value holds what the guest stores; for a
 * read, put the result in *value. Return 0 (the guest continues); a negative
 * value ends the VM with an error, so use it only for a hypervisor failure.
 */
int mmio_printer_access(struct vcpu *vcpu, uint64_t gpa, bool is_write, int size, uint64_t *value,
			void *printer);
