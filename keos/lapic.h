/* The local APIC: timer, end-of-interrupt, and the IPIs that start the other CPUs. */
#pragma once
#include "types.h"

void lapic_init(void);	    /* per CPU: enable, start the 1 ms periodic timer */
void lapic_calibrate(void); /* once, on the boot CPU, against the PIT */
void lapic_eoi(void);
uint32_t lapic_id(void);
void lapic_send_init_sipi(uint8_t vector_page); /* to all other CPUs */
void lapic_send_nmi_others(void);		/* the watchdog: stop every other CPU */
uint64_t ticks(void);				/* timer ticks since boot (1 tick = 1 ms) */
uint64_t uptime_us(void);
