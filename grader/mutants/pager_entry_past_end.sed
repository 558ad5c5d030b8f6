# pager_entry_point accepts an entry one past the end of a segment.
# expect: pager.entry_point
s/elf->entry - ph->p_vaddr < ph->p_memsz/elf->entry - ph->p_vaddr <= ph->p_memsz/
