# The register is found from the offset rounded down to 8 bytes: an 8-byte access at
# offset 0x04 reaches BUF instead of being ignored.
# expect: mmio.invalid_size
s/uint64_t off = gpa - MMIO_PRINTER_BASE;/uint64_t off = (gpa - MMIO_PRINTER_BASE) \& ~7UL;/
