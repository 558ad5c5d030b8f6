# An eager loader: pager_load_phdr loads and maps every page at once, before
# the guest runs. (A page two segments share is mapped with the first one's
# bytes only, so the guest may break as well; pager.lazy says why.)
# expect: pager.lazy
# may-fail: pager.boot_keos pager.partial_and_bss pager.stress
# may-fail: pager.fault_errors
s/int err = pager_add_loader(p, page, ph->p_offset + (lo - start), lo - page, len);/&\n\t\tif (!err \&\& pager_handle_fault(p, vm, page) < 0)\n\t\t\terr = -1;/
