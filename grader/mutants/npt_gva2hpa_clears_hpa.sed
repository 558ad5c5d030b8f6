# npt_gva2hpa sets *hpa to 0 before it walks: a walk that fails changes it.
# expect: npt.gva2hpa_4k
s/\tuint64_t table = npte_addr(guest_cr3);/&\n\t*hpa = 0;/
