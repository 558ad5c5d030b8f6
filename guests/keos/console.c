/*
 * console.c: the guest's printk and panic, and its way out.
 *
 * The guest writes COM1 with the host kernel's own driver (keos/serial.c),
 * polling the line status register before each byte; under KeV both ports
 * are emulated, so every byte is a VM exit. No lock: the guest runs on one vCPU.
 */
#include "hypercall.h"
#include "printk.h"
#include "serial.h"
#include "x86.h"

/* The host kernel's serial.c and vsnprintf.c (with printk) do the rest. */
int vprintk(const char *fmt, va_list ap)
{
	char buf[256];
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	serial_write(buf, MIN((size_t)n, sizeof(buf) - 1));
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
