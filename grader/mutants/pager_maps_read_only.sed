# The handler maps the page readable and executable but not writable: the guest's
# first store to its data is a rights violation.
# expect: pager.fault_errors pager.boot_keos
# may-fail: pager.lazy pager.partial_and_bss pager.stress
s/npt_map(vm->npt, gpa, page, NPT_PERM_ALL)/npt_map(vm->npt, gpa, page, NPT_PERM_READ | NPT_PERM_EXEC)/
