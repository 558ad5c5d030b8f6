/*
 * entry.S: the ELF entry point KeV starts every vCPU at (e_entry).
 *
 * keos/boot.S assumes it runs on one CPU: a single boot stack, page tables
 * built in place. The guest KeOS is a one-vCPU guest, but should a VM run it
 * on several, vCPU 0 goes on to boot.S's start32 and the others end at once
 * with exit code 0 instead of corrupting vCPU 0's stack.
 *
 * GRUB does not come here: it uses the multiboot2 entry tag (start32 itself).
 */
#include "kev_abi.h"
#if HC_EXIT != 0
#error "the exit below loads HC_EXIT by clearing EAX"
#endif
#define KERN_BASE 0xFFFFFFFF80000000

	.section .boot, "ax"
	.code32
	.globl guest_entry
guest_entry:
	movl %eax, %esi		/* keep the multiboot2 magic and info: CPUID clobbers them */
	movl %ebx, %edi
	movl $1, %eax
	cpuid
	shrl $24, %ebx		/* CPUID.1:EBX[31:24] = this vCPU's id */
	jnz 1f
	movl %esi, %eax
	movl %edi, %ebx
	jmp start32
1:	xorl %eax, %eax		/* HC_EXIT */
	xorl %edi, %edi		/* with code 0 */
	vmmcall
2:	hlt
	jmp 2b
