# npt_map checks the range before the alignment: a gpa both unaligned and out of
# range gives -NPT_ERANGE, not -NPT_EALIGN.
# expect: npt.errors
/^int npt_map(/,/^}/{
/if (gpa % PAGE_SIZE != 0)/,/return -NPT_EALIGN;/d
s/return -NPT_ERANGE;/&\n\tif (gpa % PAGE_SIZE != 0)\n\t\treturn -NPT_EALIGN;/
}
