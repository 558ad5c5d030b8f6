/*
 * Host test runner: runs KTEST()s written for the kernel as a Linux program.
 *
 *   npt_host --list            print every test name
 *   npt_host [selection]       run tests; selection as in the kernel:
 *                              comma-separated names, a trailing '*' matches
 *                              a prefix; no selection means all.
 *
 * It speaks the kernel runner's dialect (keos/test.c, keos/panic.c), on
 * stdout, so harness/log.py reads both (parse_host_output):
 *
 *   TEST-START <name>
 *   TEST-PASS <name> ms=<n>
 *   TEST-FAIL <name> <file>:<line>: <what failed>      (CHECK failed)
 *   METRIC <name> <key>=<value>
 *   TESTS-DONE passed=<n> failed=<n> skipped=0
 *   EXIT <code>
 *   PANIC: <message> (host, thread <name>)             (panic, ASSERT, crash)
 *   NOT-IMPLEMENTED <func> (<file>:<line>)             (a TODO() reached)
 *
 * and exits with the status QEMU would: (code << 1) | 1 for the kernel's
 * QEMU_EXIT_* code (keos/exit_status.h), so 33 when every test passed. As in
 * the kernel, a panic, a crash or a TODO() ends the whole run at once, with
 * no TESTS-DONE. Each test runs in its own child process, so a crash or
 * sanitizer report is caught and reported as a panic of that test.
 *
 * Tests are found through the .ktests section, exactly as in the kernel;
 * ktests.ld gives its bounds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "exit_status.h"
#include "mm.h"
#include "printk.h"
#include "test.h"

/* How a test's child process ends; anything else is a crash. */
enum child_status {
	CHILD_PASS = 0,
	CHILD_CHECK_FAIL = 2,
	CHILD_NOT_IMPL = 3,
	CHILD_PANIC = 4,
};

/* The exit status QEMU's isa-debug-exit makes of a write of `code`. */
#define QEMU_STATUS(code) ((((int)(code)) << 1) | 1)

extern const struct ktest __ktests_start[], __ktests_end[];

static const char *current_test = "(none)";
static size_t pages_out;	/* pages handed out by page_alloc and not freed */
static unsigned fail_countdown; /* mm_fail_nth_alloc: allocations left until the failing one */

/* ---- mm.h ---- */

void mm_fail_nth_alloc(unsigned n)
{
	fail_countdown = n;
}

void *page_alloc(void)
{
	if (fail_countdown > 0 && --fail_countdown == 0)
		return NULL;
	if (pages_out >= HOST_PAGE_POOL)
		return NULL;
	void *page = aligned_alloc(PAGE_SIZE, PAGE_SIZE);
	if (page == NULL) {
		fprintf(stderr, "host: the real heap is out of memory\n");
		abort();
	}
	memset(page, 0, PAGE_SIZE);
	pages_out++;
	return page;
}

void page_free(void *page)
{
	if (page == NULL || (uint64_t)page % PAGE_SIZE != 0)
		panic("page_free: %p is not a page", page);
	if (pages_out == 0)
		panic("page_free: more pages freed than allocated");
	pages_out--;
	free(page); /* AddressSanitizer reports double and foreign frees */
}

size_t pages_free_count(void)
{
	return HOST_PAGE_POOL - pages_out;
}

void *kmalloc(size_t size)
{
	return malloc(size);
}

void *kzalloc(size_t size)
{
	return calloc(1, size);
}

void kfree(void *p)
{
	free(p);
}

/* ---- printk.h ---- */

int vprintk(const char *fmt, va_list ap)
{
	return vprintf(fmt, ap);
}

int printk(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vprintk(fmt, ap);
	va_end(ap);
	return n;
}

/*
 * The verdicts below leave with _exit(): a test that stops half-way still
 * holds pages, and LeakSanitizer's exit-time report would replace our status.
 * A test that passes leaves with exit(), so LeakSanitizer does check it.
 */
__noreturn static void child_exit(enum child_status status)
{
	fflush(stdout);
	_exit(status);
}

__noreturn void panic(const char *fmt, ...)
{
	va_list ap;
	printf("\nPANIC: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf(" (host, thread %s)\n", current_test);
	child_exit(CHILD_PANIC);
}

__noreturn void not_implemented(const char *func, const char *file, int line)
{
	printf("\nNOT-IMPLEMENTED %s (%s:%d)\n", func, file, line);
	printf("not implemented: %s (%s:%d)\n", func, file, line);
	child_exit(CHILD_NOT_IMPL);
}

/* ---- test.h ---- */

__noreturn void test_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	printf("TEST-FAIL %s %s:%d: ", current_test, file, line);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	child_exit(CHILD_CHECK_FAIL);
}

void test_metric(const char *key, uint64_t value)
{
	printf("METRIC %s %s=%lu\n", current_test, key, value);
}

/* Does name match the selection (comma-separated names, '*' suffix = prefix)? */
static bool selected(const char *name, const char *selection)
{
	const char *item = selection;

	for (;;) {
		const char *comma = strchr(item, ',');
		size_t len = comma ? (size_t)(comma - item) : strlen(item);
		if (len > 0 && item[len - 1] == '*') {
			if (strncmp(name, item, len - 1) == 0)
				return true;
		} else if (len > 0 && strlen(name) == len && strncmp(name, item, len) == 0) {
			return true;
		}
		if (comma == NULL)
			return false;
		item = comma + 1;
	}
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Ends the run as the kernel's runner does: the exit code on the last line. */
__noreturn static void runner_exit(unsigned code)
{
	printf("EXIT %d\n", code);
	exit(QEMU_STATUS(code));
}

/* Ends the run as a panic or a TODO() in the kernel does: no EXIT line. */
__noreturn static void run_stopped(unsigned code)
{
	fflush(stdout);
	exit(QEMU_STATUS(code));
}

/* Run one test in a child and print its verdict. Returns CHILD_PASS or
 * CHILD_CHECK_FAIL: any other end (panic, TODO(), crash) ends the run. */
static enum child_status run_one(const struct ktest *t)
{
	printf("TEST-START %s\n", t->name);
	fflush(stdout);
	uint64_t start = now_ms();
	pid_t pid = fork();
	if (pid < 0) {
		perror("fork");
		exit(1);
	}
	if (pid == 0) {
		current_test = t->name;
		t->fn();
		fflush(stdout);
		exit(CHILD_PASS);
	}
	int status;
	if (waitpid(pid, &status, 0) < 0) {
		perror("waitpid");
		exit(1);
	}
	if (WIFEXITED(status)) {
		int code = WEXITSTATUS(status);
		switch (code) {
		case CHILD_PASS:
			printf("TEST-PASS %s ms=%lu\n", t->name, now_ms() - start);
			return CHILD_PASS;
		case CHILD_CHECK_FAIL:
			return CHILD_CHECK_FAIL; /* the child printed its verdict */
		case CHILD_PANIC:
			run_stopped(QEMU_EXIT_PANIC);
		case CHILD_NOT_IMPL:
			run_stopped(QEMU_EXIT_NOT_IMPL);
		default:
			printf("\nPANIC: crashed with exit status %d, a sanitizer report is on "
			       "stderr (host, thread %s)\n",
			       code, t->name);
			run_stopped(QEMU_EXIT_PANIC);
		}
	}
	printf("\nPANIC: killed by signal %d (host, thread %s)\n", WTERMSIG(status), t->name);
	run_stopped(QEMU_EXIT_PANIC);
}

void run_tests(const char *selection)
{
	int passed = 0, failed = 0;

	for (const struct ktest *t = __ktests_start; t < __ktests_end; t++) {
		if (!selected(t->name, selection))
			continue;
		if (run_one(t) == CHILD_PASS)
			passed++;
		else
			failed++;
	}
	printf("TESTS-DONE passed=%d failed=%d skipped=0\n", passed, failed);
	if (passed + failed == 0) {
		printf("ERROR no test matches \"%s\"\n", selection);
		runner_exit(QEMU_EXIT_FAIL);
	}
	runner_exit(failed ? QEMU_EXIT_FAIL : QEMU_EXIT_PASS);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 1 && strcmp(argv[1], "--list") == 0) {
		for (const struct ktest *t = __ktests_start; t < __ktests_end; t++)
			printf("%s\n", t->name);
		return 0;
	}
	run_tests(argc > 1 ? argv[1] : "*");
	return 0;
}
