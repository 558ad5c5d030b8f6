# npt_gva2hpa checks rights: a guest entry with NX counts as not present. npt.h: a
# translation, not an access.
# expect: npt.gva2hpa_4k
s/if (!npte_present(e))$/if (!npte_present(e) || (e \& NPTE_NX))/
