# A loader that fails makes the handler return -1 (which reads as -NPT_EALIGN), not
# the loader's -NPT_EIO.
# expect: pager.fault_errors
s/err = pager_run_loader(p, l, page);/err = pager_run_loader(p, l, page) ? -1 : 0;/
