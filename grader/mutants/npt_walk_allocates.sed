# npt_walk creates the tables it does not find: looking allocates.
# expect: npt.errors
/^npte_t \*npt_walk(/,/^}/s/walk(npt, gpa, false)/walk(npt, gpa, true)/
