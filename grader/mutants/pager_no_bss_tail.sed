# The loaders take p_memsz for p_filesz: the bss tail of a segment gets
# whatever follows it in the file instead of zeros.
# expect: pager.partial_and_bss pager.boot_keos
# may-fail: pager.lazy pager.stress
s/uint64_t file_end = ph->p_paddr + ph->p_filesz;/uint64_t file_end = ph->p_paddr + ph->p_memsz;/
