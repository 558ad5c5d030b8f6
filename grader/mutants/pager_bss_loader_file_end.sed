# A page with no file bytes (.bss) gets a loader whose file_off is where the segment's
# file bytes end, neither 0 nor its segment's place (pager.h, struct page_loader). The
# bytes are still right.
# expect: pager.partial_and_bss
s/int err = pager_add_loader(p, page, ph->p_offset + (lo - start), lo - page, len);/int err = len ? pager_add_loader(p, page, ph->p_offset + (lo - start), lo - page, len)\n\t\t\t  : pager_add_loader(p, page, ph->p_offset + ph->p_filesz, 0, 0);/
