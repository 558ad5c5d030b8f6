# npt_map accepts permission bits it does not know, as long as READ is there.
# expect: npt.errors
s/if (!(perm & NPT_PERM_READ) || (perm & ~NPT_PERM_ALL))/if (!(perm \& NPT_PERM_READ))/
