# On -NPT_EEXIST the caller's page is freed although it still belongs to the caller.
# expect: npt.simple npt.complicate npt.errors npt.check_huge_translation
s/return -NPT_EEXIST;/{ page_free(page); return -NPT_EEXIST; }/
