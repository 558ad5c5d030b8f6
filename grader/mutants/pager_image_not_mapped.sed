# The handler returns 1 ("mapped") for a page with loaders without loading or mapping
# it: the guest faults on the same page again and again. kev must stop the vCPU and
# say so, naming the handler.
# detail: faulted 1000 times in a row; pager_handle_fault returned 1 but never mapped it
# expect: pager.boot_keos pager.lazy pager.stress
# may-fail: pager.partial_and_bss   (fails on a host-side read, whose check does not say why)
# may-fail: pager.fault_errors
s/\tbool from_image = l != NULL;/&\n\tif (from_image) {\n\t\tpage_free(page);\n\t\treturn 1;\n\t}/
