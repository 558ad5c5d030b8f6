# The leaf lacks U/S: the nested walk (a user access) faults on every page.
# expect: npt.complicate npt.upper_levels
s/npte_t flags = NPTE_P | NPTE_US;/npte_t flags = NPTE_P;/
