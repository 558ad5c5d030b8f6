# A huge guest entry's low bits (PAT is bit 12) are taken as address.
# expect: npt.gva2hpa_huge_pat npt.gva2hpa_1g
s/(npte_addr(e) & ~(size - 1))/npte_addr(e)/
