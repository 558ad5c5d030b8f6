# pager_entry_point looks for the entry in the file part of each segment only
# (p_filesz, not p_memsz): an entry in a segment's bss part is not found.
# expect: pager.entry_point
s/elf->entry - ph->p_vaddr < ph->p_memsz/elf->entry - ph->p_vaddr < ph->p_filesz/
