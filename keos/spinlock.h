/*
 * Spinlocks. Taking one disables interrupts on this CPU (a timer interrupt
 * must not switch to a thread that then spins on the lock we hold); releasing
 * the last one held restores the interrupt flag as it was (xv6's push_off).
 */
#pragma once
#include "types.h"

struct spinlock {
	volatile uint32_t locked;
	int cpu; /* holder, for debugging and spin_holding() */
	const char *name;
	uint64_t taken_at; /* the holder's call site, for deadlock and recursion reports */
};

#define SPINLOCK_INIT(n)                                                                           \
	{                                                                                          \
		.locked = 0, .cpu = -1, .name = (n)                                                \
	}
void spin_init(struct spinlock *l, const char *name);
void spin_lock(struct spinlock *l);
void spin_unlock(struct spinlock *l);
bool spin_holding(struct spinlock *l);

/* Interrupts off, nestable: push_off(); ... pop_off(); */
void push_off(void);
void pop_off(void);
