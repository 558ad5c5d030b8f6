# npt_walk finds nothing for a gpa that is not a page start: npt.h says the offset
# bits are ignored (npt_gpa2hpa, which uses it, then fails for any byte but the first).
# expect: npt.gpa2hpa_offset
/^npte_t \*npt_walk(/,/^}/s/if (gpa >= NPT_GPA_LIMIT)/if (gpa >= NPT_GPA_LIMIT || gpa % PAGE_SIZE)/
