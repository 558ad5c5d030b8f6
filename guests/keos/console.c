/*
 * console.c: the guest's printk and panic, and its way out.
 *
 * Under KeV every port access is a VM exit, and KeV's COM1 is always ready and
 * drops '\r' (kev/exit.c, kev/console.c): the guest writes the data register
 * alone, one exit per byte. The host kernel's driver (keos/serial.c) polls the
 * line status before each byte and sends "\r\n", twice the exits, about 10 ms
 * of each boot of the guest under TCG (2026-11-26). Built for bare QEMU's 16550
 * (GUEST_BARE), the guest uses that driver as it is. No lock: one vCPU.
 */
#include "hypercall.h"
#include "printk.h"
#include "serial.h"
#include "x86.h"

static void console_write(const char *s, size_t n)
{
#ifdef GUEST_BARE
	serial_write(s, n);
#else
	for (size_t i = 0; i < n; i++)
		outb(COM1, s[i]);
#endif
}

/* The host kernel's vsnprintf.c (with printk) does the rest. */
int vprintk(const char *fmt, va_list ap)
{
	char buf[256];
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	console_write(buf, MIN((size_t)n, sizeof(buf) - 1));
	return n;
}

__noreturn void panic(const char *fmt, ...)
{
	va_list ap;
	printk("keos-guest: panic: ");
	va_start(ap, fmt);
	vprintk(fmt, ap);
	va_end(ap);
	printk("\n");
	guest_exit(GUEST_PANIC);
}

#ifndef GUEST_BARE
__noreturn void guest_exit(uint64_t code)
{
	hypercall(HC_EXIT, code, 0);
	/* HC_EXIT never returns; if it did, hlt with interrupts off stops us loudly. */
	for (;;)
		hlt();
}
#else
/*
 * Bare QEMU, for testing the guest without KeV: QEMU's isa-debug-exit device
 * (port 0xf4) ends QEMU with status (code << 1) | 1. Never built into the
 * guest KeV runs: KeV ends a VM that touches any port but COM1.
 */
__noreturn void guest_exit(uint64_t code)
{
	printk("keos-guest: bare-metal exit %lu\n", code);
	outb(0xF4, code & 0x7F);
	for (;;)
		hlt();
}
#endif
