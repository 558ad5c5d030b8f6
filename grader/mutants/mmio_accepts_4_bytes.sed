# Only 1- and 2-byte accesses are ignored: a 4-byte store reaches the register.
# expect: mmio.invalid_size
s/if (size != 8 || off % 8)/if (size < 4 || off % 8)/
