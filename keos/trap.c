/*
 * trap.c: the IDT all CPUs share, and the C side of every trap.
 *
 * Exceptions are always fatal in this kernel: they print the vector, the
 * registers and a backtrace, then end the run with the PANIC status. Device
 * and timer interrupts go to handlers registered with irq_register().
 */
#include "trap.h"
#include "cpu.h"
#include "lapic.h"
#include "mm.h"
#include "printk.h"
#include "watchdog.h"
#include "x86.h"

struct idt_entry {
	uint16_t off_lo;
	uint16_t sel;
	uint8_t ist;
	uint8_t type; /* 0x8E: present, ring 0, 64-bit interrupt gate */
	uint16_t off_mid;
	uint32_t off_hi;
	uint32_t reserved;
} __packed;

static struct idt_entry idt[256];
static irq_handler handlers[256];
extern uint64_t trap_vectors[256];

static const char *exception_names[32] = {
    "divide error",
    "debug",
    "NMI",
    "breakpoint",
    "overflow",
    "bound range",
    "invalid opcode",
    "device not available",
    "double fault",
    "coprocessor overrun",
    "invalid TSS",
    "segment not present",
    "stack fault",
    "general protection",
    "page fault",
    "reserved",
    "x87 FP",
    "alignment check",
    "machine check",
    "SIMD FP",
    "virtualization",
    "control protection",
};

void trap_init(void)
{
	for (int v = 0; v < 256; v++) {
		uint64_t a = trap_vectors[v];
		idt[v] = (struct idt_entry){
		    .off_lo = a & 0xFFFF,
		    .sel = KERNEL_CS,
		    .ist = 0,
		    .type = 0x8E,
		    .off_mid = (a >> 16) & 0xFFFF,
		    .off_hi = a >> 32,
		};
	}
	idt[T_DOUBLE_FAULT].ist = 1;
}

void irq_register(int vector, irq_handler fn)
{
	handlers[vector] = fn;
}

void idt_load(void)
{
	struct {
		uint16_t limit;
		uint64_t base;
	} __packed idtr = {sizeof(idt) - 1, (uint64_t)idt};
	asm volatile("lidt %0" ::"m"(idtr));
}

void print_trapframe(const struct trapframe *tf)
{
	printk("  rip %016lx  rsp %016lx  rflags %016lx\n", tf->rip, tf->rsp, tf->rflags);
	printk("  rax %016lx  rbx %016lx  rcx %016lx\n", tf->rax, tf->rbx, tf->rcx);
	printk("  rdx %016lx  rsi %016lx  rdi %016lx\n", tf->rdx, tf->rsi, tf->rdi);
	printk("  rbp %016lx  r8  %016lx  r9  %016lx\n", tf->rbp, tf->r8, tf->r9);
	printk("  r10 %016lx  r11 %016lx  r12 %016lx\n", tf->r10, tf->r11, tf->r12);
	printk("  r13 %016lx  r14 %016lx  r15 %016lx\n", tf->r13, tf->r14, tf->r15);
	printk("  cr2 %016lx  cr3 %016lx  error %lx  cs %lx\n", read_cr2(), read_cr3(), tf->error,
	       tf->cs);
}

void panic_trap(const struct trapframe *tf, const char *what); /* panic.c */

void trap(struct trapframe *tf)
{
	if (tf->vector == T_NMI)
		watchdog_nmi(tf); /* does not return if the watchdog sent it */
	if (tf->vector < 32) {
		const char *name = exception_names[tf->vector];
		panic_trap(tf, name ? name : "exception");
	}
	/* An NMI from the watchdog during this handler reports what it interrupted. */
	struct trapframe *outer = mycpu()->irq_tf;
	mycpu()->irq_tf = outer ? outer : tf;
	if (handlers[tf->vector])
		handlers[tf->vector](tf);
	else if (tf->vector != T_SPURIOUS)
		printk("trap: unexpected interrupt vector %lu on cpu %d\n", tf->vector,
		       mycpu()->id);
	if (tf->vector != T_SPURIOUS)
		lapic_eoi();
	mycpu()->irq_tf = outer;
	/* The timer handler may ask to switch threads; do it on the way out. */
	if (tf->vector == T_TIMER)
		thread_preempt();
}
