# The fault handler forgets that another vCPU may have mapped the page while
# this one waited for the lock: npt_map then says -NPT_EEXIST and the VM ends
# with an error, but only when two vCPUs fault on one page at once.
# expect: pager.stress
# race: treats -NPT_EEXIST from `npt_map` as an error
# expect: pager.fault_errors
/if (npt_walk(vm->npt, gpa))/,/return 1;/d
