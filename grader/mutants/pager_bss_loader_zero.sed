# A page with no file bytes (.bss) gets a loader with file_off 0 and page_off 0,
# not its segment's place (pager.h, struct page_loader). The bytes are still right.
# expect: pager.partial_and_bss
s/int err = pager_add_loader(p, page, ph->p_offset + (lo - start), lo - page, len);/int err = len ? pager_add_loader(p, page, ph->p_offset + (lo - start), lo - page, len)\n\t\t\t  : pager_add_loader(p, page, 0, 0, 0);/
