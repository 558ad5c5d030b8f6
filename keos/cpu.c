/*
 * cpu.c: the per-CPU data (cpu.h), and each CPU's own GDT and TSS.
 */
#include "cpu.h"
#include "trap.h"
#include "x86.h"

struct cpu cpus[MAX_CPUS];

/* A separate stack for double faults, so a kernel stack overflow still panics cleanly. */
static uint8_t df_stacks[MAX_CPUS][4096] __attribute__((aligned(16)));

static void load_gdt(struct cpu *c)
{
	uint64_t tss = (uint64_t)&c->tss;
	uint64_t limit = sizeof(c->tss) - 1;

	c->gdt[0] = 0;
	c->gdt[1] = 0x00AF9B000000FFFF; /* 0x08 kernel code, 64-bit */
	c->gdt[2] = 0x00CF93000000FFFF; /* 0x10 kernel data */
	c->gdt[3] = 0;
	c->gdt[4] = 0;
	/* 0x28: 64-bit TSS descriptor, two slots (type 9 = available TSS). */
	c->gdt[5] = (limit & 0xFFFF) | ((tss & 0xFFFFFF) << 16) | (0x89UL << 40) |
		    (((limit >> 16) & 0xF) << 48) | (((tss >> 24) & 0xFF) << 56);
	c->gdt[6] = tss >> 32;

	struct {
		uint16_t limit;
		uint64_t base;
	} __packed gdtr = {sizeof(c->gdt) - 1, (uint64_t)c->gdt};
	asm volatile("lgdt %0" ::"m"(gdtr));
	/* Reload CS with a far return, then the data segments. */
	asm volatile("pushq %0; leaq 1f(%%rip), %%rax; pushq %%rax; lretq; 1:" ::"i"(KERNEL_CS)
		     : "rax", "memory");
	asm volatile("movw %0, %%ds; movw %0, %%es; movw %0, %%ss" ::"r"((uint16_t)KERNEL_DS));
	asm volatile("ltr %0" ::"r"((uint16_t)TSS_SEL));
}

void cpu_init(int id)
{
	struct cpu *c = &cpus[id];
	c->self = c;
	c->id = id;
	c->tss.ist[0] = (uint64_t)&df_stacks[id][4096];
	c->tss.iomap_base = sizeof(c->tss);
	load_gdt(c);
	/* Zero FS/GS selectors first: loading a selector would reset the base. */
	asm volatile("movw %0, %%fs; movw %0, %%gs" ::"r"((uint16_t)0));
	wrmsr(MSR_GS_BASE, (uint64_t)c);

	idt_load();
}
