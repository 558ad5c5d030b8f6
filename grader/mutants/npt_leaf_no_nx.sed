# The leaf never gets NX: every page is executable.
# expect: npt.complicate npt.upper_levels
s/flags |= NPTE_NX;/flags |= 0;/
