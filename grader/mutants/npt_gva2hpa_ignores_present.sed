# npt_gva2hpa does not look at P in the guest's entries: a missing entry (0) leads to
# guest-physical page 0, which gva2hpa_4k maps on purpose.
# expect: npt.gva2hpa_4k
/^int npt_gva2hpa(/,/^}/{
/if (!npte_present(e))$/,/return -NPT_ENOENT;/d
}
