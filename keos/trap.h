/* Traps and interrupts: the saved register frame and handler registration. */
#pragma once
#include "types.h"

/* Layout pushed by trapasm.S, lowest address first. */
struct trapframe {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
	uint64_t rdi, rsi, rbp, rdx, rcx, rbx, rax;
	uint64_t vector, error;
	/* pushed by the CPU */
	uint64_t rip, cs, rflags, rsp, ss;
};

#define T_NMI	       2
#define T_DOUBLE_FAULT 8
#define T_PAGE_FAULT   14
#define T_TIMER	       32 /* local APIC timer */
#define T_SPURIOUS     0xFF

void trap_init(void); /* build the shared IDT once */
void idt_load(void);  /* load it on the calling CPU (cpu_init) */

typedef void (*irq_handler)(struct trapframe *tf);
void irq_register(int vector, irq_handler fn);
void print_trapframe(const struct trapframe *tf);
