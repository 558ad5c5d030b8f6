# The loaders ignore p_offset: every segment is read from the start of the
# file (the ELF header and program headers land in guest memory).
# expect: pager.partial_and_bss pager.boot_keos
# may-fail: pager.lazy pager.stress
s/ph->p_offset + (lo - start)/(lo - start)/
