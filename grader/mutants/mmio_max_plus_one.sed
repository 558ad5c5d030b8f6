# The length limit is off by one: MMIO_PRINT_MAX + 1 bytes are accepted.
# expect: mmio.outside_buffer
s/pr->len > MMIO_PRINT_MAX/pr->len > MMIO_PRINT_MAX + 1/
