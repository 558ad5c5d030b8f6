/*
 * guest_code.S: tiny raw-code guests for kev's tests, in the spirit of KeV's
 * Project 1/2 tests. Each runs in 64-bit mode (unless it says otherwise) at
 * guest-physical GUEST_CODE (kev_tests.c copies it there), with identity
 * page tables and a stack set up by the host. They live in .rodata: the host
 * never executes them.
 */
#include "kev_abi.h"
#define GUEST_CODE 0x1000
#define G(x) ((x) - 0b + GUEST_CODE)	/* address of a label inside the guest */
#define COM1 0x3F8

	.section .rodata
	.code64

	.macro GUEST name
	.globl guest_\name, guest_\name\()_end
	.endm

/* exit(42) */
	GUEST exit42
guest_exit42:
0:	movl $HC_EXIT, %eax
	movl $42, %edi
	vmmcall
	ud2
guest_exit42_end:

/* print through the hypercall, then exit(0) */
	GUEST hc_print
guest_hc_print:
0:	movl $HC_PRINT, %eax
	movl $G(1f), %edi
	movl $(2f - 1f), %esi
	vmmcall
	movl $HC_EXIT, %eax
	xorl %edi, %edi
	vmmcall
1:	.ascii "Hello from a hypercall!\n"
2:
guest_hc_print_end:

/* print RSI bytes at RDI (the host puts them there) RDX times, then exit(0) */
	GUEST print_n
guest_print_n:
0:	movq %rdi, %r8
	movq %rsi, %r9
	movq %rdx, %rbx
1:	movl $HC_PRINT, %eax
	movq %r8, %rdi
	movq %r9, %rsi
	vmmcall
	decl %ebx
	jnz 1b
	movl $HC_EXIT, %eax
	xorl %edi, %edi
	vmmcall
guest_print_n_end:

/* out dx, al — one byte at a time */
	GUEST out_dx
guest_out_dx:
0:	movl $G(1f), %esi
	movw $COM1, %dx
3:	movb (%rsi), %al
	testb %al, %al
	jz 4f
	outb %al, %dx
	incq %rsi
	jmp 3b
4:	movl $HC_EXIT, %eax
	xorl %edi, %edi
	vmmcall
1:	.asciz "Hello via out dx!\n"
guest_out_dx_end:

/* out imm8, al — to port 0xE9 (registered by the test), one byte at a time */
	GUEST out_imm8
guest_out_imm8:
0:	movl $G(1f), %esi
3:	movb (%rsi), %al
	testb %al, %al
	jz 4f
	outb %al, $0xE9
	incq %rsi
	jmp 3b
4:	movl $HC_EXIT, %eax
	xorl %edi, %edi
	vmmcall
1:	.asciz "Hello via out imm8!\n"
guest_out_imm8_end:

/* rep outsb: the whole string in one exit */
	GUEST rep_outsb
guest_rep_outsb:
0:	movl $G(1f), %esi
	movl $(2f - 1f), %ecx
	movw $COM1, %dx
	cld
	rep outsb
	movl %ecx, %edi		/* must be 0 afterwards */
	movl $HC_EXIT, %eax
	vmmcall
1:	.ascii "Hello via rep outsb!\n"
2:
guest_rep_outsb_end:

/* port input: inb 0xE9 + inw (dx=0xEA) + inl (dx=0xEC); exit with the sum */
	GUEST port_in
guest_port_in:
0:	xorl %edi, %edi
	movq $-1, %rax
	inb $0xE9, %al		/* al only: the rest of rax must stay all ones */
	cmpq $-1 & ~0xFF | 0x11, %rax
	jne 9f
	movzbl %al, %edi
	movw $0xEA, %dx
	inw %dx, %ax
	movzwl %ax, %eax
	addl %eax, %edi
	movw $0xEC, %dx
	inl %dx, %eax
	addl %eax, %edi
	movl $HC_EXIT, %eax
	vmmcall
9:	movl $HC_EXIT, %eax
	movl $0xBAD, %edi
	vmmcall
guest_port_in_end:

/* cpuid: exit with (vcpu id << 16) | hypervisor-signature check */
	GUEST cpuid
guest_cpuid:
0:	movl $1, %eax
	cpuid
	shrl $24, %ebx
	movl %ebx, %edi
	shll $16, %edi
	movl $0x40000000, %eax
	cpuid
	cmpl $0x4B56654B, %ebx	/* "KeVK" */
	jne 1f
	orl $1, %edi
1:	movl $HC_EXIT, %eax
	vmmcall
guest_cpuid_end:

/* MSRs: write the scratch MSR and read it back; EFER must show long mode active */
	GUEST msr
guest_msr:
0:	movl $0x40000100, %ecx
	movl $0x89ABCDEF, %eax
	movl $0x01234567, %edx
	wrmsr
	xorl %eax, %eax
	xorl %edx, %edx
	rdmsr
	movl $1, %edi
	cmpl $0x89ABCDEF, %eax
	jne 1f
	cmpl $0x01234567, %edx
	jne 1f
	movl $0xC0000080, %ecx
	rdmsr
	movl $2, %edi
	testl $(1 << 10), %eax	/* LMA */
	jz 1f
	movl $0x600D, %edi
1:	movl $HC_EXIT, %eax
	vmmcall
guest_msr_end:

/* every vCPU exits with 0x10 + its id */
	GUEST multi
guest_multi:
0:	movl $1, %eax
	cpuid
	shrl $24, %ebx
	leal 0x10(%rbx), %edi
	movl $HC_EXIT, %eax
	vmmcall
guest_multi_end:

/* a triple fault: no IDT, then an exception */
	GUEST triple
guest_triple:
0:	lidt G(1f)
	int3
1:	.short 0
	.quad 0
guest_triple_end:

/* touch guest-physical memory past the end of RAM (identity-mapped at 0x20000000) */
	GUEST outside
guest_outside:
0:	movq $0x20000000, %rax
	movq (%rax), %rax
	movl $HC_EXIT, %eax
	xorl %edi, %edi
	vmmcall
guest_outside_end:

/* a port nobody handles */
	GUEST bad_port
guest_bad_port:
0:	movw $0x1234, %dx
	outb %al, %dx
	movl $HC_EXIT, %eax
	xorl %edi, %edi
	vmmcall
guest_bad_port_end:

/* hlt with interrupts off: can never wake */
	GUEST cli_hlt
guest_cli_hlt:
0:	cli
	hlt
	movl $HC_EXIT, %eax
	xorl %edi, %edi
	vmmcall
guest_cli_hlt_end:

/* exit throughput: 20000 port writes to 0xE9, then exit(count) */
	GUEST io_loop
guest_io_loop:
0:	movl $20000, %ecx
1:	outb %al, $0xE9
	decl %ecx
	jnz 1b
	movl $HC_EXIT, %eax
	movl $20000, %edi
	vmmcall
guest_io_loop_end:

/* spin without exits for a while: only host timer interrupts get us out */
	GUEST spin
guest_spin:
0:	movl $20000000, %ecx
1:	decl %ecx
	jnz 1b
	movl $HC_EXIT, %eax
	xorl %edi, %edi
	vmmcall
guest_spin_end:

/* MMIO through the decoder: store 8/4/1 bytes and load them back from a test device */
	GUEST mmio
guest_mmio:
0:	movl $0xcafe0000, %ebx	/* movl: a 32-bit immediate would sign-extend */
	movq $0x1122334455667788, %rax
	movq %rax, (%rbx)		/* 8-byte store of a register */
	movl $0xdeadbeef, 8(%rbx)	/* 4-byte store of an immediate */
	movb $0x5a, 0x10(%rbx)		/* 1-byte store of an immediate */
	movq (%rbx), %r9		/* loads come back from the device's registers */
	movl 8(%rbx), %r10d
	movzbl 0x10(%rbx), %r11d
	xorl %edi, %edi
	cmpq %rax, %r9
	jne 1f
	cmpl $0xdeadbeef, %r10d
	jne 1f
	cmpl $0x5a, %r11d
	jne 1f
	movl $0x600D, %edi
1:	movl $HC_EXIT, %eax
	vmmcall
guest_mmio_end:

/*
 * Starts in 32-bit protected mode with paging off, like a multiboot kernel;
 * turns on PAE paging with the host-built identity table at 0x10000, enables
 * long mode, and exits from 64-bit code with 0x64.
 */
	GUEST boot32
guest_boot32:
	.code32
0:	lgdt G(5f)
	movl %cr4, %eax
	orl $(1 << 5), %eax
	movl %eax, %cr4
	movl $0x10000, %eax
	movl %eax, %cr3
	movl $0xC0000080, %ecx
	rdmsr
	orl $(1 << 8), %eax
	wrmsr
	movl %cr0, %eax
	orl $(1 << 31), %eax
	movl %eax, %cr0
	ljmp $0x08, $G(1f)
	.code64
1:	movl $HC_EXIT, %eax
	movl $0x64, %edi
	vmmcall
	.align 8
4:	.quad 0, 0x00AF9A000000FFFF, 0x00CF92000000FFFF
5:	.short 5b - 4b - 1
	.long G(4b)
guest_boot32_end:
