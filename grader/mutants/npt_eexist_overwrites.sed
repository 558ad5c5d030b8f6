# No -NPT_EEXIST: a second map replaces the first and leaks its page.
# expect: npt.simple npt.complicate npt.errors
/if (npte_present(\*e))$/,/return -NPT_EEXIST;/d
