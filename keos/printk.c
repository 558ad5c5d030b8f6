/*
 * printk.c: the host kernel's console: formatted text to the serial port.
 *
 * A lock keeps lines from different CPUs from interleaving mid-line.
 */
#include "printk.h"
#include "spinlock.h"

extern volatile bool panicking;
static struct spinlock console_lock = SPINLOCK_INIT("console");

/*
 * While a CPU panics (or the watchdog stops every CPU), the lock may be held by a CPU
 * that will never release it. Wait a bounded time for it, so that a line another CPU is
 * printing right now is not cut in two; once that wait has failed, print regardless.
 */
static void panic_write(const char *buf, size_t len)
{
	static volatile bool lock_abandoned;
	bool taken = false;
	for (int i = 0; i < 200000 && !lock_abandoned && !taken; i++)
		taken = __atomic_exchange_n(&console_lock.locked, 1, __ATOMIC_ACQUIRE) == 0;
	if (!taken)
		lock_abandoned = true;
	serial_write(buf, len);
	if (taken)
		__atomic_store_n(&console_lock.locked, 0, __ATOMIC_RELEASE);
}

int vprintk(const char *fmt, va_list ap)
{
	char buf[512];
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	size_t len = MIN((size_t)n, sizeof(buf) - 1);

	if (panicking) {
		panic_write(buf, len);
		return n;
	}
	spin_lock(&console_lock);
	serial_write(buf, len);
	spin_unlock(&console_lock);
	return n;
}
