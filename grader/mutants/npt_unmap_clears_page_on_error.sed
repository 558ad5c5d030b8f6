# npt_unmap sets *page to NULL when nothing is mapped: *page must stay untouched.
# expect: npt.simple npt.errors
/^int npt_unmap(/,/^}/s/return -NPT_ENOENT;/{ *page = NULL; return -NPT_ENOENT; }/
