/*
 * Per-CPU data. Each CPU's GS base points at its struct cpu, whose first field
 * points to itself, so mycpu() is one load: mov %gs:0.
 */
#pragma once
#include "thread.h"
#include "types.h"

struct tss {
	uint32_t reserved0;
	uint64_t rsp[3];
	uint64_t reserved1;
	uint64_t ist[7];
	uint64_t reserved2;
	uint16_t reserved3;
	uint16_t iomap_base;
} __packed;

struct spinlock;
struct vcpu;

struct cpu {
	struct cpu *self; /* must stay first: see mycpu() */
	int id;		  /* 0 .. ncpu-1, in boot order */
	uint32_t apic_id;
	int ncli;    /* depth of push_off() */
	bool intena; /* were interrupts on before the first push_off()? */
	struct thread *current;
	struct thread *idle;
	uint64_t gdt[7]; /* null, kcode, kdata, ucode32 (unused), udata, tss (2 slots) */
	struct tss tss;
	/* The guest CPU a layer above (kev) runs here, or NULL: opaque to KeOS, which
	 * only hands it to the watchdog's describer (watchdog_set_guest_describer). */
	struct vcpu *vcpu;
	struct spinlock *waiting_for;	   /* the lock this CPU spins on, or NULL */
	volatile uint64_t tick_us;	   /* uptime at its last timer tick (watchdog.c) */
	struct trapframe *volatile irq_tf; /* the frame an interrupt handler interrupted */
};

extern struct cpu cpus[MAX_CPUS];

static inline struct cpu *mycpu(void)
{
	struct cpu *c;
	asm volatile("mov %%gs:0, %0" : "=r"(c));
	return c;
}

void cpu_init(int id); /* per-CPU GDT, TSS, IDT, GS base; called on each CPU */

#define KERNEL_CS 0x08
#define KERNEL_DS 0x10
#define TSS_SEL	  0x28
