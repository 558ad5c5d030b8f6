# Every leaf is writable, whatever the permission says.
# expect: npt.complicate npt.upper_levels
s/npte_t flags = NPTE_P | NPTE_US;/npte_t flags = NPTE_P | NPTE_US | NPTE_RW;/
