/*
 * stress.S: the multi-vCPU lazy-pager stress guest.
 *
 * Every vCPU starts here together, in 32-bit protected mode with paging off
 * (so an address is a guest-physical address), and makes the lazy pager take
 * faults on the SAME not-yet-loaded pages at the same time. In order, with a
 * barrier before each step to line the vCPUs up again:
 *
 *   scratch  each vCPU checks that its words of a 16-page .bss area read as
 *            zeros and writes them; the vCPUs' words are interleaved, so all
 *            of them write every page at once. They are read back at the very
 *            end: a pager that maps a page twice loses some vCPU's writes.
 *   round 0  .data pages 0..127, all vCPUs upwards;
 *   round 1  pages 128..255, even vCPUs upwards, odd ones downwards;
 *   round 2  pages 256..383 in steps of 37 (mod 128), all vCPUs alike;
 *   round 3  pages 384..511, all vCPUs downwards;
 *   verify   every word of all 512 pages, by every vCPU.
 *
 * A round reads and checks one word per page, so the vCPUs move as fast as
 * the pager lets them and keep running into each other's faults.
 *
 * .data is DATA_PAGES = 512 pages (2 MiB) at guest-physical DATA_BASE; the
 * word at address a holds (a * GOLDEN) ^ PATTERN_XOR, 32-bit, generated
 * below by the assembler itself. (The page numbers above are for 512 pages:
 * each round covers a quarter of them.)
 *
 * Exit codes (HC_EXIT; guests/README.md):
 *   0            every check passed
 *   1            this vCPU's id is 16 or more (one stack per id, 16 stacks)
 *   2            EAX was not the multiboot2 magic at entry
 *   0x100 + p    data page p held a wrong word (the first one this vCPU saw)
 *   0x400 + k    scratch page k did not read as zeros before this vCPU wrote it
 *   0x500 + k    scratch page k lost this vCPU's writes
 * Each vCPU prints one line as it ends, e.g.
 *   stress: vcpu 2 exit 0x0 (vcpus 4, barrier timeouts 0)
 *
 * Built with -DGUEST_BARE it ends through QEMU's isa-debug-exit port instead
 * of VMMCALL, to test it without a hypervisor (one CPU, under GRUB).
 */
#include "kev_abi.h"
#include "machine.h"
#include "multiboot.h"

#define MAX_VCPUS 16
#define STACK_SIZE 4096
#define PAGE_SIZE 4096
#define WORDS_PER_PAGE (PAGE_SIZE / 4)

#define DATA_BASE 0x200000 /* guests/stress/linker.ld puts .data here */
#define DATA_PAGES 512	   /* 4 rounds of ROUND_PAGES: a power of two (steps are mod it) */
#define ROUND_PAGES (DATA_PAGES / 4)
#define DATA_END (DATA_BASE + DATA_PAGES * PAGE_SIZE)
#define GOLDEN 2654435761
#define PATTERN_XOR 0xA5A5A5A5

#define SCRATCH_PAGES 16
#define NBARRIERS 6
#define BARRIER_VCPUS MACHINE_CPUS /* a barrier opens when this many vCPUs arrived... */
#ifndef BARRIER_SPINS
#define BARRIER_SPINS 200000 /* ...or after this many turns, so fewer vCPUs still finish */
#endif

#define COM1 0x3F8
#define COM1_LSR (COM1 + 5)

/* ---- the multiboot2 header: only GRUB (the bare test) needs it ---- */
	.section .multiboot, "a"
	.align 8
mb2_header:
	mb2_header_fields mb2_header, mb2_header_end
	mb2_header_end_tag
mb2_header_end:

	.text
	.code32
	.globl start
start:
	cli
	cld
	movl %eax, %esi		/* the magic: CPUID clobbers EAX */
	movl $1, %eax
	cpuid
	shrl $24, %ebx		/* CPUID.1:EBX[31:24] = this vCPU's id */
	movl %ebx, %ebp		/* %ebp holds the id from here on */
	movl $1, %eax
	cmpl $MAX_VCPUS, %ebp
	jae exit_now		/* no stack for it: end without printing */
	movl %ebp, %esp
	incl %esp
	shll $12, %esp		/* STACK_SIZE */
	addl $stacks, %esp
	movl $2, %eax
	cmpl $MB2_BOOT_MAGIC, %esi
	jne finish

	xorl %ecx, %ecx
	call barrier
	call scratch_fill

	movl $1, %ecx
	call barrier
	movl $0, %esi		/* round 0: pages 0..127 upwards, word 0 */
	movl $0, %eax
	movl $1, %edx
	movl $0, %ecx
	call touch_round

	movl $2, %ecx
	call barrier
	movl $ROUND_PAGES, %esi	/* round 1: pages 128..255, word 1023 */
	movl $0, %eax		/* even vCPUs upwards */
	movl $1, %edx
	testl $1, %ebp
	jz 1f
	movl $ROUND_PAGES - 1, %eax /* odd vCPUs downwards */
	movl $ROUND_PAGES - 1, %edx
1:	movl $WORDS_PER_PAGE - 1, %ecx
	call touch_round

	movl $3, %ecx
	call barrier
	movl $2 * ROUND_PAGES, %esi /* round 2: pages 256..383 in steps of 37, word 512 */
	movl $0, %eax
	movl $37, %edx
	movl $WORDS_PER_PAGE / 2, %ecx
	call touch_round

	movl $4, %ecx
	call barrier
	movl $3 * ROUND_PAGES, %esi /* round 3: pages 384..511 downwards, a word per vCPU */
	movl $ROUND_PAGES - 1, %eax
	movl $ROUND_PAGES - 1, %edx
	movl %ebp, %ecx
	shll $6, %ecx		/* word id * 64: id < 16 */
	call touch_round

	movl $5, %ecx
	call barrier
	call verify_all
	call scratch_check
	xorl %eax, %eax
	jmp finish

/*
 * Barrier %ecx: count this vCPU in, then wait for BARRIER_VCPUS of them, or
 * give up after BARRIER_SPINS turns (counted in timeouts[id]).
 */
barrier:
	lock incl barrier_count(, %ecx, 4)
	movl $BARRIER_SPINS, %edx
1:	cmpl $BARRIER_VCPUS, barrier_count(, %ecx, 4)
	jae 2f
	pause
	decl %edx
	jnz 1b
	incl timeouts(, %ebp, 4)
2:	ret

/*
 * Touch ROUND_PAGES pages: page %esi + ((%eax + k * %edx) mod ROUND_PAGES)
 * for k = 0, 1, ..., checking word %ecx of each. A step of ROUND_PAGES - 1
 * goes downwards.
 */
touch_round:
	pushl %ebx
	movl $ROUND_PAGES, %ebx
1:	andl $ROUND_PAGES - 1, %eax
	leal (%esi, %eax), %edi
	shll $12, %edi
	leal DATA_BASE(%edi, %ecx, 4), %edi
	call check_word
	addl %edx, %eax
	decl %ebx
	jnz 1b
	popl %ebx
	ret

/* Check the data word at address %edi; keeps every register. */
check_word:
	pushl %eax
	imull $GOLDEN, %edi, %eax
	xorl $PATTERN_XOR, %eax
	cmpl (%edi), %eax
	jne bad_data
	popl %eax
	ret

/* Check every word of every data page, from the first upwards. */
verify_all:
	movl $DATA_BASE, %edi
1:	imull $GOLDEN, %edi, %eax
	xorl $PATTERN_XOR, %eax
	cmpl (%edi), %eax
	jne bad_data
	addl $4, %edi
	cmpl $DATA_END, %edi
	jb 1b
	ret

/* %edi = address of a wrong data word: end with 0x100 + its page. */
bad_data:
	movl %edi, %eax
	subl $DATA_BASE, %eax
	shrl $12, %eax
	addl $0x100, %eax
	jmp finish

/*
 * This vCPU's scratch words are every MAX_VCPUS-th one, starting at word id:
 * 256 in each of the SCRATCH_PAGES pages. Each must read zero before it is
 * written with the complement of its address.
 */
scratch_fill:
	leal scratch(, %ebp, 4), %edi
1:	cmpl $0, (%edi)
	jne 2f
	movl %edi, %eax
	notl %eax
	movl %eax, (%edi)
	addl $4 * MAX_VCPUS, %edi
	cmpl $scratch_end, %edi
	jb 1b
	ret
2:	movl $0x400, %ebx
	jmp bad_scratch

scratch_check:
	leal scratch(, %ebp, 4), %edi
1:	movl %edi, %eax
	notl %eax
	cmpl %eax, (%edi)
	jne 2f
	addl $4 * MAX_VCPUS, %edi
	cmpl $scratch_end, %edi
	jb 1b
	ret
2:	movl $0x500, %ebx

/* %edi = address in scratch, %ebx = 0x400 or 0x500: end with %ebx + its page. */
bad_scratch:
	movl %edi, %eax
	subl $scratch, %eax
	shrl $12, %eax
	addl %ebx, %eax
	jmp finish

/* Print this vCPU's last words, then end with exit code %eax. */
finish:
	movl %eax, %ebx
	movl $msg_vcpu, %esi
	call puts
	movl %ebp, %eax
	call putdec
	movl $msg_exit, %esi
	call puts
	movl %ebx, %eax
	call puthex
	movl $msg_vcpus, %esi
	call puts
	movl barrier_count, %eax
	call putdec
	movl $msg_timeouts, %esi
	call puts
	movl timeouts(, %ebp, 4), %eax
	call putdec
	movl $msg_end, %esi
	call puts
	movl %ebx, %eax
exit_now:
#ifndef GUEST_BARE
	movl %eax, %edi		/* HC_EXIT(code) */
	xorl %eax, %eax
	vmmcall
#else
	/* isa-debug-exit: status 1 for success, 3 for failure (the line says which) */
	testl %eax, %eax
	setnz %al
	outb %al, $0xF4
#endif
1:	hlt			/* not reached */
	jmp 1b

/*
 * ---- COM1 output: putc(%al), puts(%esi), putdec(%eax), puthex(%eax) ----
 * Under KeV every port access is a VM exit and its COM1 is always ready: putc
 * writes the data register alone. Bare (a real 16550) it polls the line status
 * first.
 */

putc:
	pushl %eax
	pushl %edx
#ifdef GUEST_BARE
	movb %al, %ah
	movw $COM1_LSR, %dx
1:	inb %dx, %al
	testb $0x20, %al	/* transmitter holding register empty */
	jz 1b
	movb %ah, %al
#endif
	movw $COM1, %dx
	outb %al, %dx
	popl %edx
	popl %eax
	ret

puts:
	pushl %eax
1:	lodsb
	testb %al, %al
	jz 2f
	call putc
	jmp 1b
2:	popl %eax
	ret

/* Unsigned %eax in base %ecx: the digits are pushed, then printed in reverse. */
putnum:
	pushl %edx
	pushl %edi
	xorl %edi, %edi
1:	xorl %edx, %edx
	divl %ecx
	pushl %edx
	incl %edi
	testl %eax, %eax
	jnz 1b
2:	popl %eax
	movb digits(%eax), %al
	call putc
	decl %edi
	jnz 2b
	popl %edi
	popl %edx
	ret

putdec:
	pushl %ecx
	movl $10, %ecx
	call putnum
	popl %ecx
	ret

puthex:
	pushl %esi
	movl $msg_hex, %esi
	call puts
	popl %esi
	pushl %ecx
	movl $16, %ecx
	call putnum
	popl %ecx
	ret

digits:		.ascii "0123456789abcdef"
msg_vcpu:	.asciz "stress: vcpu "
msg_exit:	.asciz " exit "
msg_hex:	.asciz "0x"
msg_vcpus:	.asciz " (vcpus "
msg_timeouts:	.asciz ", barrier timeouts "
msg_end:	.asciz ")\r\n"

/* ---- the data the vCPUs check: word at address a = (a * GOLDEN) ^ PATTERN_XOR ---- */
	.data
	.globl data_region
data_region:
	.set addr, DATA_BASE
	.rept DATA_PAGES * WORDS_PER_PAGE
	.long ((addr * GOLDEN) & 0xFFFFFFFF) ^ PATTERN_XOR
	.set addr, addr + 4
	.endr
	.globl data_region_end
data_region_end:
	.if (ROUND_PAGES & (ROUND_PAGES - 1)) || 0x100 + DATA_PAGES > 0x400
	.error "DATA_PAGES: 4 times a power of two, at most 0x300 (exit codes 0x100 + page)"
	.endif

	.bss
	.align PAGE_SIZE
stacks:		.space STACK_SIZE * MAX_VCPUS
scratch:	.space PAGE_SIZE * SCRATCH_PAGES
scratch_end:
barrier_count:	.space 4 * NBARRIERS
timeouts:	.space 4 * MAX_VCPUS
