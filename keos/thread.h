/*
 * Kernel threads. Each CPU has its own run queue; a thread is pinned to one
 * CPU for its whole life. The local APIC timer preempts threads round-robin.
 */
#pragma once
#include "types.h"

#define MAX_CPUS 16
#define ANY_CPU	 (-1)

struct thread;
typedef void (*thread_fn)(void *arg);

/* Start fn(arg) on `cpu` (ANY_CPU: the next CPU round-robin). NULL if out of memory. */
struct thread *thread_create(const char *name, thread_fn fn, void *arg, int cpu);
/* Wait for t to finish, free it, and return its exit code. */
int thread_join(struct thread *t);
__noreturn void thread_exit(int code);
void thread_yield(void);
struct thread *thread_current(void);
const char *thread_name(struct thread *t);
void thread_sleep_ms(uint64_t ms);

int cpu_id(void); /* 0 .. ncpu-1 */

/* Used by the boot code and the timer interrupt, not by ordinary threads. */
void thread_init_cpu(void); /* make the running boot context this CPU's idle thread */
__noreturn void thread_idle_loop(void);
void thread_preempt(void); /* from the timer interrupt: round-robin */
