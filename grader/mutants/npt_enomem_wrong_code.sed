# npt_map reports a table it could not allocate as -NPT_EEXIST, not -NPT_ENOMEM.
# expect: npt.map_enomem
/^int npt_map(/,/^}/s/return -NPT_ENOMEM;/return -NPT_EEXIST;/
