/*
 * core_tests.c: self-tests of the host kernel's core — pages, heap, threads,
 * locks and the timer — each run by the test runner in its own thread.
 */
#include "lapic.h"
#include "mm.h"
#include "smp.h"
#include "spinlock.h"
#include "test.h"
#include "thread.h"
#include "trap.h"
#include "x86.h"

KTEST(keos, palloc_no_leak)
{
	enum { N = 512 };
	static void *pages[N];
	size_t before = pages_free_count();

	for (int i = 0; i < N; i++) {
		pages[i] = page_alloc();
		CHECK(pages[i] != NULL);
		/* Zeroed, and distinct: write a tag we check later. */
		uint64_t *w = pages[i];
		for (size_t j = 0; j < PAGE_SIZE / 8; j++)
			CHECK_EQ(w[j], 0);
		w[0] = i;
	}
	CHECK_EQ(pages_free_count(), before - N);
	for (int i = 0; i < N; i++)
		CHECK_EQ(*(uint64_t *)pages[i], i);
	for (int i = 0; i < N; i++)
		page_free(pages[i]);
	CHECK_EQ(pages_free_count(), before);

	/* A contiguous run is physically contiguous. */
	uint8_t *run = pages_alloc(16);
	CHECK(run != NULL);
	for (int i = 1; i < 16; i++)
		CHECK_EQ(V2P(run + i * PAGE_SIZE), V2P(run) + i * PAGE_SIZE);
	pages_free(run, 16);
	CHECK_EQ(pages_free_count(), before);
	test_metric("free_pages", before);
}

KTEST(keos, heap)
{
	enum { N = 300 };
	static uint8_t *objs[N];
	size_t before = pages_free_count();

	/* Two rounds of every size class (and some big ones): all of it comes back each time. */
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < N; i++) {
			size_t size = 1 + (i * 37) % (i % 10 == 0 ? 9000 : 2000);
			objs[i] = kmalloc(size);
			CHECK(objs[i] != NULL);
			memset(objs[i], i & 0xFF, size);
		}
		for (int i = 0; i < N; i++) {
			size_t size = 1 + (i * 37) % (i % 10 == 0 ? 9000 : 2000);
			for (size_t j = 0; j < size; j++)
				if (objs[i][j] != (i & 0xFF))
					test_fail(__FILE__, __LINE__,
						  "object %d byte %zu overwritten", i, j);
			kfree(objs[i]);
		}
		CHECK_EQ(pages_free_count(), before); /* emptied slabs went back */
	}
	uint64_t *z = kzalloc(100);
	CHECK(z != NULL);
	for (int i = 0; i < 12; i++)
		CHECK_EQ(z[i], 0);
	kfree(z);
	CHECK_EQ(pages_free_count(), before);
}

static volatile int ran_on[MAX_CPUS];

static void note_cpu(void *arg)
{
	int want = (int)(uint64_t)arg;
	if (cpu_id() != want)
		test_fail(__FILE__, __LINE__, "thread pinned to cpu %d ran on cpu %d", want,
			  cpu_id());
	__atomic_add_fetch(&ran_on[cpu_id()], 1, __ATOMIC_SEQ_CST);
	thread_yield();
	if (cpu_id() != want)
		test_fail(__FILE__, __LINE__, "thread moved from cpu %d to %d", want, cpu_id());
	thread_exit(100 + want);
}

KTEST(keos, threads_all_cpus)
{
	struct thread *t[MAX_CPUS * 2];
	CHECK(ncpu >= 1);
	test_metric("ncpu", ncpu);
	for (int i = 0; i < ncpu; i++)
		ran_on[i] = 0;
	for (int i = 0; i < 2 * ncpu; i++) {
		t[i] = thread_create("pinned", note_cpu, (void *)(uint64_t)(i % ncpu), i % ncpu);
		CHECK(t[i] != NULL);
	}
	for (int i = 0; i < 2 * ncpu; i++)
		CHECK_EQ(thread_join(t[i]), 100 + i % ncpu);
	for (int i = 0; i < ncpu; i++)
		CHECK_EQ(ran_on[i], 2);
}

static struct spinlock counter_lock = SPINLOCK_INIT("test counter");
static volatile uint64_t counter;
static volatile uint64_t in_critical;

static void hammer(void *arg)
{
	uint64_t n = (uint64_t)arg;
	for (uint64_t i = 0; i < n; i++) {
		spin_lock(&counter_lock);
		/* Nobody else may be inside: check it, and make the race window wide. */
		if (__atomic_add_fetch(&in_critical, 1, __ATOMIC_SEQ_CST) != 1)
			test_fail(__FILE__, __LINE__, "two CPUs inside one spinlock");
		uint64_t v = counter;
		pause();
		counter = v + 1;
		__atomic_sub_fetch(&in_critical, 1, __ATOMIC_SEQ_CST);
		spin_unlock(&counter_lock);
	}
}

KTEST(keos, spinlock_contention)
{
	enum { PER_THREAD = 20000 };
	struct thread *t[MAX_CPUS];
	counter = 0;
	for (int i = 0; i < ncpu; i++)
		t[i] = thread_create("hammer", hammer, (void *)(uint64_t)PER_THREAD, i);
	for (int i = 0; i < ncpu; i++)
		thread_join(t[i]);
	CHECK_EQ(counter, (uint64_t)PER_THREAD * ncpu);
	CHECK(read_rflags() & RFLAGS_IF); /* locks restored the interrupt flag */
}

/*
 * Two threads on one CPU that never yield: only the timer interrupt can let
 * the second one run while the first spins, so both making progress proves
 * preemption.
 */
static volatile uint64_t progress[2];
static volatile bool stop_spinning;

static void spin_forever(void *arg)
{
	int me = (int)(uint64_t)arg;
	while (!stop_spinning)
		progress[me]++;
}

KTEST(keos, timer_preemption)
{
	int cpu = ncpu > 1 ? 1 : 0;
	stop_spinning = false;
	progress[0] = progress[1] = 0;
	struct thread *a = thread_create("spin-a", spin_forever, (void *)0, cpu);
	struct thread *b = thread_create("spin-b", spin_forever, (void *)1, cpu);
	uint64_t t0 = ticks();
	while (ticks() - t0 < 50 && !(progress[0] > 1000 && progress[1] > 1000))
		thread_yield();
	thread_sleep_ms(20);
	stop_spinning = true;
	thread_join(a);
	thread_join(b);
	test_metric("spins_a", progress[0]);
	test_metric("spins_b", progress[1]);
	CHECK(progress[0] > 0 && progress[1] > 0);
	CHECK(ticks() > t0);
}

/* ---- deliberately broken tests: the harness's own tests expect these verdicts ---- */

KTEST(selftest, pass)
{
	CHECK(1 + 1 == 2);
}

KTEST(selftest, assert_fail)
{
	int answer = 41;
	CHECK_EQ(answer, 42);
}

KTEST(selftest, null_deref)
{
	volatile uint64_t *p = NULL;
	*p = 1;
}

KTEST(selftest, loop_forever)
{
	for (;;)
		pause();
}

/* A leaf GCC leaves frameless, where a loop that calls it spends nearly all its time:
 * the watchdog's backtrace must still name the loop's function (keos/panic.c). */
static __attribute__((noinline)) uint64_t spin_in_leaf(volatile uint64_t *x)
{
	for (int i = 0; i < 1000000; i++)
		*x += i;
	return *x;
}

KTEST(selftest, loop_calling_leaf)
{
	volatile uint64_t x = 0;
	for (;;)
		spin_in_leaf(&x);
}

/* The watchdog's cases (keos/watchdog.c): a CPU stuck with interrupts off, a lock taken
 * twice, two CPUs that each hold the lock the other waits for. */
KTEST(selftest, loop_irqs_off)
{
	/*
	 * No pause() here: under QEMU's TCG each pause leaves the translated code and
	 * takes QEMU's global lock, and a CPU doing that in a tight loop can starve the
	 * other CPUs' timers, which the watchdog counts on. Loops in student code rarely
	 * pause; spin_lock's waits do, but they look at the clock themselves.
	 */
	push_off();
	for (;;)
		asm volatile("" ::: "memory");
}

KTEST(selftest, lock_twice)
{
	static struct spinlock l = SPINLOCK_INIT("selftest_lock");
	spin_lock(&l);
	spin_lock(&l);
	spin_unlock(&l); /* not reached; and no tail call, so the panic names this function */
}

static struct spinlock lock_a = SPINLOCK_INIT("lock_a"), lock_b = SPINLOCK_INIT("lock_b");
static volatile int holding;

static void take_b_then_a(void *arg)
{
	(void)arg;
	spin_lock(&lock_b);
	__atomic_add_fetch(&holding, 1, __ATOMIC_SEQ_CST);
	while (holding < 2)
		pause();
	spin_lock(&lock_a);
	spin_unlock(&lock_a); /* not reached; and no tail call hides this function */
}

KTEST(selftest, deadlock)
{
	if (ncpu < 2)
		test_skip("a deadlock across CPUs needs two of them");
	if (!thread_create("take_b_then_a", take_b_then_a, NULL, 1))
		test_fail(__FILE__, __LINE__, "no thread");
	spin_lock(&lock_a);
	__atomic_add_fetch(&holding, 1, __ATOMIC_SEQ_CST);
	while (holding < 2)
		pause();
	spin_lock(&lock_b);
	spin_unlock(&lock_b);
}

/* A panic inside an interrupt handler: the backtrace must go on through the trapframe to
 * the code the interrupt stopped (keos/panic.c), as a watchdog report taken during a
 * timer tick or a preemption must. */
#define T_SELFTEST 0x40

static void panicking_handler(struct trapframe *tf)
{
	panic("selftest: vector %lu", tf->vector);
}

KTEST(selftest, panic_in_interrupt)
{
	irq_register(T_SELFTEST, panicking_handler);
	asm volatile("int %0" ::"i"(T_SELFTEST) : "memory");
	CHECK(false); /* not reached; and the interrupt does not stop at the function's end */
}

KTEST(selftest, not_impl)
{
	TODO();
}

KTEST(selftest, triple_fault)
{
	/* An empty IDT: the next exception cannot be delivered, and the CPU resets. */
	struct {
		uint16_t limit;
		uint64_t base;
	} __packed idtr = {0, 0};
	cli();
	asm volatile("lidt %0; int3" ::"m"(idtr));
}
