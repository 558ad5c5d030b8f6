# npte_addr keeps NX (bit 63) and the other high bits in the address.
# expect: npt.complicate npt.gva2hpa_4k
s/return e & NPTE_ADDR_MASK;/return e \& ~0xFFFUL;/
