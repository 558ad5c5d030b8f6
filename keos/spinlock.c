/* spinlock.c: spinlocks and nestable interrupt disabling (after xv6). */
#include "spinlock.h"
#include "cpu.h"
#include "lapic.h"
#include "printk.h"
#include "watchdog.h"
#include "x86.h"

void spin_init(struct spinlock *l, const char *name)
{
	l->locked = 0;
	l->cpu = -1;
	l->name = name;
}

void push_off(void)
{
	bool was_on = read_rflags() & RFLAGS_IF;
	cli();
	struct cpu *c = mycpu();
	if (c->ncli++ == 0)
		c->intena = was_on;
}

void pop_off(void)
{
	struct cpu *c = mycpu();
	if (read_rflags() & RFLAGS_IF)
		panic("pop_off: interrupts are on");
	if (c->ncli < 1)
		panic("pop_off: not pushed");
	if (--c->ncli == 0 && c->intena)
		sti();
}

bool spin_holding(struct spinlock *l)
{
	return l->locked && l->cpu == mycpu()->id;
}

/* Taking a lock this CPU holds can only spin forever: say where both acquisitions are. */
static __noreturn void spin_recursion_panic(struct spinlock *l, uint64_t again)
{
	uint64_t off1 = 0, off2 = 0;
	const char *first = symbol_lookup(l->taken_at, &off1);
	const char *second = symbol_lookup(again, &off2);
	panic("spin_lock: %s acquired twice by cpu%d: first at 0x%lx <%s+0x%lx>, again at 0x%lx "
	      "<%s+0x%lx>",
	      l->name, mycpu()->id, l->taken_at, first ? first : "??", off1, again,
	      second ? second : "??", off2);
}

/*
 * The contended path: spin, and every 1024 rounds let the watchdog look at the
 * clock. A CPU waiting here has interrupts off, so without that a deadlock on
 * every CPU would never reach the watchdog's timer tick.
 */
static void spin_wait(struct spinlock *l)
{
	struct cpu *c = mycpu();
	c->waiting_for = l; /* what the watchdog reports if it stops this CPU here */
	uint64_t since = uptime_us();
	for (unsigned n = 1; l->locked || __atomic_exchange_n(&l->locked, 1, __ATOMIC_ACQUIRE);
	     n++) {
		pause();
		if (n % 1024 == 0)
			watchdog_lock_wait(l, since);
	}
	c->waiting_for = NULL;
}

void spin_lock(struct spinlock *l)
{
	uint64_t caller = (uint64_t)__builtin_return_address(0);
	push_off();
	if (spin_holding(l))
		spin_recursion_panic(l, caller);
	if (__atomic_exchange_n(&l->locked, 1, __ATOMIC_ACQUIRE))
		spin_wait(l);
	l->cpu = mycpu()->id;
	l->taken_at = caller;
}

void spin_unlock(struct spinlock *l)
{
	if (!spin_holding(l))
		panic("spin_unlock: %s not held", l->name);
	l->cpu = -1;
	__atomic_store_n(&l->locked, 0, __ATOMIC_RELEASE);
	pop_off();
}
