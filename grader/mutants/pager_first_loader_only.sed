# The handler runs only the first loader of a page: in a page shared by two segments
# the second one's bytes never arrive.
# expect: pager.partial_and_bss
# may-fail: pager.boot_keos pager.lazy pager.stress
s/for (; l && !err; l = pager_find_next(l))/for (; l \&\& !err; l = NULL)/
