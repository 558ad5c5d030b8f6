# The handler takes npt_lock itself, though kev already holds it when it calls the
# handler: the CPU would spin on its own lock forever. spin_lock panics at once and
# names both places.
# verdict: PANIC
# detail: npt_lock acquired twice by cpu\d+: first at \w+ \(kev/\w+\.c:\d+\), again at pager_handle_fault \(project3/pager\.c:\d+\)
# expect: pager.boot_keos pager.lazy pager.partial_and_bss pager.stress
# may-fail: pager.fault_errors   (its first npt_lock is the test's own, not kev's)
/^int pager_handle_fault(/,/^}/{
s/^{$/{\n\tspin_lock(\&vm->npt_lock); \/* "the NPT is not locked" *\//
}
