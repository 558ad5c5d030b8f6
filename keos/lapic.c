/*
 * lapic.c: the local APIC of each CPU.
 *
 * The timer's rate is not architecturally known, so the boot CPU measures it
 * once against the PIT (channel 2, 2 ms) and every CPU then programs a 1 ms
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

/*
 * The calibration: PIT channel 2 counts CAL_MS down in mode 0 (gate high, speaker
 * off) from the moment its count's second byte is written, and port 0x61 bit 5
 * rises at zero. Each end is bracketed by two TSC reads; if the host stopped this
 * vCPU near one of them (a loaded machine: QEMU's threads are host threads), its
 * bracket is wide and the rates would come out too high, so the clock would run
 * slow. Up to CAL_TRIES countdowns, until the two brackets together are under 1%
 * of one; the tightest one counts.
 */
#define CAL_MS	  2
#define CAL_TRIES 5

struct countdown {
	uint64_t tsc;	/* TSC ticks from the count's write to the zero, at most */
	uint64_t slop;	/* TSC ticks of uncertainty at the two ends */
	uint32_t lapic; /* LAPIC timer counts in the same span, at most */
};

static struct countdown pit_countdown(uint16_t count)
{
	struct countdown c;
	outb(0x43, 0xB0); /* channel 2, low then high byte, mode 0 */
	uint64_t start = rdtsc();
	lapic_write(REG_TIMER_INIT, 0xFFFFFFFF);
	outb(0x42, count & 0xFF);
	outb(0x42, count >> 8);
	uint64_t started = rdtsc(), before_zero = started;
	for (;;) {
		uint64_t now = rdtsc();
		if (inb(0x61) & 0x20)
			break;
		before_zero = now;
	}
	c.lapic = 0xFFFFFFFF - lapic_read(REG_TIMER_CUR);
	uint64_t end = rdtsc();
	lapic_write(REG_TIMER_INIT, 0);
	c.tsc = end - start;
	c.slop = (started - start) + (end - before_zero);
	return c;
}

void lapic_calibrate(void)
{
	pic_disable();
	lapic_write(REG_SVR, 0x100 | T_SPURIOUS);
	lapic_write(REG_TIMER_DIV, 0x3); /* divide by 16 */
	outb(0x61, (inb(0x61) & ~0x02) | 0x01);

	struct countdown best = {.slop = UINT64_MAX};
	for (int i = 0; i < CAL_TRIES && best.slop >= best.tsc / 100; i++) {
		struct countdown c = pit_countdown(1193182 * CAL_MS / 1000);
		if (c.slop < best.slop)
			best = c;
	}
	ticks_per_ms = best.lapic / CAL_MS;
	tsc_per_us = best.tsc / (CAL_MS * 1000);
	if (ticks_per_ms == 0 || tsc_per_us == 0)
		panic("lapic_calibrate: the timer did not run (lapic %u, tsc %lu)", best.lapic,
		      best.tsc);
	tsc_at_boot = rdtsc();
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
