# Upper-level entries without U/S: nested walks are user accesses, so the
# guest would fault forever.
# expect: npt.upper_levels
s/\*e = V2P(page) | NPTE_UPPER;/*e = V2P(page) | NPTE_P | NPTE_RW;/
