# The loop over a page's loaders restarts from the first one instead of moving on:
# the fault handler reads the same bytes forever, with npt_lock held and interrupts
# off. The watchdog must stop it and name the handler.
# verdict: TIMEOUT
# detail: ^stuck in pager_handle_fault \(project3/pager\.c:\d+\)
# expect: pager.boot_keos pager.lazy pager.partial_and_bss pager.stress
# may-fail: pager.fault_errors
s/for (; l && !err; l = pager_find_next(l))/for (; l \&\& !err; l = pager_find(p, gpa))/
