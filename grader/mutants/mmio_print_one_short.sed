# The doorbell prints LEN - 1 bytes: mmio.h says exactly LEN.
# expect: mmio.print
s/vcpu_console_write(vcpu, text, n);/vcpu_console_write(vcpu, text, done + n == pr->len ? n - 1 : n);/
