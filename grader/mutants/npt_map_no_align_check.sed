# npt_map maps an unaligned gpa (at the page that holds it) instead of refusing it.
# expect: npt.simple npt.errors
/^int npt_map(/,/^}/{
/if (gpa % PAGE_SIZE != 0)/,/return -NPT_EALIGN;/d
}
