# npt_unmap hands the page back but leaves the leaf in place: the guest still
# reaches a page the caller owns again.
# expect: npt.complicate npt.errors
/^int npt_unmap(/,/^}/s/\t\*e = 0;//
