# npt_gpa2hpa forgets its range check: a gpa at or above 2^48 gives -NPT_ENOENT
# (npt_walk's NULL), not -NPT_ERANGE.
# expect: npt.errors
/^int npt_gpa2hpa(/,/^}/s/if (gpa >= NPT_GPA_LIMIT)/if (0)/
