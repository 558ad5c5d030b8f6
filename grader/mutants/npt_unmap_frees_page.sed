# npt_unmap frees the page it hands back: the caller's page is gone.
# expect: npt.simple npt.complicate npt.errors
/^int npt_unmap(/,/^}/s/\*e = 0;/&\n\tpage_free(*page);/
