# A buffer inside guest RAM that cannot be read is refused as if it were the guest's
# fault, and the guest goes on: mmio.h says the VM ends with an error.
# expect: mmio.unreadable_buffer
s/return -1; \/\* inside RAM.*/return pr->refused++, 0;/
