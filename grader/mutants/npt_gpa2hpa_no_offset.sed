# gpa2hpa drops the page offset.
# expect: npt.gpa2hpa_offset npt.gva2hpa_4k npt.check_huge_translation
s/\*hpa = npte_addr(\*e) | (gpa % PAGE_SIZE);/*hpa = npte_addr(*e);/
