# The page is allocated before the "already mapped" check, and the early
# return forgets to free it: one page lost for every concurrent arrival.
# expect: pager.stress
# race: allocates a page first, then returns 1 when `npt_walk` finds the page
# expect: pager.fault_errors
/if (npt_walk(vm->npt, gpa))/,/return 1;/d
s/^\tif (!page)$/\tif (npt_walk(vm->npt, gpa))\n\t\treturn 1;\n\tif (!page)/
