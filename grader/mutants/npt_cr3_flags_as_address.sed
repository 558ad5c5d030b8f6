# gva2hpa takes guest CR3 as it is, flag bits (PWT, PCD) included.
# expect: npt.gva2hpa_4k
s/uint64_t table = npte_addr(guest_cr3);/uint64_t table = guest_cr3;/
