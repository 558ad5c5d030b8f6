/*
 * ap_boot.S: where the other CPUs (application processors) start.
 *
 * A STARTUP IPI starts an AP in 16-bit real mode at physical 0x8000, so
 * smp.c copies this code there first. Every AP runs it at the same time, so
 * it uses no stack until it has taken its own: it turns on protected mode,
 * then long mode with the boot page tables, takes a ticket with lock xadd,
 * loads ap_stacks[ticket] and calls ap_main(ticket) at the high address.
 */
#define KERN_BASE 0xFFFFFFFF80000000
#define PHYS(x) ((x) - KERN_BASE)
#define TRAMP 0x8000
#define T(x) ((x) - ap_tramp_start + TRAMP)

	.text
	.code16
	.globl ap_tramp_start, ap_tramp_end
ap_tramp_start:
	cli
	xorw %ax, %ax
	movw %ax, %ds
	lgdtl T(tramp_gdt_ptr)
	movl %cr0, %eax
	orl $1, %eax
	movl %eax, %cr0
	ljmpl $0x18, $T(ap_tramp32)

	.code32
ap_tramp32:
	movw $0x10, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movl %cr4, %eax
	orl $(1 << 5), %eax		/* PAE */
	movl %eax, %cr4
	movl $PHYS(boot_pml4), %eax
	movl %eax, %cr3
	movl $0xC0000080, %ecx		/* EFER: LME, NXE */
	rdmsr
	orl $((1 << 8) | (1 << 11)), %eax
	wrmsr
	movl %cr0, %eax
	orl $((1 << 31) | (1 << 16)), %eax	/* PG, WP */
	movl %eax, %cr0
	ljmp $0x08, $T(ap_tramp64)

	.code64
ap_tramp64:
	movl $1, %eax
	movabsq $ap_next_ticket, %rbx
	lock xaddl %eax, (%rbx)
	movabsq $ap_stacks, %rbx
	movq (%rbx, %rax, 8), %rsp
	xorl %ebp, %ebp
	movl %eax, %edi
	pushq $0			/* a null return address ends backtraces */
	movabsq $ap_main, %rax
	jmp *%rax

	.align 16
tramp_gdt:
	.quad 0
	.quad 0x00AF9B000000FFFF	/* 0x08: 64-bit code */
	.quad 0x00CF93000000FFFF	/* 0x10: data */
	.quad 0x00CF9B000000FFFF	/* 0x18: 32-bit code */
tramp_gdt_ptr:
	.short tramp_gdt_ptr - tramp_gdt - 1
	.long T(tramp_gdt)
ap_tramp_end:
