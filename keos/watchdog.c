/*
 * watchdog.c: a time budget per test, enforced by the kernel itself.
 *
 * The harness hands the budget in through fw_cfg ("opt/keos/watchdog_ms" holds
 * "<budget> <stall limit>" in ms; no file, no watchdog) and the runner arms it
 * at each TEST-START. Every CPU's timer tick, and every CPU spinning on a lock,
 * compares the clock with the deadline. The watchdog also fires early when a
 * CPU stalls: when it has run with interrupts off (its timer silent) or spun on
 * one spinlock for the stall limit. Spinlocks are held with interrupts off,
 * for microseconds when all is well, so either means a hang; a CPU that fires
 * for a lock wait prints a LOCK-WAIT report first. The CPU that fires stops
 * the others with an NMI, which gets through even to a CPU spinning with
 * interrupts off, and each CPU in turn prints where it was:
 *
 *   WATCHDOG npt.simple: no verdict within its budget, 2001 ms into the test; stopping ...
 *   WATCHDOG-CPU 1 thread npt.simple
 *     waits for npt_lock held by cpu2 since 0x... <handle_npf+0x5c>   (spinning on a lock)
 *     in guest: vm pager vcpu1 at guest rip 0x100234 (...)          (running a guest)
 *   BACKTRACE:
 *     #0 0xffffffff80105a12 npt_walk+0x12
 *   ...
 *   TEST-TIMEOUT npt.simple budget_ms=2000 stall_ms=2000
 *
 * and QEMU exits with the TIMEOUT status. The grader turns the addresses into
 * file:line with addr2line on the kernel ELF (grader/harness/where.py).
 */
#include "watchdog.h"
#include "cpu.h"
#include "fw_cfg.h"
#include "lapic.h"
#include "printk.h"
#include "smp.h"
#include "spinlock.h"
#include "trap.h"
#include "x86.h"

/* Prints what a CPU runs in a guest (kev's vcpu_describe), or NULL. */
static void (*describe_guest)(const struct vcpu *vcpu);

void watchdog_set_guest_describer(void (*describe)(const struct vcpu *vcpu))
{
	describe_guest = describe;
}

#define NMI_ANSWER_US 2000000 /* how long to wait for a CPU's report before moving on */

/*
 * Waiting without pause(): under QEMU's TCG each pause leaves the translated code
 * and takes QEMU's global lock, and CPUs doing that in a loop can starve the one
 * CPU that is printing (every byte to the serial port needs that lock too).
 */
static inline void wait_a_little(void)
{
	asm volatile("" ::: "memory");
}

extern volatile bool panicking;

static uint64_t budget_ms; /* 0: no watchdog */
static uint64_t stall_ms;  /* interrupts off or a lock wait this long: fire */
static const char *volatile test_name;
static volatile uint64_t deadline_us; /* 0: not armed */
static volatile int firing_cpu = -1;
static volatile int report_turn = -1;
static volatile bool reported[MAX_CPUS];

/* The next decimal number at *p (skipping spaces); panics on anything else. */
static uint64_t parse_ms(const char **p, const char *all)
{
	while (**p == ' ')
		(*p)++;
	uint64_t ms = 0;
	int digits = 0;
	for (; **p >= '0' && **p <= '9' && digits < 12; (*p)++, digits++)
		ms = ms * 10 + (**p - '0');
	if (digits == 0 || (**p != ' ' && **p != '\0'))
		panic("watchdog: opt/keos/watchdog_ms is \"%s\", not \"<budget> [<stall>]\" "
		      "in ms",
		      all);
	return ms;
}

void watchdog_init(void)
{
	char buf[32];
	int len = fw_cfg_read_file("opt/keos/watchdog_ms", buf, sizeof(buf));
	if (len < 0)
		return;
	if (len >= (int)sizeof(buf))
		panic("watchdog: opt/keos/watchdog_ms is %d bytes long", len);
	const char *p = buf;
	budget_ms = parse_ms(&p, buf);
	stall_ms = *p ? parse_ms(&p, buf) : budget_ms;
	printk("watchdog: %lu ms per test, %lu ms per stall\n", budget_ms, stall_ms);
}

void watchdog_arm(const char *test)
{
	if (budget_ms == 0)
		return;
	test_name = test;
	deadline_us = uptime_us() + budget_ms * 1000;
}

void watchdog_disarm(void)
{
	deadline_us = 0;
}

static bool expired(void)
{
	uint64_t d = deadline_us;
	return d && uptime_us() >= d;
}

/* "<prefix>cpu1 waits for npt_lock held by cpu3 since 0x... <fn+0x..>" */
static void print_wait(const char *prefix, int id, const struct spinlock *l)
{
	uint64_t off = 0;
	uint64_t at = l->taken_at;
	const char *fn = symbol_lookup(at, &off);
	printk("%scpu%d waits for %s held by cpu%d since 0x%lx <%s+0x%lx>\n", prefix, id, l->name,
	       l->cpu, at, fn ? fn : "??", off);
}

/* One CPU's part of the report: its thread, the lock it waits for, its guest, its stack. */
static void report(int id, uint64_t rip, uint64_t rsp, uint64_t rbp)
{
	struct cpu *c = &cpus[id];
	printk("WATCHDOG-CPU %d thread %s\n", id, c->current ? thread_name(c->current) : "boot");
	if (c->waiting_for)
		print_wait("  ", id, c->waiting_for);
	if (c->vcpu && describe_guest)
		describe_guest(c->vcpu);
	backtrace_interrupted(rip, rsp, rbp);
}

/*
 * Stop every CPU, have each report in CPU order, end the run as TIMEOUT. If
 * another CPU fired first, return: its NMI is on the way, and this CPU's
 * report should show the code it interrupts, not this function.
 *
 * Only the CPU that fires prints its LOCK-WAIT line (`waits`: the lock it gave
 * up on), and only after it has won: two CPUs of a deadlock reach the stall
 * limit together, and a LOCK-WAIT line still being printed when the NMI stops
 * its CPU would be cut in two and run into that CPU's report.
 */
static void fire(const char *why, uint64_t rip, uint64_t rsp, uint64_t rbp,
		 const struct spinlock *waits)
{
	int me = mycpu()->id, nobody = -1;
	if (!__atomic_compare_exchange_n(&firing_cpu, &nobody, me, false, __ATOMIC_SEQ_CST,
					 __ATOMIC_SEQ_CST))
		return;
	panicking = true; /* a stopped CPU may hold the console lock */
	if (waits)
		print_wait("LOCK-WAIT ", me, waits);
	uint64_t ms = (uptime_us() + budget_ms * 1000 - deadline_us) / 1000;
	printk("\nWATCHDOG %s: %s, %lu ms into the test; stopping every CPU\n", test_name, why, ms);
	lapic_send_nmi_others();
	for (int id = 0; id < ncpu; id++) {
		if (id == me) {
			report(id, rip, rsp, rbp);
			continue;
		}
		report_turn = id;
		uint64_t give_up = uptime_us() + NMI_ANSWER_US;
		while (!reported[id] && uptime_us() < give_up)
			wait_a_little();
		if (!reported[id])
			printk("WATCHDOG-CPU %d did not answer the NMI\n", id);
	}
	printk("TEST-TIMEOUT %s budget_ms=%lu stall_ms=%lu\n", test_name, budget_ms, stall_ms);
	qemu_exit(QEMU_EXIT_TIMEOUT);
}

/*
 * A CPU whose timer has been silent for the stall limit runs with interrupts off.
 * Not one spinning on a lock: it watches its own wait (watchdog_lock_wait), and
 * reports it, which says more than "interrupts off".
 */
static int silent_cpu(uint64_t now)
{
	for (int id = 0; id < ncpu; id++)
		if (!cpus[id].waiting_for && now - cpus[id].tick_us >= stall_ms * 1000 &&
		    now > cpus[id].tick_us)
			return id;
	return -1;
}

void watchdog_tick(struct trapframe *tf)
{
	/* A tick that interrupts another interrupt handler (this one, on a slow host) must
	 * not fire: the report must show the code the outermost handler interrupted
	 * (trap.c keeps that frame in irq_tf). That handler, or the next tick, checks. */
	if (mycpu()->irq_tf != tf)
		return;
	uint64_t now = uptime_us();
	mycpu()->tick_us = now;
	/* Read the deadline once: the test may end (deadline 0) between two reads. */
	uint64_t deadline = deadline_us;
	if (deadline != 0 && now >= deadline)
		fire("no verdict within its budget", tf->rip, tf->rsp, tf->rbp, NULL);
	else if (deadline != 0 && silent_cpu(now) >= 0)
		fire("a CPU ran with interrupts off for too long", tf->rip, tf->rsp, tf->rbp, NULL);
}

void watchdog_lock_wait(const struct spinlock *l, uint64_t since_us)
{
	bool too_long = deadline_us && uptime_us() - since_us >= stall_ms * 1000;
	if (too_long || expired())
		fire(too_long ? "a CPU waited too long for a spinlock"
			      : "no verdict within its budget",
		     (uint64_t)__builtin_return_address(0) - 1, 0,
		     *(uint64_t *)__builtin_frame_address(0), too_long ? l : NULL);
}

bool watchdog_nmi(struct trapframe *tf)
{
	if (firing_cpu < 0)
		return false;
	int me = mycpu()->id;
	while (report_turn != me)
		wait_a_little();
	/* Stopped inside an interrupt handler (its own timer tick, say, that lost the race
	 * to fire): show what the handler interrupted, not the handler. */
	if (mycpu()->irq_tf)
		tf = mycpu()->irq_tf;
	report(me, tf->rip, tf->rsp, tf->rbp);
	reported[me] = true;
	for (;;) /* NMIs stay blocked (no iret), so nothing wakes this CPU again */
		hlt();
}
