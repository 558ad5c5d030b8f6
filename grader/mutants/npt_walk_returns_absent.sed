# npt_walk returns a leaf that is not present.
# expect: npt.complicate npt.errors
s/if (e == NULL || !npte_present(\*e))/if (e == NULL)/
