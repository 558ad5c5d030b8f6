# npte_present looks at the whole entry, not at bit 0: an entry with flags but no P
# counts as present.
# expect: npt.simple
s/return (e & NPTE_P) != 0;/return e != 0;/
