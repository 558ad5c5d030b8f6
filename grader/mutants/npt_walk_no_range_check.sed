# npt_walk forgets the range check: a gpa at or above 2^48 reaches the mapping of its
# low 48 bits (npt_map and the others still check).
# expect: npt.errors
/^npte_t \*npt_walk(/,/^}/s/if (gpa >= NPT_GPA_LIMIT)/if (0)/
