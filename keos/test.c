/*
 * test.c: the in-kernel test runner (see test.h for the serial protocol).
 */
#include "test.h"
#include "mm.h"
#include "thread.h"
#include "watchdog.h"
#include "x86.h"

extern const struct ktest ktests_start[], ktests_end[];

static const struct ktest *running;
static volatile bool running_failed, running_skipped;

void test_metric(const char *key, uint64_t value)
{
	printk("METRIC %s %s=%lu\n", running ? running->name : "-", key, value);
}

__noreturn void test_fail(const char *file, int line, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	running_failed = true;
	printk("TEST-FAIL %s %s:%d: %s\n", running ? running->name : "-", file, line, msg);
	thread_exit(1);
}

__noreturn void test_skip(const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	running_skipped = true;
	printk("TEST-SKIP %s %s\n", running ? running->name : "-", msg);
	thread_exit(0);
}

/* Does `name` match one comma-separated pattern? A trailing '*' matches any suffix. */
static bool matches_one(const char *name, const char *pat, size_t len)
{
	if (len > 0 && pat[len - 1] == '*')
		return strncmp(name, pat, len - 1) == 0;
	return strlen(name) == len && strncmp(name, pat, len) == 0;
}

static bool selected(const char *name, const char *selection)
{
	if (!selection || !*selection) /* default: everything but the harness's own broken tests */
		return strncmp(name, "selftest.", 9) != 0;
	for (const char *p = selection; *p;) {
		const char *end = p;
		while (*end && *end != ',')
			end++;
		if (matches_one(name, p, end - p))
			return true;
		p = *end ? end + 1 : end;
	}
	return false;
}

static void test_thread(void *arg)
{
	const struct ktest *t = arg;
	t->fn();
}

void run_tests(const char *selection)
{
	int passed = 0, failed = 0, skipped = 0;
	for (const struct ktest *t = ktests_start; t < ktests_end; t++) {
		if (!selected(t->name, selection))
			continue;
		running = t;
		running_failed = running_skipped = false;
		printk("TEST-START %s\n", t->name);
		watchdog_arm(t->name);
		uint64_t start = uptime_us();
		struct thread *th = thread_create(t->name, test_thread, (void *)t, 0);
		if (!th)
			panic("run_tests: cannot create a thread for %s", t->name);
		thread_join(th);
		watchdog_disarm();
		uint64_t ms = (uptime_us() - start) / 1000;
		if (running_failed) {
			failed++;
		} else if (running_skipped) {
			skipped++;
		} else {
			passed++;
			printk("TEST-PASS %s ms=%lu\n", t->name, ms);
		}
		running = NULL;
	}
	printk("TESTS-DONE passed=%d failed=%d skipped=%d\n", passed, failed, skipped);
	if (passed + failed + skipped == 0) {
		printk("ERROR no test matches \"%s\"\n", selection ? selection : "");
		qemu_exit(QEMU_EXIT_FAIL);
	}
	qemu_exit(failed ? QEMU_EXIT_FAIL : QEMU_EXIT_PASS);
}
