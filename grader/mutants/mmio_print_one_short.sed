# The doorbell prints LEN - 1 bytes: mmio.h says exactly LEN.
# expect: mmio.print
s/vcpu_console_write(vcpu, t, pr->len);/vcpu_console_write(vcpu, t, pr->len - 1);/
