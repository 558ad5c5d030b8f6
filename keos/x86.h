/* Thin wrappers around x86 instructions the kernel needs. */
#pragma once
#include "types.h"

static inline void outb(uint16_t port, uint8_t v)
{
	asm volatile("outb %0, %1" ::"a"(v), "Nd"(port));
}
static inline void outw(uint16_t port, uint16_t v)
{
	asm volatile("outw %0, %1" ::"a"(v), "Nd"(port));
}
static inline void outl(uint16_t port, uint32_t v)
{
	asm volatile("outl %0, %1" ::"a"(v), "Nd"(port));
}
static inline uint8_t inb(uint16_t port)
{
	uint8_t v;
	asm volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
static inline uint16_t inw(uint16_t port)
{
	uint16_t v;
	asm volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
static inline uint32_t inl(uint16_t port)
{
	uint32_t v;
	asm volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline uint64_t rdmsr(uint32_t msr)
{
	uint32_t lo, hi;
	asm volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return ((uint64_t)hi << 32) | lo;
}
static inline void wrmsr(uint32_t msr, uint64_t v)
{
	asm volatile("wrmsr" ::"c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)));
}

static inline void cpuid(uint32_t leaf, uint32_t sub, uint32_t *a, uint32_t *b, uint32_t *c,
			 uint32_t *d)
{
	asm volatile("cpuid" : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d) : "a"(leaf), "c"(sub));
}

/* read_cr0(), read_cr2(), read_cr3(), read_cr4(): one definition, four registers. */
#define DEFINE_READ_CR(n)                                                                          \
	static inline uint64_t read_cr##n(void)                                                    \
	{                                                                                          \
		uint64_t v;                                                                        \
		asm volatile("mov %%cr" #n ", %0" : "=r"(v));                                      \
		return v;                                                                          \
	}
DEFINE_READ_CR(0)
DEFINE_READ_CR(2)
DEFINE_READ_CR(3)
DEFINE_READ_CR(4)
#undef DEFINE_READ_CR

static inline void write_cr3(uint64_t v)
{
	asm volatile("mov %0, %%cr3" ::"r"(v) : "memory");
}
static inline void write_cr4(uint64_t v)
{
	asm volatile("mov %0, %%cr4" ::"r"(v) : "memory");
}

static inline uint64_t read_rflags(void)
{
	uint64_t v;
	asm volatile("pushfq; popq %0" : "=r"(v));
	return v;
}
#define RFLAGS_IF (1UL << 9)

static inline void cli(void)
{
	asm volatile("cli" ::: "memory");
}
static inline void sti(void)
{
	asm volatile("sti" ::: "memory");
}
static inline void hlt(void)
{
	asm volatile("hlt");
}
static inline void pause(void)
{
	asm volatile("pause");
}
static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;
	asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

#define MSR_EFER	   0xC0000080
#define EFER_SCE	   (1UL << 0)
#define EFER_LME	   (1UL << 8)
#define EFER_LMA	   (1UL << 10)
#define EFER_NXE	   (1UL << 11)
#define EFER_SVME	   (1UL << 12)
#define MSR_FS_BASE	   0xC0000100
#define MSR_GS_BASE	   0xC0000101
#define MSR_KERNEL_GS_BASE 0xC0000102
#define MSR_TSC		   0x10
#define MSR_APIC_BASE	   0x1B
#define APIC_BASE_BSP	   (1UL << 8)	/* this CPU is the boot CPU */
#define APIC_BASE_ENABLE   (1UL << 11)	/* the local APIC is on */
#define LAPIC_DEFAULT_PA   0xFEE00000UL /* where the local APIC sits after reset */
#define MSR_SYSENTER_CS	   0x174
#define MSR_SYSENTER_ESP   0x175
#define MSR_SYSENTER_EIP   0x176
#define MSR_PAT		   0x277
#define MSR_STAR	   0xC0000081
#define MSR_LSTAR	   0xC0000082
#define MSR_CSTAR	   0xC0000083
#define MSR_SFMASK	   0xC0000084

#define RFLAGS_DF (1UL << 10) /* string instructions step backwards */

#define CR0_PE	(1UL << 0)
#define CR0_MP	(1UL << 1)
#define CR0_ET	(1UL << 4)
#define CR0_NE	(1UL << 5)
#define CR0_WP	(1UL << 16)
#define CR0_PG	(1UL << 31)
#define CR4_PAE (1UL << 5)

/* x86-64 page-table entries (the CPU's own tables; kev builds some for its guests). */
#define PTE_P  (1UL << 0) /* present */
#define PTE_W  (1UL << 1) /* writable */
#define PTE_PS (1UL << 7) /* a 2 MiB page (in a page directory) or 1 GiB page (in a PDPT) */
