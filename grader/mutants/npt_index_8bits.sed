# The upper-level index is masked to 8 bits (0xFF, not 0x1FF): gpas whose index
# is 256 or more land in slot index - 256. issue 15's first bug.
# expect: npt.upper_levels
# message: npt.upper_levels: level 3 slot 511 (NPT_INDEX) is empty, but the table has entries in slots 254..255: check your level 3 index
s/npte_t \*e = &table\[NPT_INDEX(level, gpa)\];/npte_t *e = \&table[NPT_INDEX(level, gpa) \& 0xFF];/
