/*
 * serial.c: the 16550 UART on COM1.
 *
 * Output is polled (no interrupts): simple, and it still works inside panic().
 * No locking here: printk.c adds it for the host kernel. The guest KeOS
 * (guests/keos) links this file too, and writes with it when built for bare
 * QEMU; under KeV, whose COM1 needs no polling, it writes the data port itself.
 */
#include "serial.h"
#include "printk.h"
#include "x86.h"

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

/* Write n bytes, turning "\n" into the "\r\n" a terminal expects. */
void serial_write(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\n')
			serial_putc('\r');
		serial_putc(s[i]);
	}
}
