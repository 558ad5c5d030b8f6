# When page_alloc fails the handler returns -1 (which reads as -NPT_EALIGN), not
# -NPT_ENOMEM.
# expect: pager.fault_errors
/^int pager_handle_fault(/,/^}/s/return -NPT_ENOMEM;/return -1;/
