/*
 * permission_maps.h: the I/O and MSR permission maps (IOPM, MSRPM), shared by
 * every VM: which ports and MSRs a guest reaches without an exit
 * (permission_maps.c). Every port is intercepted, every MSR too but those
 * the VMCB holds for the guest anyway.
 */
#pragma once
#include "types.h"

void permission_maps_init(void); /* once; later calls do nothing */
uint64_t iopm_pa(void);		 /* for the VMCB's iopm_base_pa */
uint64_t msrpm_pa(void);	 /* for the VMCB's msrpm_base_pa */
