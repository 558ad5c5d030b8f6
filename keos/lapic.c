/*
 * lapic.c: the local APIC of each CPU.
 *
 * The timer's rate is not architecturally known, so the boot CPU measures it
 * once against the PIT (channel 2, 10 ms) and every CPU then programs a 1 ms
 * periodic tick. The same measurement calibrates the TSC for uptime_us().
 */
#include "lapic.h"
#include "cpu.h"
#include "mm.h"
#include "printk.h"
#include "trap.h"
#include "watchdog.h"
#include "x86.h"

#define REG_ID	       0x020
#define REG_EOI	       0x0B0
#define REG_SVR	       0x0F0
#define REG_ICR_LO     0x300
#define REG_ICR_HI     0x310
#define REG_TIMER      0x320
#define REG_TIMER_INIT 0x380
#define REG_TIMER_CUR  0x390
#define REG_TIMER_DIV  0x3E0
#define TIMER_PERIODIC (1 << 17)
#define ICR_PENDING    (1 << 12)

static uint32_t ticks_per_ms; /* LAPIC timer counts (divide by 16) per millisecond */
static uint64_t tsc_per_us;
static uint64_t tsc_at_boot;
static volatile uint64_t tick_count;

static volatile uint32_t *reg(uint32_t off)
{
	return (volatile uint32_t *)((uint8_t *)P2V(LAPIC_DEFAULT_PA) + off);
}
static uint32_t lapic_read(uint32_t off)
{
	return *reg(off);
}
static void lapic_write(uint32_t off, uint32_t v)
{
	*reg(off) = v;
}

uint32_t lapic_id(void)
{
	return lapic_read(REG_ID) >> 24;
}
void lapic_eoi(void)
{
	lapic_write(REG_EOI, 0);
}

static void timer_interrupt(struct trapframe *tf)
{
	if (mycpu()->id == 0)
		tick_count++;
	watchdog_tick(tf); /* on every CPU: CPU 0 may be the one that is stuck */
}

uint64_t ticks(void)
{
	return tick_count;
}

uint64_t uptime_us(void)
{
	return tsc_per_us ? (rdtsc() - tsc_at_boot) / tsc_per_us : 0;
}

/*
 * The legacy 8259 PICs still deliver the PIT's IRQ 0 on vector 8 (the BIOS's
 * setting, which collides with #DF). Move them to 0x20-0x2F, then mask them all:
 * the local APICs do everything we need.
 */
static void pic_disable(void)
{
	outb(0x20, 0x11); /* ICW1: init, expect ICW4 */
	outb(0xA0, 0x11);
	outb(0x21, 0x20); /* ICW2: vector bases */
	outb(0xA1, 0x28);
	outb(0x21, 0x04); /* ICW3: cascade on IRQ 2 */
	outb(0xA1, 0x02);
	outb(0x21, 0x01); /* ICW4: 8086 mode */
	outb(0xA1, 0x01);
	outb(0x21, 0xFF); /* mask everything */
	outb(0xA1, 0xFF);
}

void lapic_calibrate(void)
{
	pic_disable();
	const uint32_t pit_hz = 1193182, ms = 10;
	lapic_write(REG_SVR, 0x100 | T_SPURIOUS);
	lapic_write(REG_TIMER_DIV, 0x3); /* divide by 16 */

	/* PIT channel 2, one-shot, gated by port 0x61 bit 0; bit 5 rises at zero. */
	outb(0x61, (inb(0x61) & ~0x02) | 0x01);
	outb(0x43, 0xB0);
	uint16_t count = pit_hz * ms / 1000;
	outb(0x42, count & 0xFF);
	outb(0x42, count >> 8);
	uint8_t v = inb(0x61) & ~0x01;
	outb(0x61, v); /* restart the count with a gate edge */
	outb(0x61, v | 0x01);

	lapic_write(REG_TIMER_INIT, 0xFFFFFFFF);
	uint64_t tsc0 = rdtsc();
	while (!(inb(0x61) & 0x20))
		pause();
	uint64_t tsc1 = rdtsc();
	uint32_t elapsed = 0xFFFFFFFF - lapic_read(REG_TIMER_CUR);
	lapic_write(REG_TIMER_INIT, 0);

	ticks_per_ms = elapsed / ms;
	tsc_per_us = (tsc1 - tsc0) / (ms * 1000);
	if (ticks_per_ms == 0 || tsc_per_us == 0)
		panic("lapic_calibrate: the timer did not run (lapic %u, tsc %lu)", elapsed,
		      tsc1 - tsc0);
	tsc_at_boot = tsc0;
	irq_register(T_TIMER, timer_interrupt);
}

void lapic_init(void)
{
	lapic_write(REG_SVR, 0x100 | T_SPURIOUS); /* software enable */
	lapic_write(REG_TIMER_DIV, 0x3);
	lapic_write(REG_TIMER, TIMER_PERIODIC | T_TIMER);
	lapic_write(REG_TIMER_INIT, ticks_per_ms);
	mycpu()->apic_id = lapic_id();
}

static void icr_send(uint32_t hi, uint32_t lo)
{
	lapic_write(REG_ICR_HI, hi);
	lapic_write(REG_ICR_LO, lo);
	while (lapic_read(REG_ICR_LO) & ICR_PENDING)
		pause();
}

static void delay_us(uint64_t us)
{
	uint64_t end = rdtsc() + us * tsc_per_us;
	while (rdtsc() < end)
		pause();
}

void lapic_send_init_sipi(uint8_t vector_page)
{
	const uint32_t all_but_self = 3 << 18;
	icr_send(0, all_but_self | 0x4500); /* INIT, level assert */
	/* No 10 ms wait after INIT: the MP specification's delay is for old CPUs, and
	 * Linux (smp_quirk_init_udelay) skips it on AMD family 0xF and later, which
	 * QEMU's qemu64 is. It was a tenth of every boot. */
	for (int i = 0; i < 2; i++) { /* the architecture's two STARTUPs */
		icr_send(0, all_but_self | 0x4600 | vector_page);
		delay_us(200);
	}
}

void lapic_send_nmi_others(void)
{
	const uint32_t all_but_self = 3 << 18;
	icr_send(0, all_but_self | 0x4400); /* NMI, level assert */
}
