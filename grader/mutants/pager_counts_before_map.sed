# The handler counts a zero page before npt_map, so a fault that fails still counts.
# expect: pager.fault_errors
s/\tbool from_image = l != NULL;/&\n\tif (!from_image)\n\t\tp->stats.zero_pages++;/
/^\telse$/,/zero_pages++;/d
