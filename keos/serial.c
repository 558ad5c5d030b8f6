/*
 * serial.c: the 16550 UART on COM1 and printk.
 *
 * Output is polled (no interrupts): simple, and it still works inside panic().
 * A lock keeps lines from different CPUs from interleaving mid-line.
 */
#include "mm.h"
#include "printk.h"
#include "spinlock.h"
#include "x86.h"

#define COM1 0x3F8

extern volatile bool panicking;
static struct spinlock console_lock = SPINLOCK_INIT("console");

void serial_init(void)
{
	outb(COM1 + 1, 0x00); /* no interrupts */
	outb(COM1 + 3, 0x80); /* DLAB on: set the baud divisor */
	outb(COM1 + 0, 0x01); /* 115200 baud */
	outb(COM1 + 1, 0x00);
	outb(COM1 + 3, 0x03); /* 8 bits, no parity, one stop bit */
	outb(COM1 + 2, 0xC7); /* FIFO on */
	outb(COM1 + 4, 0x03);
}

void serial_putc(char c)
{
	/* Wait for the transmit holding register to be empty. */
	while (!(inb(COM1 + 5) & 0x20))
		pause();
	outb(COM1, c);
}

static void console_write(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\n')
			serial_putc('\r');
		serial_putc(s[i]);
	}
}

int vprintk(const char *fmt, va_list ap)
{
	char buf[512];
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	size_t len = MIN((size_t)n, sizeof(buf) - 1);

	/* A panicking CPU may already hold the lock: print regardless. */
	if (panicking) {
		console_write(buf, len);
		return n;
	}
	spin_lock(&console_lock);
	console_write(buf, len);
	spin_unlock(&console_lock);
	return n;
}

int printk(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vprintk(fmt, ap);
	va_end(ap);
	return n;
}

