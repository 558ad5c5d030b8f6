# gva2hpa ignores PS in guest entries and walks into the huge page as if it
# were a table.
# expect: npt.check_huge_translation npt.gva2hpa_huge_pat npt.gva2hpa_1g
s/bool is_page = level == 0 || .*/bool is_page = level == 0;/
