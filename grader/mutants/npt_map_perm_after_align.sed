# npt_map checks the permission after the address: a bad permission at a bad gpa
# gives the address's error, not -NPT_EPERM.
# expect: npt.errors
/^int npt_map(/,/^}/{
/if (!(perm & NPT_PERM_READ)/,/return -NPT_EPERM;/d
s/return -NPT_ERANGE;/&\n\tif (!(perm \& NPT_PERM_READ) || (perm \& ~NPT_PERM_ALL))\n\t\treturn -NPT_EPERM;/
}
