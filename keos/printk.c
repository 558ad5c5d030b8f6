/*
 * printk.c: the host kernel's console: formatted text to the serial port.
 *
 * A lock keeps lines from different CPUs from interleaving mid-line.
 */
#include "printk.h"
#include "cpu.h"
#include "lapic.h"
#include "serial.h"
#include "spinlock.h"
#include "thread.h"

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
	if (console_lock.locked && console_lock.cpu == mycpu()->id) {
		/* This CPU was stopped (NMI) in the middle of a line: start a new one. */
		serial_write("\n", 1);
		lock_abandoned = true;
	}
	/* 50 ms: a whole line takes a few ms through the emulated UART on a loaded host. */
	for (uint64_t give_up = uptime_us() + 50000; !lock_abandoned && !taken;) {
		taken = __atomic_exchange_n(&console_lock.locked, 1, __ATOMIC_ACQUIRE) == 0;
		if (!taken && uptime_us() > give_up)
			break;
	}
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
