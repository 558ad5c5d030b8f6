# gpas at or above 2^48 wrap onto low addresses.
# expect: npt.errors
s/if (gpa >= NPT_GPA_LIMIT)/if (0)/
