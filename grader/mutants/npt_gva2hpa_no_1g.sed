# npt_gva2hpa honours PS at level 1 (2 MiB) only, not at level 2 (1 GiB).
# expect: npt.gva2hpa_1g
s/((level == 1 || level == 2) && (e & NPTE_PS))/(level == 1 \&\& (e \& NPTE_PS))/
