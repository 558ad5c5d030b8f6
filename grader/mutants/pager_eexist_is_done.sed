# No check before the work: the handler allocates a page, runs the loaders, and when
# npt_map says -NPT_EEXIST returns 1, keeping the page. The page was loaded twice.
# race: allocates a page and runs the loaders, then returns 1 when `npt_map` says -NPT_EEXIST
# expect: pager.stress pager.fault_errors
/if (npt_walk(vm->npt, gpa))/,/return 1;/d
s/^\tif (err) {$/\tif (err == -NPT_EEXIST)\n\t\treturn 1;\n\tif (err) {/
