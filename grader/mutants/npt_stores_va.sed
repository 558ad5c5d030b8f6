# The leaf holds the kernel virtual address instead of the physical one.
# expect: npt.simple npt.complicate npt.gpa2hpa_offset
s/\*e = V2P(page) | leaf_flags(perm);/*e = (uint64_t)page | leaf_flags(perm);/
