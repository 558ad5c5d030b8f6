/*
 * boot.S: from the boot loader's hand-off (32-bit protected mode, paging off) to
 * kmain() in 64-bit long mode at the higher-half address. Two headers, one
 * entry: multiboot1 for QEMU's -kernel (the direct boot), multiboot2 for GRUB
 * (the ISO); see multiboot.h.
 *
 * The kernel is linked at KERN_BASE + 1 MiB but loaded at physical 1 MiB, so
 * until paging is on, every address is "symbol - KERN_BASE".
 *
 * Boot page tables (2 MiB pages) map the first 4 GiB of physical memory three
 * times: at 0 (identity, so the instruction that turns paging on keeps
 * running; removed once all CPUs are up), at PHYS_BASE (the direct map), and
 * the first 2 GiB at KERN_BASE (where the kernel image runs).
 */
#include "multiboot.h"

#define KERN_BASE 0xFFFFFFFF80000000
#define PHYS(x) ((x) - KERN_BASE)

	.section .multiboot, "a"
	/*
	 * multiboot1, a.out kludge: QEMU copies the file from this header on to
	 * load_addr (this header is the image's first byte: the linker script puts
	 * .multiboot first), up to load_end_addr, and zeroes up to bss_end_addr.
	 * keos/linker.ld defines both ends; other images that link this file (the
	 * guest KeOS) leave them undefined (0) and are never loaded this way.
	 */
	.align 4
mb1_header:
	.long MB1_HEADER_MAGIC
	.long MB1_HEADER_FLAGS
	.long -(MB1_HEADER_MAGIC + MB1_HEADER_FLAGS)
	.long PHYS(mb1_header)	/* header_addr */
	.long PHYS(mb1_header)	/* load_addr */
	.long mb1_load_end	/* load_end_addr (physical) */
	.long mb1_bss_end	/* bss_end_addr (physical) */
	.long PHYS(start32)	/* entry_addr */
	.weak mb1_load_end, mb1_bss_end

	.align 8
mb2_header:
	mb2_header_fields mb2_header, mb2_header_end
	/* entry address tag: jump to the physical address of start32 */
	.align 8
	.short MB2_HEADER_TAG_ENTRY, 0
	.long 12
	.long PHYS(start32)
	mb2_header_end_tag
mb2_header_end:

	.section .boot, "ax"
	.code32
	.globl start32
start32:
	cli
	movl %eax, %edi		/* the loader's magic -> kmain's 1st argument */
	movl %ebx, %esi		/* its information (physical) -> 2nd argument */
	movl $PHYS(boot_stack_top), %esp

	call build_boot_page_tables
	call enter_long_mode	/* shared with the APs' trampoline path */

	lgdt PHYS(boot_gdt_ptr)
	ljmp $0x08, $PHYS(start64_low)

/* Fill boot_pml4/pdpt/pd: see the comment at the top. */
build_boot_page_tables:
	/* 4 page directories: entry i maps 2 MiB page i (P | RW | PS). */
	movl $PHYS(boot_pd), %ebx
	xorl %ecx, %ecx
1:	movl %ecx, %eax
	shll $21, %eax
	orl $0x83, %eax
	movl %eax, (%ebx, %ecx, 8)
	movl %ecx, %eax
	shrl $11, %eax		/* high half of (i << 21) */
	movl %eax, 4(%ebx, %ecx, 8)
	incl %ecx
	cmpl $2048, %ecx
	jne 1b
	/* low PDPT: 4 entries -> the 4 PDs */
	movl $PHYS(boot_pdpt_low), %ebx
	movl $PHYS(boot_pd) + 0x3, %eax
	movl %eax, 0(%ebx)
	addl $0x1000, %eax
	movl %eax, 8(%ebx)
	addl $0x1000, %eax
	movl %eax, 16(%ebx)
	addl $0x1000, %eax
	movl %eax, 24(%ebx)
	/* high PDPT: entries 510, 511 -> first two PDs (first 2 GiB at KERN_BASE) */
	movl $PHYS(boot_pdpt_high), %ebx
	movl $PHYS(boot_pd) + 0x3, %eax
	movl %eax, 510*8(%ebx)
	addl $0x1000, %eax
	movl %eax, 511*8(%ebx)
	/* PML4: 0 (identity) and 256 (PHYS_BASE) share the low PDPT; 511 -> high */
	movl $PHYS(boot_pml4), %ebx
	movl $PHYS(boot_pdpt_low) + 0x3, %eax
	movl %eax, 0(%ebx)
	movl %eax, 256*8(%ebx)
	movl $PHYS(boot_pdpt_high) + 0x3, %eax
	movl %eax, 511*8(%ebx)
	ret

/* PAE + our CR3 + EFER.LME/NXE + paging: the CPU is in long mode (compat) on return. */
	.globl enter_long_mode
enter_long_mode:
	movl %cr4, %eax
	orl $(1 << 5), %eax	/* PAE */
	movl %eax, %cr4
	movl $PHYS(boot_pml4), %eax
	movl %eax, %cr3
	movl $0xC0000080, %ecx	/* EFER */
	rdmsr
	orl $((1 << 8) | (1 << 11)), %eax	/* LME, NXE */
	wrmsr
	movl %cr0, %eax
	orl $((1 << 31) | (1 << 16) | 1), %eax	/* PG, WP, PE */
	movl %eax, %cr0
	ret

	.code64
start64_low:
	/* Still running at the physical address: jump to the linked (high) one. */
	movabsq $start64_high, %rax
	jmp *%rax

	.text
start64_high:
	movabsq $boot_stack_top, %rsp
	xorl %ebp, %ebp		/* end of the frame-pointer chain for backtraces */
	movw $0x10, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movw %ax, %fs
	movw %ax, %gs
	call kmain
1:	cli
	hlt
	jmp 1b

	/* Accessed bits preset (0x9B, 0x93): the CPU never writes to this table. */
	.section .rodata
	.align 16
	.globl boot_gdt
boot_gdt:
	.quad 0
	.quad 0x00AF9B000000FFFF	/* 0x08: 64-bit code */
	.quad 0x00CF93000000FFFF	/* 0x10: data */
boot_gdt_end:
boot_gdt_ptr:
	.short boot_gdt_end - boot_gdt - 1
	.long PHYS(boot_gdt)

	.section .data
	.align 4096
	.globl boot_pml4
boot_pml4:	.space 4096
boot_pdpt_low:	.space 4096
boot_pdpt_high:	.space 4096
boot_pd:	.space 4096 * 4

	.section .bss
	.align 16
	.globl boot_stack_top
boot_stack:	.space 16384
boot_stack_top:
