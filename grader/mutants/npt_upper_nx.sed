# Upper-level entries copy the leaf's no-execute: a table entry with NX forbids
# execution in everything below it.
# expect: npt.upper_levels
s/\*e = V2P(page) | NPTE_UPPER;/*e = V2P(page) | NPTE_UPPER | NPTE_NX;/
