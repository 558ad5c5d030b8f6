# npt_map checks the alignment only after making the missing tables: a refused map
# has allocated pages.
# expect: npt.errors
/^int npt_map(/,/^}/{
/if (gpa % PAGE_SIZE != 0)/,/return -NPT_EALIGN;/d
s/return -NPT_ENOMEM;/&\n\tif (gpa % PAGE_SIZE != 0)\n\t\treturn -NPT_EALIGN;/
}
