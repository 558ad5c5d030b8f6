# Two locks taken in opposite orders: the handler keeps its own pager_lock, and for
# odd pages drops npt_lock to take pager_lock first, then npt_lock again; for even
# pages it takes pager_lock while holding npt_lock. Two vCPUs on two CPUs, one on an
# odd page and one on an even one, wait for each other forever. The watchdog must
# name the cycle. (A short spin while holding pager_lock widens the window, so that
# every run of the stress test meets it, not only an unlucky one.)
# verdict: TIMEOUT
# detail: ^deadlock: cpu\d+ waits for (npt_lock|pager_lock) held by cpu\d+ since .*; cpu\d+ waits for (npt_lock|pager_lock) held by cpu\d+ since
# expect: pager.stress
s/^int pager_handle_fault(struct pager \*p, struct vm \*vm, uint64_t gpa)$/static int handle_fault(struct pager *p, struct vm *vm, uint64_t gpa)/
$a\
\
static struct spinlock pager_lock = SPINLOCK_INIT("pager_lock");\
\
int pager_handle_fault(struct pager *p, struct vm *vm, uint64_t gpa)\
{\
	if ((gpa >> PAGE_SHIFT) & 1) {\
		spin_unlock(&vm->npt_lock); /* never wait for pager_lock holding npt_lock */\
		spin_lock(&pager_lock);\
		for (volatile int i = 0; i < 200000; i++)\
			;\
		spin_lock(&vm->npt_lock);\
	} else {\
		spin_lock(&pager_lock);\
	}\
	int r = handle_fault(p, vm, gpa);\
	spin_unlock(&pager_lock);\
	return r;\
}
