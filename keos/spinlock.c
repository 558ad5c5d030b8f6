/* spinlock.c: spinlocks and nestable interrupt disabling (after xv6). */
#include "spinlock.h"
#include "cpu.h"
#include "printk.h"
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

void spin_lock(struct spinlock *l)
{
	push_off();
	if (spin_holding(l))
		panic("spin_lock: %s already held by this CPU", l->name);
	while (__atomic_exchange_n(&l->locked, 1, __ATOMIC_ACQUIRE))
		while (l->locked)
			pause();
	l->cpu = mycpu()->id;
}

void spin_unlock(struct spinlock *l)
{
	if (!spin_holding(l))
		panic("spin_unlock: %s not held", l->name);
	l->cpu = -1;
	__atomic_store_n(&l->locked, 0, __ATOMIC_RELEASE);
	pop_off();
}
