# npt_unmap frees the page table the leaf was in (it may be empty now) but leaves
# the entry pointing to it: npt.h says table pages stay.
# expect: npt.complicate npt.errors
/^int npt_unmap(/,/^}/s/\t\*e = 0;/&\n\tpage_free(P2V(ALIGN_DOWN(V2P(e), PAGE_SIZE)));/
