/*
 * permission_maps.c: the I/O and MSR permission maps. See permission_maps.h.
 */
#include "permission_maps.h"
#include "mm.h"
#include "printk.h"
#include "spinlock.h"
#include "x86.h"

/* QEMU reads both at every VMRUN: physically contiguous, page-aligned. */
static void *iopm, *msrpm;
static struct spinlock maps_lock = SPINLOCK_INIT("permission maps");

#define IOPM_PAGES  3
#define MSRPM_PAGES 2

/* Let the guest access an MSR directly (clear its two intercept bits). */
static void msrpm_allow(uint32_t msr)
{
	uint32_t base;
	if (msr < 0x2000)
		base = 0;
	else if (msr >= 0xC0000000 && msr < 0xC0002000)
		base = 0x800, msr -= 0xC0000000;
	else if (msr >= 0xC0010000 && msr < 0xC0012000)
		base = 0x1000, msr -= 0xC0010000;
	else
		return;
	uint8_t *bits = (uint8_t *)msrpm + base + msr / 4;
	*bits &= ~(3 << ((msr % 4) * 2));
}

/* The MSRs the VMCB holds for the guest anyway: no reason to exit for them. */
static void msrpm_init(void)
{
	memset(msrpm, 0xFF, MSRPM_PAGES * PAGE_SIZE);
	static const uint32_t passthrough[] = {
	    MSR_EFER,	     MSR_FS_BASE,      MSR_GS_BASE,	 MSR_KERNEL_GS_BASE,
	    MSR_STAR,	     MSR_LSTAR,	       MSR_CSTAR,	 MSR_SFMASK,
	    MSR_SYSENTER_CS, MSR_SYSENTER_ESP, MSR_SYSENTER_EIP,
	};
	for (size_t i = 0; i < ARRAY_SIZE(passthrough); i++)
		msrpm_allow(passthrough[i]);
}

void permission_maps_init(void)
{
	spin_lock(&maps_lock);
	if (!iopm) {
		iopm = pages_alloc(IOPM_PAGES);
		msrpm = pages_alloc(MSRPM_PAGES);
		if (!iopm || !msrpm)
			panic("kev: no memory for the I/O and MSR permission maps");
		memset(iopm, 0xFF, IOPM_PAGES * PAGE_SIZE);
		msrpm_init();
	}
	spin_unlock(&maps_lock);
}

uint64_t iopm_pa(void)
{
	return V2P(iopm);
}

uint64_t msrpm_pa(void)
{
	return V2P(msrpm);
}
