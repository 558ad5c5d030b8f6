# npt_gpa2hpa sets *hpa to 0 when it fails: *hpa must stay untouched.
# expect: npt.errors
/^int npt_gpa2hpa(/,/^}/s/return -NPT_ENOENT;/{ *hpa = 0; return -NPT_ENOENT; }/
