# pager_entry_point returns e_entry as it is: a virtual address (the top 2 GiB) where
# the vCPU, with paging off, needs a physical one. No guest gets to run.
# expect: pager.entry_point
# may-fail: pager.boot_keos pager.lazy pager.partial_and_bss pager.stress
s/\*entry_pa = ph->p_paddr + (elf->entry - ph->p_vaddr);/*entry_pa = elf->entry;/
