/*
 * printk.c: the host kernel's console: formatted text to the serial port.
 *
 * A lock keeps lines from different CPUs from interleaving mid-line.
 */
#include "printk.h"
#include "spinlock.h"

extern volatile bool panicking;
static struct spinlock console_lock = SPINLOCK_INIT("console");

int vprintk(const char *fmt, va_list ap)
{
	char buf[512];
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	size_t len = MIN((size_t)n, sizeof(buf) - 1);

	/* A panicking CPU may already hold the lock: print regardless. */
	if (panicking) {
		serial_write(buf, len);
		return n;
	}
	spin_lock(&console_lock);
	serial_write(buf, len);
	spin_unlock(&console_lock);
	return n;
}
