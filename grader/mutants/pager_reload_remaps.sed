# The handler does not treat "already mapped" as done: it takes the page away from
# the vCPU that mapped it (unmapped, not freed: that vCPU may still write to it) and
# loads and maps a fresh copy. That vCPU's writes are lost.
# race: loads the page again and remaps it
# expect: pager.stress pager.fault_errors
s/^\tif (npt_walk(vm->npt, gpa))$/\tvoid *old;\n\tif (npt_walk(vm->npt, gpa) \&\& npt_unmap(vm->npt, gpa, \&old) != 0)/
