# npt_gva2hpa turns every error on the way into -NPT_ENOENT: a guest address past
# NPT_GPA_LIMIT must give -NPT_ERANGE.
# expect: npt.gva2hpa_4k
/^static int read_guest_entry(/,/^}/s/\t\treturn err;/\t\treturn -NPT_ENOENT;/
s/return npt_gpa2hpa(npt, gpa, hpa);/return npt_gpa2hpa(npt, gpa, hpa) ? -NPT_ENOENT : 0;/
