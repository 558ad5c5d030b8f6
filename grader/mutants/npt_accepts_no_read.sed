# A permission without READ is accepted (the NPT cannot express it).
# expect: npt.errors
s/if (!(perm & NPT_PERM_READ) || (perm & ~NPT_PERM_ALL))/if (perm \& ~NPT_PERM_ALL)/
