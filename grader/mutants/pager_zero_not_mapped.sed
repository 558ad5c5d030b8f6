# The handler returns 1 ("mapped") for a page without loaders without mapping it:
# kev's own write of the guest's boot information finds the page still unmapped and
# must name the handler.
# detail: pager_handle_fault returned 1 for guest-physical 0x9000 but did not map it
# expect: pager.boot_keos pager.lazy pager.partial_and_bss pager.stress
# may-fail: pager.fault_errors
s/\tbool from_image = l != NULL;/&\n\tif (!from_image) {\n\t\tpage_free(page);\n\t\treturn 1;\n\t}/
