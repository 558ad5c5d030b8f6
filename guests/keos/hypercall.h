/*
 * hypercall.h: talking to KeV from the guest.
 *
 * VMMCALL (0f 01 d9) with the hypercall number in RAX and the arguments in
 * RDI and RSI. Outside a VM the instruction is undefined (#UD), so a build for
 * bare QEMU (-DGUEST_BARE, see guests/Makefile.inc) ends through QEMU's
 * isa-debug-exit device instead: see guest_exit() in console.c.
 */
#pragma once
#include "kev_abi.h" /* HC_EXIT, HC_PRINT */
#include "types.h"

static inline uint64_t hypercall(uint64_t nr, uint64_t a0, uint64_t a1)
{
	uint64_t ret = nr;
	asm volatile("vmmcall" : "+a"(ret) : "D"(a0), "S"(a1) : "memory");
	return ret;
}

/* The guest KeOS's exit codes, one per failed check (guests/README.md). */
enum guest_exit_code {
	GUEST_OK = 0,
	GUEST_BAD_MAGIC = 1,  /* EAX was not the multiboot2 magic */
	GUEST_BAD_MBI = 2,    /* no usable multiboot2 memory map */
	GUEST_BAD_TABLE = 3,  /* the checksum table is missing or describes another image */
	GUEST_BAD_TEXT = 4,   /* .text differs from the ELF file */
	GUEST_BAD_RODATA = 5, /* .rodata differs */
	GUEST_BAD_DATA = 6,   /* .data differs */
	GUEST_BAD_BSS = 7,    /* .bss does not read as zeros */
	GUEST_PANIC = 8,      /* panic(): a bug in the guest itself */
};

/* End this vCPU (HC_EXIT) with one of the codes above. */
__noreturn void guest_exit(uint64_t code);
