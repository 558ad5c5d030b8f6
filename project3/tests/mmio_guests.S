/*
 * mmio_guests.S: raw-code guests that drive the MMIO printer (64-bit mode,
 * run at guest-physical 0x1000 with paging identity-mapped: see kev/rawguest.h).
 */
#include "kev_abi.h"
#define GUEST_CODE 0x1000
#define G(x) ((x) - 0b + GUEST_CODE)
#define BUF 0xcafe0000
#define LEN 0xcafe0008
#define DOORBELL 0xcafe0010
#define UNREADABLE 0xff000	/* the last page of the guest's 1 MiB: see mmio_tests.c */

	.section .rodata
	.code64

	.macro EXIT code
	movl $HC_EXIT, %eax
	movl \code, %edi
	vmmcall
	.endm

/* a whole guest: one doorbell for LEN bytes at BUF, then exit with code */
	.macro ONE_DOORBELL buf, len, code
	movl $BUF, %ebx
	movq $\buf, (%rbx)
	movq $\len, 8(%rbx)
	movq %rax, 16(%rbx)
	EXIT $\code
	.endm

/* KeV's mmio_print: "Hello mmio!\n", in two doorbells of exactly LEN bytes each */
	.globl mmio_guest_print, mmio_guest_print_end
mmio_guest_print:
0:	movl $BUF, %ebx
	movq $G(1f), %rax
	movq %rax, (%rbx)
	movq $(2f - 1f), %rax
	movq %rax, 8(%rbx)
	movq %rax, 16(%rbx)	/* ring: "Hello " */
	movq $G(2f), %rax
	movq %rax, (%rbx)
	movq $(3f - 2f), %rax
	movq %rax, 8(%rbx)
	movq %rax, 16(%rbx)	/* ring: "mmio!\n" */
	EXIT $0
1:	.ascii "Hello "
2:	.ascii "mmio!\n"
3:	.ascii "NOT PRINTED"

mmio_guest_print_end:

/* accesses of the wrong size are ignored; then a valid print */
	.globl mmio_guest_invalid_size, mmio_guest_invalid_size_end
mmio_guest_invalid_size:
0:	movl $BUF, %ebx
	movq $G(1f), %rax
	movl %eax, (%rbx)		/* 4-byte BUF: ignored */
	movl $(2f - 1f), 8(%rbx)	/* 4-byte LEN: ignored */
	movb $1, 16(%rbx)		/* 1-byte doorbell: ignored */
	movw $1, 16(%rbx)		/* 2-byte doorbell: ignored */
	movq (%rbx), %rcx		/* BUF still 0 */
	testq %rcx, %rcx
	jnz 9f
	movl 8(%rbx), %ecx		/* a 4-byte read is ignored: reads 0 */
	testl %ecx, %ecx
	jnz 9f
	movq $G(3f), %rax		/* now the right way */
	movq %rax, (%rbx)
	movq $(4f - 3f), %rax
	movq %rax, 8(%rbx)
	movq $G(1f), %rcx
	movq %rcx, 4(%rbx)		/* 8 bytes at 0x04, not a register: ignored */
	movl 8(%rbx), %ecx		/* a 4-byte read of a LEN that is set: still 0 */
	testl %ecx, %ecx
	jnz 9f
	movq 12(%rbx), %rcx		/* 8 bytes at 0x0c, not a register: reads 0 */
	testq %rcx, %rcx
	jnz 9f
	movq %rax, 16(%rbx)
	EXIT $0x600D
9:	EXIT $0xBAD
1:	.ascii "IGNORED\n"
2:
3:	.ascii "Valid print after ignored ones\n"
4:
mmio_guest_invalid_size_end:

/* BUF is guest-physical: mmio_tests.c maps guest-virtual PHYS_TEXT to another page
 * (VIRT_TEXT's), so a device reading through the guest's page table prints the wrong text */
#define PHYS_TEXT 0x30000
	.globl mmio_guest_physical, mmio_guest_physical_end
mmio_guest_physical:
	ONE_DOORBELL PHYS_TEXT, 5, 0
mmio_guest_physical_end:

/* registers read back what was written */
	.globl mmio_guest_readback, mmio_guest_readback_end
mmio_guest_readback:
0:	movl $BUF, %ebx
	movabsq $0x123456789abc, %rax
	movq %rax, (%rbx)
	movq $77, 8(%rbx)
	movq (%rbx), %r8
	movq 8(%rbx), %r9
	movq 16(%rbx), %r10		/* the doorbell reads 0 */
	cmpq %rax, %r8
	jne 9f
	cmpq $77, %r9
	jne 9f
	testq %r10, %r10
	jnz 9f
	EXIT $0x600D
9:	EXIT $0xBAD
mmio_guest_readback_end:

/* buffers outside guest RAM or too long are refused; the guest keeps running; the
 * last two reach the page the host took away (mmio_tests.c): refused, it is never read */
	.globl mmio_guest_outside, mmio_guest_outside_end
mmio_guest_outside:
0:	movl $BUF, %ebx
	movabsq $0x7ffffffff000, %rax	/* far outside RAM */
	movq %rax, (%rbx)
	movq $16, 8(%rbx)
	movq %rax, 16(%rbx)
	movq $0xff800, (%rbx)		/* starts inside, ends past the 1 MiB of RAM */
	movq $0x1000, 8(%rbx)		/* (and is not too long on its own) */
	movq %rax, 16(%rbx)
	movq $-16, %rax			/* BUF + LEN overflows */
	movq %rax, (%rbx)
	movq $32, 8(%rbx)
	movq %rax, 16(%rbx)
	movq $0, (%rbx)			/* too long: 1 MiB */
	movq $0x100000, 8(%rbx)
	movq %rax, 16(%rbx)
	movq $0x1001, 8(%rbx)		/* MMIO_PRINT_MAX + 1 bytes, inside RAM */
	movq %rax, 16(%rbx)
	movq $G(0b), (%rbx)		/* LEN 0, BUF inside RAM: nothing to print */
	movq $0, 8(%rbx)
	movq %rax, 16(%rbx)
	movq $UNREADABLE, (%rbx)	/* LEN 0 at the page the host took away */
	movq %rax, 16(%rbx)
	movq $(UNREADABLE - 0x1000), (%rbx)	/* too long, inside RAM, up to that page */
	movq $0x1001, 8(%rbx)
	movq %rax, 16(%rbx)
	EXIT $0x600D
mmio_guest_outside_end:

/* a buffer inside guest RAM whose page the host took away (mmio_tests.c):
 * the device cannot read it, so the VM must end with an error */
	.globl mmio_guest_unreadable, mmio_guest_unreadable_end
mmio_guest_unreadable:
	ONE_DOORBELL UNREADABLE, 16, 0x600D
mmio_guest_unreadable_end:
