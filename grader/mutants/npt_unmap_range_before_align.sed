# npt_unmap checks the range before the alignment (npt.h: EALIGN, ERANGE, ENOENT).
# expect: npt.errors
/^int npt_unmap(/,/^}/{
/if (gpa % PAGE_SIZE != 0)/,/return -NPT_EALIGN;/d
s/return -NPT_ERANGE;/&\n\tif (gpa % PAGE_SIZE != 0)\n\t\treturn -NPT_EALIGN;/
}
