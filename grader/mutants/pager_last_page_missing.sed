# The loop stops one page early: a segment's last page has no loader, so it is
# handed out as a zero page and the segment's last bytes never arrive.
# expect: pager.partial_and_bss
# may-fail: pager.boot_keos pager.lazy pager.stress
s/page < end; page += PAGE_SIZE/page + PAGE_SIZE < end; page += PAGE_SIZE/
