# On -NPT_ENOMEM the caller's page is freed.
# expect: npt.map_enomem
s/return -NPT_ENOMEM;/{ page_free(page); return -NPT_ENOMEM; }/
