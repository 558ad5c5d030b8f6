/*
 * thread.c: kernel threads and the round-robin scheduler.
 *
 * Each CPU has a run queue of threads pinned to it, protected by its own lock.
 * A thread gives up the CPU by calling thread_yield() (or the timer does it
 * for it); the switch happens with the run-queue lock held, and the thread we
 * switch to releases it — the same hand-over xv6 uses. When a CPU has nothing
 * to run it runs its idle thread, which halts until the next interrupt.
 */
#include "thread.h"
#include "cpu.h"
#include "lapic.h"
#include "mm.h"
#include "printk.h"
#include "smp.h"
#include "spinlock.h"
#include "x86.h"

#define STACK_PAGES 4

enum thread_state { RUNNABLE, RUNNING, EXITED, DONE };

struct thread {
	uint64_t saved_rsp;
	char name[32];
	int cpu;
	volatile enum thread_state state;
	int exit_code;
	uint8_t *stack; /* NULL for the idle threads: they run on the boot stacks */
	thread_fn fn;
	void *arg;
	struct thread *next; /* run queue link */
};

struct runqueue {
	struct spinlock lock;
	struct thread *head, *tail;
	struct thread *exited; /* a thread that just switched away for the last time */
};

static struct runqueue runqueues[MAX_CPUS];
static struct thread idle_threads[MAX_CPUS];
static int next_cpu; /* round-robin placement for ANY_CPU */

void swtch(uint64_t *old_rsp, uint64_t new_rsp);
void thread_entry(void);

static void enqueue(struct runqueue *rq, struct thread *t)
{
	t->state = RUNNABLE;
	t->next = NULL;
	if (rq->tail)
		rq->tail->next = t;
	else
		rq->head = t;
	rq->tail = t;
}

static struct thread *dequeue(struct runqueue *rq)
{
	struct thread *t = rq->head;
	if (t) {
		rq->head = t->next;
		if (!rq->head)
			rq->tail = NULL;
	}
	return t;
}

struct thread *thread_current(void)
{
	return mycpu()->current;
}
const char *thread_name(struct thread *t)
{
	return t->name;
}
int cpu_id(void)
{
	return mycpu()->id;
}

/*
 * Runs on the new thread right after a switch. A thread that exited cannot
 * mark itself DONE (its joiner might free the stack it is still using), so
 * the next thread on that CPU does it here.
 */
static void finish_switch(struct runqueue *rq)
{
	if (rq->exited) {
		__atomic_store_n(&rq->exited->state, DONE, __ATOMIC_RELEASE);
		rq->exited = NULL;
	}
	mycpu()->current->state = RUNNING;
}

/* Switch to the next runnable thread. Caller holds rq->lock and has queued `prev` if needed. */
static void schedule(struct runqueue *rq)
{
	struct cpu *c = mycpu();
	struct thread *prev = c->current;
	struct thread *next = dequeue(rq);
	if (!next)
		next = c->idle;
	if (next == prev) {
		prev->state = RUNNING;
		return;
	}
	c->current = next;
	bool intena = c->intena;
	swtch(&prev->saved_rsp, next->saved_rsp);
	mycpu()->intena = intena;
	finish_switch(rq);
}

void thread_yield(void)
{
	struct runqueue *rq = &runqueues[mycpu()->id];
	spin_lock(&rq->lock);
	struct thread *cur = mycpu()->current;
	if (cur != mycpu()->idle)
		enqueue(rq, cur);
	schedule(rq);
	spin_unlock(&rq->lock);
}

void thread_preempt(void)
{
	if (mycpu()->current)
		thread_yield();
}

__noreturn void thread_exit(int code)
{
	struct runqueue *rq = &runqueues[mycpu()->id];
	struct thread *cur = mycpu()->current;
	if (cur == mycpu()->idle)
		panic("thread_exit: the idle thread cannot exit");
	spin_lock(&rq->lock);
	cur->exit_code = code;
	cur->state = EXITED;
	rq->exited = cur;
	schedule(rq);
	panic("thread_exit: an exited thread was scheduled again");
}

/* First code of every new thread (called from thread_entry in switch.S). */
void thread_start(void)
{
	struct runqueue *rq = &runqueues[mycpu()->id];
	finish_switch(rq);
	spin_unlock(&rq->lock); /* taken by whoever switched to us */
	sti();
	struct thread *t = mycpu()->current;
	t->fn(t->arg);
	thread_exit(0);
}

struct thread *thread_create(const char *name, thread_fn fn, void *arg, int cpu)
{
	if (cpu == ANY_CPU)
		cpu = __atomic_fetch_add(&next_cpu, 1, __ATOMIC_RELAXED) % ncpu;
	if (cpu < 0 || cpu >= ncpu)
		panic("thread_create: no CPU %d (ncpu %d)", cpu, ncpu);

	struct thread *t = kzalloc(sizeof(*t));
	if (!t)
		return NULL;
	t->stack = pages_alloc(STACK_PAGES);
	if (!t->stack) {
		kfree(t);
		return NULL;
	}
	strncpy(t->name, name, sizeof(t->name) - 1);
	t->cpu = cpu;
	t->fn = fn;
	t->arg = arg;

	/* Build the frame swtch pops: six callee-saved registers, then "return" to thread_entry. */
	uint64_t *sp = (uint64_t *)(t->stack + STACK_PAGES * PAGE_SIZE);
	*--sp = 0;
	*--sp = (uint64_t)thread_entry;
	for (int i = 0; i < 6; i++)
		*--sp = 0;
	t->saved_rsp = (uint64_t)sp;

	struct runqueue *rq = &runqueues[cpu];
	spin_lock(&rq->lock);
	enqueue(rq, t);
	spin_unlock(&rq->lock);
	return t;
}

static void wait_for_interrupt(void)
{
	/* sti;hlt is atomic: an interrupt arriving between them still wakes the hlt. */
	asm volatile("sti; hlt" ::: "memory");
}

int thread_join(struct thread *t)
{
	while (__atomic_load_n(&t->state, __ATOMIC_ACQUIRE) != DONE) {
		thread_yield();
		if (t->state != DONE)
			wait_for_interrupt();
	}
	int code = t->exit_code;
	pages_free(t->stack, STACK_PAGES);
	kfree(t);
	return code;
}

void thread_sleep_ms(uint64_t ms)
{
	uint64_t until = uptime_us() + ms * 1000;
	while (uptime_us() < until) {
		thread_yield();
		wait_for_interrupt();
	}
}

void thread_init_cpu(void)
{
	struct cpu *c = mycpu();
	struct thread *idle = &idle_threads[c->id];
	snprintf(idle->name, sizeof(idle->name), "idle%d", c->id);
	idle->cpu = c->id;
	idle->state = RUNNING;
	spin_init(&runqueues[c->id].lock, "runqueue");
	c->idle = idle;
	c->current = idle;
}

__noreturn void thread_idle_loop(void)
{
	for (;;) {
		thread_yield();
		wait_for_interrupt();
	}
}
